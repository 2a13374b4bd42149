"""Comments on videos: one-level threads, reactions, pins, mentions and the word filter."""
