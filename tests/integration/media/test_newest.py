"""`newest_of`: the newest videos over many creators, read per creator and merged, must be
exactly what one query over all of them would give, in the same order."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from reelstack.db import utcnow
from reelstack.media import newest
from reelstack.media.models import JobState, Video, VideoStatus
from reelstack.media.newest import newest_of
from reelstack.runtime import Runtime
from tests.factories import make_user


async def add_video(
    rt: Runtime, owner_id: str, published_at: datetime, status: str = VideoStatus.READY.value
) -> str:
    async with rt.unit_of_work() as session:
        video = Video(
            user_id=owner_id,
            caption="a video",
            status=status,
            job_state=JobState.DONE.value,
            created_at=published_at,
            published_at=published_at,
        )
        session.add(video)
        await session.flush()
        return video.id


@pytest.mark.parametrize("per_statement", [100, 2])
async def test_the_merge_is_the_newest_over_all_creators_in_order(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, per_statement: int
) -> None:
    monkeypatch.setattr(newest, "KEYS_PER_STATEMENT", per_statement)  # 2: three statements
    creators = [(await make_user(runtime)).id for _ in range(5)]
    now = utcnow().replace(microsecond=0)
    published: list[tuple[str, datetime]] = []
    for n in range(40):
        at = now - timedelta(minutes=(n * 7) % 23)  # interleaved, with equal times
        creator = creators[(n * 3) % 4]  # the fifth creator has no video
        published.append((await add_video(runtime, creator, at), at))
    await add_video(runtime, creators[0], now + timedelta(minutes=1), status="processing")

    def expected(limit: int, before: datetime | None = None) -> list[str]:
        kept = [(vid, at) for vid, at in published if before is None or at <= before]
        return [vid for vid, _ in sorted(kept, key=lambda r: (r[1], r[0]), reverse=True)][:limit]

    ready = Video.status == VideoStatus.READY.value
    async with runtime.unit_of_work(write=False) as session:
        rows = await newest_of(session, Video.user_id, creators, ready, limit=12)
        assert [vid for vid, _ in rows] == expected(12)
        assert all(at.tzinfo is not None for _, at in rows)
        before = now - timedelta(minutes=9)
        rows = await newest_of(session, Video.user_id, creators, ready, limit=7, before=before)
        assert [vid for vid, _ in rows] == expected(7, before)
        everything = await newest_of(session, Video.user_id, creators * 2, ready, limit=100)
        assert [vid for vid, _ in everything] == expected(100)  # each creator read once
        assert await newest_of(session, Video.user_id, [], ready, limit=5) == []
        assert await newest_of(session, Video.user_id, creators[4:], ready, limit=5) == []
