"""The categories a creator files a video under, and how a video's category names one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func

from reelstack.media.models import Video

# slug -> display name; a video's `category` is matched case-insensitively by slug or name.
CATEGORIES: dict[str, str] = {
    "comedy": "Comedy",
    "dance": "Dance",
    "music": "Music",
    "food": "Food & Drink",
    "sports": "Sports",
    "gaming": "Gaming",
    "education": "Education",
    "beauty": "Beauty & Style",
    "fashion": "Fashion",
    "travel": "Travel",
    "animals": "Animals & Pets",
    "diy": "DIY & Crafts",
    "tech": "Science & Tech",
    "fitness": "Fitness & Health",
    "art": "Art",
    "news": "News",
    "family": "Family",
    "auto": "Cars & Vehicles",
    "film": "Film & Animation",
    "other": "Other",
}
_BY_NAME = {name.lower(): slug for slug, name in CATEGORIES.items()}


def slug_of(category: str | None) -> str | None:
    """The category a video's free-text `category` names, if any."""
    if not category:
        return None
    key = category.strip().lower()
    if key in CATEGORIES:
        return key
    return _BY_NAME.get(key)


def category_clause(slug: str) -> Any:
    """Videos filed under the category `slug` (by slug or by display name)."""
    return func.lower(Video.category).in_([slug, CATEGORIES.get(slug, slug).lower()])
