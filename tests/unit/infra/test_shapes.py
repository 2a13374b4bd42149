"""Response models built from trusted values (`infra.shapes.built`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, PrivateAttr

from reelstack.infra.shapes import built
from reelstack.media.schemas import UserInteraction, VideoStats


class Card(BaseModel):
    title: str
    stats: VideoStats
    at: datetime
    tags: list[str] = []


def test_a_built_model_serializes_as_a_validated_one() -> None:
    values = {
        "title": "Soup",
        "stats": built(
            VideoStats, {"views": 3, "likes": 2, "comments": 1, "shares": 0, "saves": 5}
        ),
        "at": datetime(2026, 12, 7, 5, 30, tzinfo=UTC),
        "tags": ["cooking"],
    }
    validated = Card.model_validate({**values, "stats": values["stats"].model_dump()})
    card = built(Card, dict(values))
    assert card.model_dump_json() == validated.model_dump_json()
    assert card == validated
    assert card.model_fields_set == {"title", "stats", "at", "tags"}


def test_every_field_must_be_named_and_no_other() -> None:
    with pytest.raises(TypeError, match="liked"):
        built(UserInteraction, {"saved": True})
    with pytest.raises(TypeError, match="hearted"):
        built(UserInteraction, {"liked": True, "saved": False, "hearted": True})


def test_only_plain_models_are_built() -> None:
    class Secret(BaseModel):
        name: str
        _token: str = PrivateAttr(default="")

    with pytest.raises(TypeError, match="plain"):
        built(Secret, {"name": "x"})
