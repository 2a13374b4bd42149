"""A feed card is the video as its own page shows it to the same viewer: feeds load only the
columns a card needs (not whole rows), and must not drift from `GET /videos/{id}`."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests.factories import TestUser, make_user
from tests.integration.feed.helpers import drain, follow, publish_video

# Text a card writer could get wrong: quotes, a backslash, JSON's own braces, a newline, and
# characters outside ASCII.
DESCRIPTION = 'Step by "step" \\ {"x": 1}\n✓ café 🍳'


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
                description=DESCRIPTION,
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
    assert shown["description"] == DESCRIPTION and shown["allow_comments"] is False
    assert cards[plain]["user_interaction"] == {"liked": False, "saved": False}
    assert cards[plain]["hashtags"] == ["cooking"] and cards[plain]["category"] == "food"


async def _card(
    client: httpx.AsyncClient, viewer: TestUser, video_id: str
) -> dict[str, Any] | None:
    body = (await client.get("/api/v1/feed/following", headers=viewer.headers)).json()
    return next((card for card in body["videos"] if card["video_id"] == video_id), None)


async def test_a_kept_card_follows_edits_to_the_video_and_its_creator(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Pages write cards kept between requests; an edit shows on the very next page."""
    creator = await make_user(runtime)
    fan = await make_user(runtime)
    await follow(client, fan, creator)
    video_id = await publish_video(runtime, creator, hashtags=("cooking",))
    await drain(runtime)
    first = await _card(client, fan, video_id)
    assert first is not None and first["caption"] == "#cooking"

    r = await client.patch(
        f"/api/v1/videos/{video_id}",
        json={"caption": "Sunday soup", "allow_comments": False},
        headers=creator.headers,
    )
    assert r.status_code == 200, r.text
    edited = await _card(client, fan, video_id)
    assert edited is not None
    assert edited["caption"] == "Sunday soup" and edited["allow_comments"] is False

    r = await client.patch(
        "/api/v1/users/me", json={"display_name": "Chef Ana"}, headers=creator.headers
    )
    assert r.status_code == 200, r.text
    renamed = await _card(client, fan, video_id)
    assert renamed is not None and renamed["user"]["display_name"] == "Chef Ana"

    r = await client.patch(
        f"/api/v1/videos/{video_id}", json={"visibility": "private"}, headers=creator.headers
    )
    assert r.status_code == 200, r.text
    assert await _card(client, fan, video_id) is None  # kept as text, never as a permission


async def test_viewers_share_a_card_but_each_gets_their_own_state(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator = await make_user(runtime)
    fans = [await make_user(runtime), await make_user(runtime)]
    for fan in fans:
        await follow(client, fan, creator)
    video_id = await publish_video(runtime, creator)
    async with runtime.unit_of_work() as session:
        await session.execute(
            update(Video).where(Video.id == video_id).values(renditions=[{"name": "360p"}])
        )
    await drain(runtime)
    assert await _card(client, fans[1], video_id) is not None  # the card is kept from here on
    r = await client.post(f"/api/v1/videos/{video_id}/like", headers=fans[0].headers)
    assert r.status_code == 200, r.text
    await drain(runtime)

    liker, other = [await _card(client, fan, video_id) for fan in fans]
    assert liker is not None and other is not None
    assert liker["user_interaction"]["liked"] is True
    assert other["user_interaction"]["liked"] is False
    assert liker["stats"]["likes"] == other["stats"]["likes"] == 1
    # Each card's playlist URLs carry a token minted for the viewer it was written for.
    for card, fan, stranger in ((liker, fans[0], fans[1]), (other, fans[1], fans[0])):
        token = card["video_urls"]["hls"].split("t=")[1]
        assert f".{fan.id}." in token and stranger.id not in token
