"""Media files (later: upload sessions, videos, the processing pipeline, playback)."""
