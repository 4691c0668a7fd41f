"""Spark MLlib baselines (LogisticRegression, GBTClassifier) on the ensemble's features."""
