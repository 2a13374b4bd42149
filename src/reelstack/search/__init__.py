"""Search and discovery: videos, users, hashtags, sounds, categories, suggestions."""
