"""Churn-prediction API: synthetic data, a scikit-learn model and a Flask service around it."""

__version__ = "1.0.0"
