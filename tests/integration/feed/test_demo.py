"""The demo world: a community built fast, whose videos share real processed media."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, update

from reelstack.accounts.models import User
from reelstack.feed.demo import build_world
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests.factories import make_user


async def test_demo_world_shares_real_media_and_keeps_visibility_per_video(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    world = await build_world(runtime, users=16, videos=64, clips=1, seed=3)
    assert len(world.videos) == 64 and all(len(i) == 2 for i in world.interests.values())
    async with runtime.unit_of_work(write=False) as session:
        counts = sorted(
            (
                await session.scalars(
                    select(User.follower_count).where(User.id.in_(world.creators))
                )
            ).all(),
            reverse=True,
        )
        keys = set(await session.scalars(select(Video.mp4_key).where(Video.id.in_(world.videos))))
        liked = await session.scalar(select(func.sum(Video.like_count)))
    assert counts[0] > counts[-1]  # some creators are far more followed than others
    assert len(keys) == 1 and None not in keys  # one real clip behind every video
    assert liked and liked > 0

    viewer = await make_user(runtime)
    first, second = world.videos[:2]
    for video_id in (first, second):
        body = (await client.get(f"/api/v1/videos/{video_id}", headers=viewer.headers)).json()
        master = await client.get(body["video_urls"]["hls"])
        assert master.status_code == 200 and "#EXTM3U" in master.text
        mp4 = body["video_urls"]["mp4"]
        if mp4.startswith("http"):  # presigned S3: fetched from the bucket, not the app
            async with httpx.AsyncClient() as outside:
                assert (await outside.get(mp4)).status_code == 200
        else:
            assert (await client.get(mp4)).status_code == 200
    async with runtime.unit_of_work() as session:
        await session.execute(update(Video).where(Video.id == second).values(visibility="private"))
    master = await client.get(body["video_urls"]["hls"])
    assert master.status_code == 404  # its own audience, though its media is shared
