"""Runners: each drives a learner over its tasks, evaluates, and emits tidy rows."""
