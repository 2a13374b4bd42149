"""Likes, saves and collections, shares: what a viewer does to a video."""
