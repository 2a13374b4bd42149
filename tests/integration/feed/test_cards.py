"""A feed card is the video as its own page shows it to the same viewer: feeds load only the
columns a card needs (not whole rows), and must not drift from `GET /videos/{id}`."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests.factories import make_user
from tests.integration.feed.helpers import drain, follow, publish_video


async def test_a_feed_card_is_the_video_as_its_own_page_shows_it(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator = await make_user(runtime)
    fan = await make_user(runtime)
    await follow(client, fan, creator)
    plain = await publish_video(runtime, creator, hashtags=("cooking",), category="food")
    rich = await publish_video(runtime, creator, hashtags=("dance", "tutorial"))
    async with runtime.unit_of_work() as session:  # as processing leaves a real upload
        await session.execute(
            update(Video)
            .where(Video.id == rich)
            .values(
                description="Step by step.",
                allow_comments=False,
                renditions=[{"name": "360p"}, {"name": "720p"}],
                mp4_key=f"videos/{rich}/720p.mp4",
                thumbnails={
                    "posters": {"360": f"videos/{rich}/poster-360.jpg"},
                    "storyboard_key": f"videos/{rich}/storyboard.vtt",
                },
            )
        )
    h = fan.headers
    assert (await client.post(f"/api/v1/videos/{rich}/like", headers=h)).status_code == 200
    assert (await client.post(f"/api/v1/videos/{rich}/save", headers=h)).status_code == 200
    r = await client.post(
        f"/api/v1/videos/{rich}/watch-position", json={"position": 7.5, "duration": 20}, headers=h
    )
    assert r.status_code in (200, 204), r.text
    await drain(runtime)

    body = (await client.get("/api/v1/feed/following", headers=h)).json()
    cards = {card["video_id"]: card for card in body["videos"]}
    assert set(cards) == {plain, rich}
    for video_id, card in cards.items():
        assert card.pop("reason") == f"from @{creator.username}, whom you follow"
        page = await client.get(f"/api/v1/videos/{video_id}", headers=h)
        assert card == page.json()
    shown = cards[rich]
    assert shown["user_interaction"]["liked"] and shown["user_interaction"]["saved"]
    assert shown["stats"]["likes"] == 1 and shown["stats"]["saves"] == 1
    assert shown["resume_position"] == 7.5
    assert set(shown["video_urls"]) == {"hls", "mp4", "360p", "720p"}
    assert shown["thumbnails"]["storyboard_vtt"] and shown["thumbnail_url"]
    assert shown["description"] == "Step by step." and shown["allow_comments"] is False
    assert cards[plain]["user_interaction"] == {"liked": False, "saved": False}
    assert cards[plain]["hashtags"] == ["cooking"] and cards[plain]["category"] == "food"
