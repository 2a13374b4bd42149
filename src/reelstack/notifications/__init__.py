"""Notifications: creation by jobs, aggregation, preferences and real-time delivery."""
