"""The paper's bounds and complexity estimators."""
