"""Recommendation: candidate sources, features, the ranker and its training."""
