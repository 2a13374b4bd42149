"""Reporting views over HTTP: what counts, who may report, and the counts people then see."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from reelstack.infra.counters import reconcile
from reelstack.media.models import VIDEO_COUNTERS, Video
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user, make_video
from tests.integration.analytics.viewing import counted, report_view, video, watch_events


async def test_a_view_counts_once_per_viewer_per_hour(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)

    assert await counted(client, video_id, user=fan) is True
    assert await counted(client, video_id, user=fan) is False
    # A signed-in viewer is one viewer whatever session their player reports.
    assert await counted(client, video_id, user=fan, session_id="another-tab") is False
    assert await counted(client, video_id, session_id="anon-1") is True
    assert await counted(client, video_id, session_id="anon-1") is False
    assert await counted(client, video_id, session_id="anon-2") is True

    await runtime.analytics.flush()
    assert (await video(client, video_id))["stats"]["views"] == 3
    assert await watch_events(runtime, video_id) == (6, 3)


async def test_short_watches_do_not_count_nor_use_up_the_hour(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    long_video = await make_video(runtime, owner, duration=30.0)
    short_video = await make_video(runtime, owner, duration=4.0)

    assert await counted(client, long_video, session_id="s", watched_ms=2999) is False
    assert await counted(client, long_video, session_id="s", watched_ms=3000) is True
    # Half of a 4 s video is enough.
    assert (
        await counted(client, short_video, session_id="s", watched_ms=1999, duration_ms=4000)
        is False
    )
    assert (
        await counted(client, short_video, session_id="s", watched_ms=2000, duration_ms=4000)
        is True
    )

    await runtime.analytics.flush()
    assert (await video(client, long_video))["stats"]["views"] == 1
    assert (await video(client, short_video))["stats"]["views"] == 1
    # Every report is kept for analytics, counted or not.
    assert await watch_events(runtime, long_video) == (2, 1)


async def test_videos_the_viewer_may_not_see_answer_404(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, follower, stranger, blocked = [await make_user(runtime) for _ in range(4)]
    assert (
        await client.post(f"/api/v1/users/{owner.id}/follow", headers=follower.headers)
    ).status_code == 200
    r = await client.post(f"/api/v1/users/{blocked.id}/block", headers=owner.headers)
    assert r.status_code == 200
    private = await make_video(runtime, owner, visibility="private")
    followers_only = await make_video(runtime, owner, visibility="followers")
    public = await make_video(runtime, owner)
    processing = await make_video(runtime, owner, status="processing")

    async def refused(video_id: str, **who: Any) -> None:
        assert_problem(await report_view(client, video_id, **who), 404, "video_not_found")

    await refused(private, user=stranger)
    await refused(private, session_id="anon")
    await refused(followers_only, user=stranger)
    await refused(followers_only, session_id="anon")
    await refused(public, user=blocked)
    await refused(processing, user=stranger)
    await refused("0" * 26, user=stranger)

    assert await counted(client, private, user=owner) is True
    assert await counted(client, followers_only, user=follower) is True
    assert await counted(client, public, user=stranger) is True

    await runtime.analytics.flush()
    assert await watch_events(runtime, private) == (1, 1)
    assert await watch_events(runtime, followers_only) == (1, 1)
    assert await watch_events(runtime, public) == (1, 1)  # not the blocked user's


@pytest.mark.parametrize("settings_overrides", [{"view_visibility_cache_seconds": 0}])
async def test_a_video_made_private_stops_taking_views(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)
    assert await counted(client, video_id, user=fan) is True

    r = await client.patch(
        f"/api/v1/videos/{video_id}", json={"visibility": "private"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert_problem(await report_view(client, video_id, user=fan), 404, "video_not_found")

    r = await client.post(f"/api/v1/users/{fan.id}/block", headers=owner.headers)
    assert r.status_code == 200
    await client.patch(
        f"/api/v1/videos/{video_id}", json={"visibility": "public"}, headers=owner.headers
    )
    assert_problem(await report_view(client, video_id, user=fan), 404, "video_not_found")
    assert await counted(client, video_id, session_id="anon") is True


async def test_bad_reports_are_refused_and_not_stored(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)

    def field_errors(r: httpx.Response) -> set[str]:
        body = assert_problem(r, 422, "validation_failed")
        errors = body["errors"]
        assert isinstance(errors, list)
        return {str(e["field"]) for e in errors}

    assert field_errors(await report_view(client, video_id, user=fan, watched_ms=-1)) == {
        "watched_ms"
    }
    assert field_errors(await report_view(client, video_id, user=fan, duration_ms=-5)) == {
        "duration_ms"
    }
    # 1.5 x 10 s + 2 s of slack is the most a player can have played.
    assert field_errors(
        await report_view(client, video_id, user=fan, watched_ms=17001, duration_ms=10000)
    ) == {"watched_ms"}
    assert field_errors(await report_view(client, video_id, user=fan, source="radio")) == {"source"}
    assert field_errors(await report_view(client, video_id, session_id="x" * 65)) == {"session_id"}
    assert_problem(await report_view(client, video_id), 422, "session_id_required")

    assert await counted(client, video_id, user=fan, watched_ms=17000, duration_ms=10000)
    await runtime.analytics.flush()
    assert await watch_events(runtime, video_id) == (1, 1)


async def test_views_of_a_video_deleted_before_the_flush_are_dropped_alone(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    doomed, kept = await make_video(runtime, owner), await make_video(runtime, owner)
    assert await counted(client, doomed, user=fan)
    assert await counted(client, kept, user=fan)
    r = await client.delete(f"/api/v1/videos/{doomed}", headers=owner.headers)
    assert r.status_code == 200, r.text

    await runtime.analytics.flush()
    assert await watch_events(runtime, doomed) == (0, 0)
    assert await watch_events(runtime, kept) == (1, 1)
    assert (await video(client, kept))["stats"]["views"] == 1


async def test_view_counts_are_recounted_from_the_watch_events(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    for session_id in ("a", "b", "c"):
        assert await counted(client, video_id, session_id=session_id)
    await runtime.analytics.flush()
    assert await reconcile(runtime, VIDEO_COUNTERS, [video_id]) == 0  # nothing drifted

    async with runtime.unit_of_work() as session:
        await session.execute(update(Video).where(Video.id == video_id).values(view_count=41))
    assert (await video(client, video_id))["stats"]["views"] != 3
    assert await reconcile(runtime, VIDEO_COUNTERS, [video_id]) == 1
    assert (await video(client, video_id))["stats"]["views"] == 3


async def test_counted_views_of_signed_in_viewers_enter_their_history(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    watched, skipped = await make_video(runtime, owner), await make_video(runtime, owner)
    assert await counted(client, watched, user=fan)
    assert not await counted(client, skipped, user=fan, watched_ms=500)
    assert await counted(client, skipped, session_id="anon")

    await runtime.analytics.flush()
    r = await client.get("/api/v1/users/me/history", headers=fan.headers)
    assert r.status_code == 200, r.text
    assert [v["video_id"] for v in r.json()["videos"]] == [watched]
