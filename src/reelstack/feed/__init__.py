"""Feeds: following (hybrid fan-out), trending, and the For-You assembly."""
