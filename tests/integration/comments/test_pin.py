"""The creator's pinned comment: one per video, top-level only, first on the first page."""

from __future__ import annotations

import httpx

from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.comments.helpers import comment, listing, texts


async def pin(client: httpx.AsyncClient, user: TestUser, comment_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/comments/{comment_id}/pin", headers=user.headers)


async def test_the_pinned_comment_leads_the_first_page_and_only_that(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    posted = [await comment(client, fan, video, f"c{i}") for i in range(5)]

    r = await pin(client, owner, posted[1]["comment_id"])
    assert r.status_code == 200, r.text
    assert r.json()["is_pinned"] is True
    assert (await pin(client, owner, posted[1]["comment_id"])).status_code == 200  # idempotent

    for sort in ("newest", "top"):
        first = await listing(client, video, fan, sort=sort, page_size=2)
        assert texts(first)[0] == "c1" and first["comments"][0]["is_pinned"] is True
        assert len(first["comments"]) == 3  # the pinned one, then a full page
        rest = await listing(client, video, fan, sort=sort, cursor=first["next_cursor"])
        assert "c1" not in texts(rest)
        assert sorted(str(t) for t in texts(first)[1:] + texts(rest)) == ["c0", "c2", "c3", "c4"]

    # Pinning another unpins the first.
    r = await pin(client, owner, posted[3]["comment_id"])
    assert r.status_code == 200
    page = await listing(client, video, sort="newest")
    assert texts(page) == ["c3", "c4", "c2", "c1", "c0"]
    assert [c["is_pinned"] for c in page["comments"]] == [True, False, False, False, False]

    r = await client.delete(
        f"/api/v1/comments/{posted[3]['comment_id']}/pin", headers=owner.headers
    )
    assert r.status_code == 200 and r.json()["is_pinned"] is False
    page = await listing(client, video, sort="newest")
    assert texts(page) == ["c4", "c3", "c2", "c1", "c0"]
    assert not any(c["is_pinned"] for c in page["comments"])


async def test_only_the_creator_pins_and_only_top_level_comments(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    top = await comment(client, fan, video, "top")
    reply = await comment(client, owner, video, "reply", top["comment_id"])

    assert_problem(await pin(client, fan, top["comment_id"]), 403, "not_video_owner")
    assert_problem(
        await client.delete(f"/api/v1/comments/{top['comment_id']}/pin", headers=fan.headers),
        403,
        "not_video_owner",
    )
    assert_problem(await pin(client, owner, reply["comment_id"]), 422, "cannot_pin_reply")
    assert not any(c["is_pinned"] for c in (await listing(client, video))["comments"])


async def test_deleting_the_pinned_comment_unpins_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    pinned = await comment(client, fan, video, "pinned")
    await comment(client, fan, video, "answer", pinned["comment_id"])
    other = await comment(client, fan, video, "other")
    await pin(client, owner, pinned["comment_id"])

    await client.delete(f"/api/v1/comments/{pinned['comment_id']}", headers=fan.headers)
    page = await listing(client, video, sort="newest")
    placeholder = next(c for c in page["comments"] if c["comment_id"] == pinned["comment_id"])
    assert placeholder["is_deleted"] is True and placeholder["is_pinned"] is False
    assert (await pin(client, owner, other["comment_id"])).status_code == 200
    assert texts(await listing(client, video, sort="newest"))[0] == "other"
