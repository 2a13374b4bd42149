"""Watch positions, resuming, and the viewer's history over HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy import event

from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.analytics.viewing import video


async def save_position(
    client: httpx.AsyncClient, video_id: str, user: TestUser, position: float, duration: float
) -> httpx.Response:
    return await client.post(
        f"/api/v1/videos/{video_id}/watch-position",
        json={"position": position, "duration": duration},
        headers=user.headers,
    )


async def history(
    client: httpx.AsyncClient, user: TestUser, **params: str | int
) -> dict[str, object]:
    r = await client.get("/api/v1/users/me/history", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def ids(page: dict[str, object]) -> list[str]:
    videos = page["videos"]
    assert isinstance(videos, list)
    return [v["video_id"] for v in videos]


async def test_the_video_resumes_where_the_viewer_stopped(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan, other = [await make_user(runtime) for _ in range(3)]
    video_id = await make_video(runtime, owner, duration=60.0)
    assert (await video(client, video_id, fan))["resume_position"] is None

    r = await save_position(client, video_id, fan, 12.5, 60.0)
    assert r.status_code == 204, r.text
    assert (await video(client, video_id, fan))["resume_position"] == 12.5
    assert (await video(client, video_id, other))["resume_position"] is None
    assert (await video(client, video_id))["resume_position"] is None

    assert (await save_position(client, video_id, fan, 30.25, 60.0)).status_code == 204
    assert (await video(client, video_id, fan))["resume_position"] == 30.25
    # Within the last 5 % (3 s of 60 s): finished, so it starts over next time.
    assert (await save_position(client, video_id, fan, 57.5, 60.0)).status_code == 204
    assert (await video(client, video_id, fan))["resume_position"] is None
    # On a short video the last 2 s count as the end.
    short = await make_video(runtime, owner, duration=10.0)
    assert (await save_position(client, short, fan, 7.9, 10.0)).status_code == 204
    assert (await video(client, short, fan))["resume_position"] == 7.9
    assert (await save_position(client, short, fan, 8.1, 10.0)).status_code == 204
    assert (await video(client, short, fan))["resume_position"] is None


async def test_watch_positions_are_checked(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)
    private = await make_video(runtime, owner, visibility="private")

    r = await client.post(
        f"/api/v1/videos/{video_id}/watch-position", json={"position": 1, "duration": 30}
    )
    assert_problem(r, 401, "not_authenticated")
    assert_problem(await save_position(client, private, fan, 1, 30), 404, "video_not_found")
    assert_problem(await save_position(client, "0" * 26, fan, 1, 30), 404, "video_not_found")
    for position, duration in ((31, 30), (-1, 30), (0, 0)):
        assert_problem(
            await save_position(client, video_id, fan, position, duration),
            422,
            "validation_failed",
        )
    r = await client.post(
        f"/api/v1/videos/{video_id}/watch-position",
        content=b'{"position": NaN, "duration": 30}',
        headers={**fan.headers, "Content-Type": "application/json"},
    )
    assert_problem(r, 422, "validation_failed")
    assert ids(await history(client, fan)) == []


async def test_history_lists_most_recent_first_in_pages(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    videos = [await make_video(runtime, owner, caption=f"v{i}") for i in range(5)]
    for video_id in videos:
        assert (await save_position(client, video_id, fan, 1, 30)).status_code == 204
    # Watching one again brings it back to the top.
    assert (await save_position(client, videos[1], fan, 2, 30)).status_code == 204
    expected = [videos[1], videos[4], videos[3], videos[2], videos[0]]

    first = await history(client, fan)
    assert ids(first) == expected and first["has_more"] is False
    assert first["videos"][0]["resume_position"] == 2.0  # type: ignore[index]
    assert first["videos"][0]["watched_at"]  # type: ignore[index]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"page_size": 2}
        if cursor:
            params["cursor"] = cursor
        page = await history(client, fan, **params)
        seen += ids(page)
        cursor = page["next_cursor"]  # type: ignore[assignment]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == expected
    assert ids(await history(client, owner)) == []  # one viewer's history is theirs alone
    assert_problem(await client.get("/api/v1/users/me/history"), 401, "not_authenticated")


async def test_videos_the_viewer_can_no_longer_see_leave_the_history(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    hidden, deleted, kept = [await make_video(runtime, owner) for _ in range(3)]
    for video_id in (hidden, deleted, kept):
        assert (await save_position(client, video_id, fan, 1, 30)).status_code == 204

    r = await client.patch(
        f"/api/v1/videos/{hidden}", json={"visibility": "private"}, headers=owner.headers
    )
    assert r.status_code == 200
    assert (await client.delete(f"/api/v1/videos/{deleted}", headers=owner.headers)).is_success
    assert ids(await history(client, fan)) == [kept]

    r = await client.post(f"/api/v1/users/{fan.id}/block", headers=owner.headers)
    assert r.status_code == 200
    assert ids(await history(client, fan)) == []


async def test_deleting_from_the_history(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner, fan, other = [await make_user(runtime) for _ in range(3)]
    a, b, c = [await make_video(runtime, owner) for _ in range(3)]
    for user in (fan, other):
        for video_id in (a, b, c):
            assert (await save_position(client, video_id, user, 5, 30)).status_code == 204

    for _ in range(2):  # idempotent
        r = await client.delete(f"/api/v1/users/me/history/{b}", headers=fan.headers)
        assert r.status_code == 204
    assert ids(await history(client, fan)) == [c, a]
    assert (await video(client, b, fan))["resume_position"] is None

    for _ in range(2):
        r = await client.delete("/api/v1/users/me/history", headers=fan.headers)
        assert r.status_code == 204
    assert ids(await history(client, fan)) == []
    assert (await video(client, a, fan))["resume_position"] is None
    assert ids(await history(client, other)) == [c, b, a]  # nobody else's
    assert_problem(await client.delete("/api/v1/users/me/history"), 401, "not_authenticated")


async def test_history_pages_use_a_fixed_number_of_queries(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fan = await make_user(runtime)
    for _ in range(6):
        owner = await make_user(runtime)
        video_id = await make_video(runtime, owner)
        assert (await save_position(client, video_id, fan, 1, 30)).status_code == 204

    async def count_queries(page_size: int) -> int:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        engine = runtime.db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert len(ids(await history(client, fan, page_size=page_size))) == page_size
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    assert await count_queries(2) == await count_queries(6)
