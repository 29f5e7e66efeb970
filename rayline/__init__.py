"""Rayline: train and serve scikit-learn models on Ray with MLflow."""
