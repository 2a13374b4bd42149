"""The seen filter: what was shown stays out of For-You, and the set stays bounded (trimmed
every few minutes rather than on every page)."""

from __future__ import annotations

import asyncio
import time

import pytest

from reelstack.feed import seen
from reelstack.runtime import Runtime


async def stored(rt: Runtime, who: str) -> list[str]:
    return [member for member, _ in await rt.cache.zrevrange(seen.seen_key(who))]


async def test_the_filter_is_trimmed_to_its_cap_newest_kept(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen, "MAX_SEEN", 5)
    who = "u:trim-test"
    old = time.time() - (runtime.settings.seen_filter_days + 1) * 86400
    await runtime.cache.zadd(seen.seen_key(who), {"expired": old})
    await seen.mark_seen(runtime, who, ["a", "b", "c"])  # trims now, then not for a while
    assert "expired" not in await stored(runtime, who)
    for batch in (["d", "e"], ["f", "g"]):
        await asyncio.sleep(0.002)  # distinct scores: newer batches rank higher
        await seen.mark_seen(runtime, who, batch)
    assert len(await stored(runtime, who)) == 7  # over the cap until the next trim
    assert await seen.unseen(runtime, who, ["a", "g", "h"]) == ["h"]

    await runtime.cache.delete(seen._trim_key(who))  # the trim interval has passed
    await asyncio.sleep(0.002)
    await seen.mark_seen(runtime, who, ["h"])
    assert set(await stored(runtime, who)) == {"h", "f", "g", "d", "e"}
