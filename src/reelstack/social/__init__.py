"""Follows, follow requests and blocks (later: likes, comments, shares, saves)."""
