"""The one feature function: serving ranks with it, training learns from what it produced.
Also the taste profile (affinities) features read, built from signals of any origin."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

FEATURES = (
    "similarity",
    "engagement",
    "freshness",
    "diversity",
    "hashtag_affinity",
    "creator_affinity",
    "completion",
    "like_rate",
    "new_creator",
    "src_following",
    "src_affinity",
    "src_coengagement",
    "src_trending",
    "src_fresh",
    "src_explore",
)
# Seed 003's transparent score; the training job replaces it with learned weights.
DEFAULT_WEIGHTS = {"similarity": 0.4, "engagement": 0.3, "freshness": 0.2, "diversity": 0.1}
SOURCES = ("following", "affinity", "coengagement", "trending", "fresh", "explore")


@dataclass(frozen=True)
class VideoFacts:
    """What ranking knows of a candidate video."""

    video_id: str
    creator_id: str
    creator_name: str
    hashtags: tuple[str, ...]
    category: str | None
    sound_id: str | None
    published_ts: float
    views: int
    likes: int
    shares: int
    completion: float  # share of recent plays watched at least half
    new_creator: bool


@dataclass
class Taste:
    """A viewer's affinities: positive means more of this, negative less."""

    hashtags: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    creators: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    categories: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    sounds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(
        self,
        weight: float,
        *,
        hashtags: tuple[str, ...] | list[str] = (),
        creator: str | None = None,
        category: str | None = None,
        sound: str | None = None,
    ) -> None:
        for tag in hashtags:
            self.hashtags[tag] += weight
        if creator:
            self.creators[creator] += weight
        if category:
            self.categories[category] += weight
        if sound:
            self.sounds[sound] += weight

    def is_empty(self) -> bool:
        """No affinity at all: every video is equally similar (0) to this taste."""
        return not (
            any(self.hashtags.values())
            or any(self.creators.values())
            or any(self.categories.values())
            or any(self.sounds.values())
        )

    def best_hashtag(self, tags: Sequence[str]) -> tuple[str | None, float]:
        scored = [(self.hashtags.get(t, 0.0), t) for t in tags]
        if not scored:
            return None, 0.0
        value, tag = max(scored)
        return tag, value


class Traits(Protocol):
    """What similarity reads of a video: `VideoFacts`, or an entry of a stored list."""

    @property
    def creator_id(self) -> str: ...
    @property
    def hashtags(self) -> Sequence[str]: ...
    @property
    def category(self) -> str | None: ...
    @property
    def sound_id(self) -> str | None: ...


def similarity(facts: Traits, taste: Taste) -> float:
    """How close a video is to the taste, in (-1, 1): its best hashtag, less its most demoted
    one (a demoted hashtag pulls the video down whatever else it has), its creator, category
    and sound. A page scores ~120 entries with it, so it allocates only for hashtags."""
    raw = 0.0
    if facts.hashtags and taste.hashtags:
        values = [taste.hashtags.get(t, 0.0) for t in facts.hashtags]
        raw = max(values) + min(min(values), 0.0)
    if taste.creators:
        raw += taste.creators.get(facts.creator_id, 0.0)
    if taste.categories and facts.category:
        raw += 0.5 * taste.categories.get(facts.category, 0.0)
    if taste.sounds and facts.sound_id:
        raw += 0.5 * taste.sounds.get(facts.sound_id, 0.0)
    return math.tanh(raw / 3)


def features(facts: VideoFacts, taste: Taste, source: str, now: float) -> dict[str, float]:
    """The features of one candidate for one viewer: the single code path of serving and
    training."""
    like_rate = facts.likes / (facts.views + 5)
    share_rate = facts.shares / (facts.views + 5)
    engagement = (
        0.5 * facts.completion + 0.3 * min(1.0, like_rate * 5) + 0.2 * min(1.0, share_rate * 20)
    )
    age_hours = max(0.0, (now - facts.published_ts) / 3600)
    known = facts.creator_id in taste.creators or (facts.category or "") in taste.categories
    values = {
        "similarity": similarity(facts, taste),
        "engagement": engagement,
        "freshness": math.exp(-age_hours / 48),
        "diversity": 0.3 if known else 1.0,
        "hashtag_affinity": math.tanh(taste.best_hashtag(facts.hashtags)[1] / 3),
        "creator_affinity": math.tanh(taste.creators.get(facts.creator_id, 0.0) / 3),
        "completion": facts.completion,
        "like_rate": min(1.0, like_rate * 5),
        "new_creator": 1.0 if facts.new_creator else 0.0,
    }
    for name in SOURCES:
        values[f"src_{name}"] = 1.0 if source == name else 0.0
    return {name: round(values[name], 4) for name in FEATURES}


def vector(values: dict[str, float]) -> list[float]:
    return [values.get(name, 0.0) for name in FEATURES]
