"""Reading notifications: the list and its pages, the unread count, marking read, preferences."""

from __future__ import annotations

import httpx
from sqlalchemy import event

from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.notifications.helpers import (
    follow,
    jobs_settled,
    like,
    notifications_of,
    unread_count,
    wait_for,
)

ALL_TYPES = {
    "new_follower",
    "follow_request",
    "like",
    "comment",
    "reply",
    "mention",
    "video_ready",
    "video_failed",
    "new_post",
}


async def followed_by(client: httpx.AsyncClient, rt: Runtime, star: TestUser, n: int) -> None:
    for _ in range(n):
        await follow(client, await make_user(rt), star)
    await wait_for(client, star, lambda ns: len(ns) == n, f"{n} notifications")


async def test_pages_follow_each_other_without_gaps(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star = await make_user(runtime, "star")
    await followed_by(client, runtime, star, 5)
    everything = await notifications_of(client, star)
    stamps = [n["updated_at"] for n in everything]
    assert stamps == sorted(stamps, reverse=True)

    seen, cursor = [], None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/notifications", headers=star.headers, params=params)
        body = r.json()
        seen += [n["notification_id"] for n in body["notifications"]]
        assert body["has_more"] is (body["next_cursor"] is not None)
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert seen == [n["notification_id"] for n in everything]

    assert_problem(
        await client.get(
            "/api/v1/notifications", headers=star.headers, params={"cursor": "garbage"}
        ),
        422,
        "invalid_cursor",
    )
    assert_problem(await client.get("/api/v1/notifications"), 401, "not_authenticated")
    assert_problem(await client.get("/api/v1/notifications/unread_count"), 401, "not_authenticated")


async def test_a_page_costs_the_same_queries_whatever_its_length(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star = await make_user(runtime, "star")
    video_id = await make_video(runtime, star)
    fans = [await make_user(runtime) for _ in range(6)]
    for fan in fans:
        await follow(client, fan, star)
    for fan in fans[:3]:
        await like(client, fan, video_id)
    await wait_for(client, star, lambda ns: len(ns) == 7, "7 notifications")
    await jobs_settled(runtime)  # their pushes read through the same engine

    async def count_queries(page_size: int) -> int:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        engine = runtime.db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            r = await client.get(
                "/api/v1/notifications", params={"page_size": page_size}, headers=star.headers
            )
            assert len(r.json()["notifications"]) == page_size
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))])

    assert await count_queries(2) == await count_queries(7)


async def test_marking_read_by_id_and_all(client: httpx.AsyncClient, runtime: Runtime) -> None:
    star, stranger = await make_user(runtime, "star"), await make_user(runtime, "stranger")
    await followed_by(client, runtime, star, 3)
    assert await unread_count(client, star) == 3
    newest = (await notifications_of(client, star))[0]

    # A stranger cannot mark someone else's notifications.
    r = await client.post(
        "/api/v1/notifications/read",
        headers=stranger.headers,
        json={"ids": [newest["notification_id"]]},
    )
    assert r.json() == {"marked": 0, "unread_count": 0}
    assert await unread_count(client, star) == 3

    r = await client.post(
        "/api/v1/notifications/read",
        headers=star.headers,
        json={"ids": [newest["notification_id"], newest["notification_id"], "nonexistent"]},
    )
    assert r.status_code == 200 and r.json() == {"marked": 1, "unread_count": 2}
    items = await notifications_of(client, star)
    assert [n["is_read"] for n in items] == [True, False, False]

    r = await client.post("/api/v1/notifications/read", headers=star.headers, json={"all": True})
    assert r.json() == {"marked": 2, "unread_count": 0}
    assert all(n["is_read"] for n in await notifications_of(client, star))
    again = await client.post(
        "/api/v1/notifications/read", headers=star.headers, json={"all": True}
    )
    assert again.json() == {"marked": 0, "unread_count": 0}


async def test_mark_read_rejects_unclear_requests(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    for body in (
        {},
        {"all": False},
        {"ids": []},
        {"ids": ["a"], "all": True},
        {"ids": "a"},
        {"ids": ["x"] * 101},
        {"everything": True},
    ):
        r = await client.post("/api/v1/notifications/read", headers=user.headers, json=body)
        assert_problem(r, 422, "validation_failed")
    assert_problem(
        await client.post("/api/v1/notifications/read", json={"all": True}),
        401,
        "not_authenticated",
    )


async def test_preferences_default_on_and_change_one_type_at_a_time(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    url = "/api/v1/notifications/preferences"
    r = await client.get(url, headers=user.headers)
    assert r.status_code == 200 and r.json() == {kind: True for kind in ALL_TYPES}

    r = await client.put(url, headers=user.headers, json={"like": False, "new_post": False})
    assert r.json() == {kind: kind not in {"like", "new_post"} for kind in ALL_TYPES}
    r = await client.put(url, headers=user.headers, json={"like": True})
    assert r.json() == {kind: kind != "new_post" for kind in ALL_TYPES}
    assert (await client.put(url, headers=user.headers, json={})).json() == r.json()
    assert (await client.get(url, headers=user.headers)).json() == r.json()

    for body in ({"likes": False}, {"like": "no"}, {"like": None}, {"like": 0}, ["like"]):
        assert_problem(
            await client.put(url, headers=user.headers, json=body), 422, "validation_failed"
        )
    assert (await client.get(url, headers=user.headers)).json() == r.json()  # nothing changed
    assert_problem(await client.get(url), 401, "not_authenticated")
