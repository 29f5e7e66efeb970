"""Model monitoring: training reference profiles, live profiles, drift, feedback and quality."""
