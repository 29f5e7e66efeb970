"""Ray Job entrypoints: `python -m jobs.train`, `jobs.batch_predict`, `jobs.benchmark`."""
