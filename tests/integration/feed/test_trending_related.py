"""Trending (engagement velocity from the rows, served from the cache) and related videos."""

from __future__ import annotations

import httpx

from reelstack.feed import trending
from reelstack.feed.schemas import TimeRange
from reelstack.recommend import training
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user
from tests.integration.feed.helpers import drain, ids, publish_video


async def test_trending_ranks_by_engagement_and_is_served_from_the_cache(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator = await make_user(runtime)
    fans = [await make_user(runtime) for _ in range(3)]
    quiet = await publish_video(runtime, creator, category="food")
    liked = await publish_video(runtime, creator, category="food")
    hot = await publish_video(runtime, creator, category="music")
    private = await publish_video(runtime, creator, visibility="private")
    for fan in fans:
        for video in (hot, private):
            await client.post(f"/api/v1/videos/{video}/like", headers=fan.headers)
        await client.post(
            f"/api/v1/videos/{hot}/share", json={"type": "external"}, headers=fan.headers
        )
    await client.post(f"/api/v1/videos/{liked}/like", headers=fans[0].headers)
    await drain(runtime)
    await trending.refresh_all(runtime)  # what the periodic job does
    body = (await client.get("/api/v1/feed/trending", params={"time_range": "7d"})).json()
    assert ids(body) == [hot, liked]  # the private one never; no engagement, no trend
    assert body["videos"][0]["reason"] == "trending now"
    assert quiet not in ids(body)
    food = (await client.get("/api/v1/feed/trending", params={"category": "food"})).json()
    assert ids(food) == [liked]
    assert food["videos"][0]["reason"] == "trending in food"

    # Served from the snapshot until the job computes the next one.
    await client.post(f"/api/v1/videos/{quiet}/like", headers=fans[1].headers)
    assert quiet not in ids((await client.get("/api/v1/feed/trending?time_range=7d")).json())
    await trending.refresh(runtime, TimeRange.WEEK)
    assert quiet in ids((await client.get("/api/v1/feed/trending?time_range=7d")).json())
    r = await client.get("/api/v1/feed/trending", params={"time_range": "1y"})
    assert_problem(r, 422, "validation_failed")


async def test_related_videos_share_hashtags_and_respect_visibility(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    a, b = await make_user(runtime), await make_user(runtime)
    seed = await publish_video(runtime, a, hashtags=("cooking", "pasta"), category="food")
    close = await publish_video(runtime, b, hashtags=("cooking", "pasta"), category="food")
    near = await publish_video(runtime, b, hashtags=("cooking",))
    await publish_video(runtime, b, hashtags=("cooking", "pasta"), visibility="private")
    await publish_video(runtime, b, hashtags=("gaming",), category="gaming")
    body = (await client.get(f"/api/v1/videos/{seed}/related")).json()
    assert ids(body)[:2] == [close, near]
    assert len(ids(body)) == 2
    hidden = await publish_video(runtime, a, visibility="private")
    r = await client.get(f"/api/v1/videos/{hidden}/related")
    assert_problem(r, 404, "video_not_found")


async def test_training_learns_weights_that_then_rank(runtime: Runtime) -> None:
    from reelstack.recommend.features import FEATURES
    from reelstack.recommend.models import Impression
    from reelstack.recommend.ranker import current_ranker

    creator, viewer = await make_user(runtime), await make_user(runtime)
    videos = [await publish_video(runtime, creator) for _ in range(4)]
    rows = []
    for n in range(240):
        good = n % 2 == 0
        features = dict.fromkeys(FEATURES, 0.0) | {"similarity": 0.9 if good else -0.5}
        rows.append(
            {
                "user_id": viewer.id, "video_id": videos[0 if good else 1], "feed": "for_you",
                "source": "affinity", "position": n, "score": 0.0, "features": features,
            }
        )  # fmt: skip
    from sqlalchemy import insert

    from reelstack.interactions.models import VideoLike

    async with runtime.unit_of_work() as session:
        await session.execute(insert(Impression), rows)
        await session.execute(insert(VideoLike).values(user_id=viewer.id, video_id=videos[0]))
    model = await training.train(runtime)
    assert model is not None and model.weights["similarity"] > 0
    ranker = await current_ranker(runtime)
    assert ranker.learned
    good = ranker.score(dict.fromkeys(FEATURES, 0.0) | {"similarity": 0.9})
    bad = ranker.score(dict.fromkeys(FEATURES, 0.0) | {"similarity": -0.5})
    assert good > 0.5 > bad


async def test_feed_pages_leave_out_creators_blocked_either_way(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """A feed page reads each candidate's visibility facts with the viewer's relationship to
    its creator: whom the viewer blocks, who blocks the viewer, whom the viewer follows."""
    viewer = await make_user(runtime)
    blocked, blocker, followed, other = [await make_user(runtime) for _ in range(4)]
    tags = ("cooking", "pasta")
    videos = {
        name: await publish_video(runtime, user, hashtags=tags, visibility=audience)
        for name, user, audience in (
            ("seed", other, "public"),
            ("blocked", blocked, "public"),
            ("blocker", blocker, "public"),
            ("followed", followed, "followers"),
            ("not_followed", other, "followers"),
            ("plain", other, "public"),
        )
    }
    fans = [await make_user(runtime) for _ in range(2)]
    for fan in fans:
        for creator in (followed, other):  # so they may like the followers-only ones
            r = await client.post(f"/api/v1/users/{creator.id}/follow", headers=fan.headers)
            assert r.status_code == 200, r.text
        for video in videos.values():
            await client.post(f"/api/v1/videos/{video}/like", headers=fan.headers)
    h = viewer.headers
    assert (await client.post(f"/api/v1/users/{blocked.id}/block", headers=h)).status_code < 300
    r = await client.post(f"/api/v1/users/{viewer.id}/block", headers=blocker.headers)
    assert r.status_code < 300, r.text
    r = await client.post(f"/api/v1/users/{followed.id}/follow", headers=h)
    assert r.status_code == 200, r.text
    await drain(runtime)
    await trending.refresh_all(runtime)

    # Trending holds public videos only; related ones may be followers-only.
    shown = set(ids((await client.get("/api/v1/feed/trending?time_range=7d", headers=h)).json()))
    assert shown == {videos["seed"], videos["plain"]}
    related = await client.get(f"/api/v1/videos/{videos['seed']}/related", headers=h)
    assert set(ids(related.json())) == {videos["followed"], videos["plain"]}
    # Signed out: only the public ones of creators nobody blocked.
    public = {videos["seed"], videos["blocked"], videos["blocker"], videos["plain"]}
    anonymous = (await client.get("/api/v1/feed/trending?time_range=7d")).json()
    assert set(ids(anonymous)) == public
