"""Likes of one video gather into one notification while it is unread and young: concurrent
jobs neither make two rows nor lose a count, and one person counts once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from reelstack.db import utcnow
from reelstack.notifications.handlers import comment_digest_mark
from reelstack.notifications.models import Notification
from reelstack.runtime import Runtime
from tests.factories import make_user, make_video
from tests.integration.notifications.helpers import (
    comment,
    eventually,
    jobs_settled,
    like,
    notifications_of,
    unread_count,
    wait_for,
)


async def _at_least(count: Awaitable[int], wanted: int) -> int | None:
    return n if (n := await count) >= wanted else None


async def notification_rows(rt: Runtime, user_id: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.user_id == user_id)
        )
    return int(count or 0)


async def test_fifty_concurrent_likes_make_one_notification_that_says_fifty(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    fans = await asyncio.gather(*(make_user(runtime, f"fan{i:02d}") for i in range(50)))
    video_id = await make_video(runtime, owner)

    responses = await asyncio.gather(*(like(client, fan, video_id) for fan in fans))
    assert [r.status_code for r in responses] == [200] * 50

    items = await wait_for(
        client, owner, lambda ns: len(ns) == 1 and ns[0]["actor_count"] == 50, "a count of 50"
    )
    await jobs_settled(runtime)
    (note,) = await notifications_of(client, owner)
    assert note["type"] == "like" and note["actor_count"] == 50
    assert len(note["actors"]) == 3
    named = note["actors"][0]["username"]
    assert note["text"] == f"{named} and 49 others liked your video."
    assert {a["user_id"] for a in note["actors"]} <= {fan.id for fan in fans}
    assert note["video"]["video_id"] == video_id
    assert await notification_rows(runtime, owner.id) == 1
    assert await unread_count(client, owner) == 1
    assert items[0]["notification_id"] == note["notification_id"]


async def test_likes_read_in_order_and_counted_once_per_person(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    ana, ben = await make_user(runtime, "ana"), await make_user(runtime, "ben")
    video_id = await make_video(runtime, owner)

    await like(client, ana, video_id)
    await wait_for(client, owner, lambda ns: len(ns) == 1)
    await like(client, ben, video_id)
    (note,) = await wait_for(client, owner, lambda ns: ns[0]["actor_count"] == 2)
    assert note["text"] == "ben and ana liked your video."  # the most recent first
    assert [a["username"] for a in note["actors"]] == ["ben", "ana"]

    # Unlike and like again: still two people.
    assert (await client.delete(f"/api/v1/videos/{video_id}/like", headers=ana.headers)).is_success
    await like(client, ana, video_id)
    await jobs_settled(runtime)
    (note,) = await notifications_of(client, owner)
    assert note["actor_count"] == 2


async def test_reading_closes_the_group_and_the_next_like_starts_a_new_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    ana, ben = await make_user(runtime, "ana"), await make_user(runtime, "ben")
    video_id = await make_video(runtime, owner)
    await like(client, ana, video_id)
    (first,) = await wait_for(client, owner, lambda ns: len(ns) == 1)

    r = await client.post(
        "/api/v1/notifications/read",
        headers=owner.headers,
        json={"ids": [first["notification_id"]]},
    )
    assert r.status_code == 200 and r.json() == {"marked": 1, "unread_count": 0}

    await like(client, ben, video_id)
    items = await wait_for(client, owner, lambda ns: len(ns) == 2)
    newest, older = items
    assert newest["text"] == "ben liked your video." and newest["is_read"] is False
    assert older["notification_id"] == first["notification_id"] and older["is_read"] is True
    assert older["actor_count"] == 1


async def test_a_group_older_than_the_window_takes_no_more_likes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    ana, ben = await make_user(runtime, "ana"), await make_user(runtime, "ben")
    video_id = await make_video(runtime, owner)
    await like(client, ana, video_id)
    (first,) = await wait_for(client, owner, lambda ns: len(ns) == 1)

    window = runtime.settings.notification_aggregation_window_seconds
    async with runtime.unit_of_work() as session:
        await session.execute(
            update(Notification)
            .where(Notification.id == first["notification_id"])
            .values(created_at=utcnow() - timedelta(seconds=window + 60))
        )
    await like(client, ben, video_id)
    newest, older = await wait_for(client, owner, lambda ns: len(ns) == 2)
    assert newest["text"] == "ben liked your video." and newest["actor_count"] == 1
    assert older["actor_count"] == 1 and older["is_read"] is False
    assert await unread_count(client, owner) == 2


async def test_the_upsert_holds_under_many_concurrent_transactions(runtime: Runtime) -> None:
    """Harder than two job workers: 30 transactions at once, each liker twice."""
    from reelstack.notifications import service

    owner = await make_user(runtime, "owner")
    fans = await asyncio.gather(*(make_user(runtime, f"fan{i:02d}") for i in range(15)))
    video_id = await make_video(runtime, owner)
    window = timedelta(days=1)

    async def add(fan_id: str) -> str | None:
        async with runtime.unit_of_work() as session:
            return await service.add_likes(
                session, owner.id, video_id, [fan_id], window, recounted_within=window
            )

    changed = await asyncio.gather(*(add(fan.id) for fan in [*fans, *fans]))
    assert len({c for c in changed if c}) == 1  # one notification...
    assert sum(1 for c in changed if c) == 15  # ...that each fan changed once
    async with runtime.unit_of_work(write=False) as session:
        rows = list(
            await session.scalars(select(Notification).where(Notification.user_id == owner.id))
        )
    assert [(n.actor_count, n.is_open) for n in rows] == [(15, True)]


async def test_a_digest_reads_on_from_where_the_last_one_stopped(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A digest reads the likes since the last digest (less a few seconds), not every like of
    the last ten minutes; without its mark it looks ten minutes back and counts no one twice."""
    from reelstack.interactions.models import VideoLike
    from reelstack.notifications.handlers import _digest_mark

    owner = await make_user(runtime, "owner")
    ana, ben, cat, dan = [await make_user(runtime, n) for n in ("ana", "ben", "cat", "dan")]
    video_id = await make_video(runtime, owner)
    await like(client, ana, video_id)
    await wait_for(client, owner, lambda ns: len(ns) == 1)
    await jobs_settled(runtime)
    # A like stamped a minute before the last digest's newest like is past what the next
    # digest reads (it would have been read by an earlier digest).
    async with runtime.unit_of_work() as session:
        session.add(
            VideoLike(user_id=cat.id, video_id=video_id, created_at=utcnow() - timedelta(minutes=1))
        )
    await like(client, ben, video_id)
    (note,) = await wait_for(client, owner, lambda ns: ns[0]["actor_count"] == 2)
    await jobs_settled(runtime)
    (note,) = await notifications_of(client, owner)
    assert [a["username"] for a in note["actors"]] == ["ben", "ana"]

    # With the mark gone, the next digest looks ten minutes back: it finds cat, and counts
    # ana and ben, whom it reads again, once.
    await runtime.cache.delete(_digest_mark(video_id))
    await like(client, dan, video_id)
    await wait_for(client, owner, lambda ns: ns[0]["actor_count"] == 4, "a count of 4")
    await jobs_settled(runtime)
    (note,) = await notifications_of(client, owner)
    assert note["actor_count"] == 4


async def test_every_comment_of_a_busy_video_is_told_once_though_their_digests_are_shared(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Comments are told in one job per video per second, read from the rows: thirty posted at
    once each give the owner one notification; a reply posted after that digest, in a later
    one, still reaches the person it answers; and a digest that reads comments already told
    (and read) tells nobody twice."""
    owner = await make_user(runtime, "owner")
    fans = await asyncio.gather(*(make_user(runtime, f"fan{i:02d}") for i in range(30)))
    video_id = await make_video(runtime, owner)

    posted = await asyncio.gather(
        *(comment(client, fan, video_id, f"comment {i}") for i, fan in enumerate(fans))
    )
    await eventually(lambda: _at_least(unread_count(client, owner), 30), what="thirty comments")
    items = await notifications_of(client, owner, page_size=50)
    assert len(items) == 30
    assert {n["comment"]["comment_id"] for n in items} == set(posted)
    assert {n["type"] for n in items} == {"comment"}

    # The owner reads them (which closes them), and the digest's mark is lost, as an embedded
    # process's in-memory cache is on restart: the next digest reads all thirty again.
    r = await client.post("/api/v1/notifications/read", headers=owner.headers, json={"all": True})
    assert r.status_code in (200, 204), r.text
    await runtime.cache.delete(comment_digest_mark(video_id))
    reply = await comment(client, owner, video_id, "thanks!", parent=posted[7])
    (told,) = await wait_for(client, fans[7], lambda ns: len(ns) == 1, "the reply")
    assert told["type"] == "reply" and told["comment"]["comment_id"] == reply
    await jobs_settled(runtime)
    assert await notification_rows(runtime, owner.id) == 30  # none twice, none of their own
    assert await unread_count(client, owner) == 0
    assert await notifications_of(client, fans[0]) == []
