"""The closed loop through the HTTP API: a new user who watches #cooking through and skips
everything else gets mostly #cooking within 20 swipes; with the signals ignored, they do not."""

from __future__ import annotations

import httpx
import pytest

from reelstack.feed import signals
from reelstack.runtime import Runtime
from tests.factories import make_user
from tests.integration.feed.helpers import drain
from tests.integration.recommend.world import for_you, report_view, small_world

SWIPES = 20


async def swipe(runtime: Runtime, client: httpx.AsyncClient) -> list[bool]:
    """Swipe 20 videos, five a page; True for each #cooking one."""
    viewer = await make_user(runtime)
    cooking: list[bool] = []
    cursor = None
    while len(cooking) < SWIPES:
        params = {"page_size": 5, **({"cursor": cursor} if cursor else {})}
        body = await for_you(client, viewer.headers, **params)
        assert body["videos"], "the feed ran dry"
        for video in body["videos"][: SWIPES - len(cooking)]:
            is_cooking = "cooking" in video["hashtags"]
            cooking.append(is_cooking)
            watched = 15000 if is_cooking else 1200  # through, or gone in a second
            await report_view(client, viewer.headers, video["video_id"], watched)
        cursor = body["next_cursor"]
        await drain(runtime)  # a person takes seconds per video: the list is rebuilt meanwhile
    return cooking


async def test_watching_cooking_through_fills_the_feed_with_cooking(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    world = await small_world(runtime)
    share = sum(t == "cooking" for t in world.topic_of_video.values()) / len(world.videos)
    assert share < 0.2  # cooking is one topic of eight: a random feed would show little
    cooking = await swipe(runtime, client)
    # Within 20 swipes the feed gets to at least half #cooking: the last ten are.
    assert sum(cooking[10:]) >= 5, cooking
    assert sum(cooking[15:]) >= 3, cooking


async def test_the_loop_fails_when_signals_are_ignored(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signals, "SIGNAL_WEIGHTS", dict.fromkeys(signals.SIGNAL_WEIGHTS, 0.0))
    await small_world(runtime)
    cooking = await swipe(runtime, client)
    assert sum(cooking[10:]) < 5, cooking
