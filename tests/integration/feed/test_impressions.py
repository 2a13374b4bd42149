"""The impression log: every served video reaches the table, however many a flush carries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from reelstack.db import utcnow
from reelstack.feed import impressions
from reelstack.feed.impressions import FLUSH_CHUNK, impression_log
from reelstack.recommend.models import Impression
from reelstack.runtime import Runtime


def served(n: int, **values: Any) -> dict[str, Any]:
    """The impression of the nth video a signed-out session was served."""
    row = {
        "user_id": None,
        "session_id": "s1",
        "video_id": f"video{n:05d}",
        "feed": "for_you",
        "source": "explore",
        "position": n,
        "score": 0.5,
        "features": {},
    }
    return row | values


async def test_a_flush_of_more_rows_than_one_insert_takes_writes_them_all(
    runtime: Runtime,
) -> None:
    count = FLUSH_CHUNK * 2 + 7  # two whole statements and a short one
    log = impression_log(runtime)
    log.add([served(n, features={"similarity": n / count}) for n in range(count)])
    await log.flush()
    async with runtime.unit_of_work(write=False) as session:
        rows = (await session.execute(select(Impression.position, Impression.features))).all()
    assert sorted(position for position, _ in rows) == list(range(count))
    assert {position: features["similarity"] for position, features in rows} == {
        n: n / count for n in range(count)
    }


async def test_impressions_past_their_retention_are_deleted_and_newer_ones_kept(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(impressions, "PRUNE_BATCH", 3)  # several batches, the last one short
    now = utcnow()
    days = runtime.settings.impression_retention_days
    ages = {n: timedelta(days=days + 1 + n) for n in range(7)}  # past the retention
    ages |= {n: timedelta(days=days - 1) for n in range(7, 10)}  # inside it
    async with runtime.unit_of_work() as session:
        await session.execute(
            insert(Impression), [served(n, created_at=now - age) for n, age in ages.items()]
        )
    assert await impressions.prune(runtime) == 7
    async with runtime.unit_of_work(write=False) as session:
        kept = list(await session.scalars(select(Impression.position)))
    assert sorted(kept) == [7, 8, 9]
    assert await impressions.prune(runtime) == 0
