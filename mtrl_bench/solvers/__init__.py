"""Exact solvers that give the ground truth the learners are measured against."""
