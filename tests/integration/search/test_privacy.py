"""Search never lists what the viewer may not see: the SQL filter agrees with `may_list`
(the one visibility function, listing=True) over every audience, state, follow and block."""

from __future__ import annotations

import itertools

import httpx
from sqlalchemy import select

from reelstack.accounts.models import User
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from reelstack.search.visibility import may_list
from reelstack.social import service as social
from tests.factories import TestUser, make_user
from tests.integration.search.helpers import found, indexed_video, search

WORD = "matrixword"


async def expected(rt: Runtime, viewer: TestUser | None, ids: list[str]) -> set[str]:
    """What `may_list` lets this viewer see, from the rows."""
    viewer_id = viewer.id if viewer else None
    async with rt.unit_of_work(write=False) as session:
        rows = (
            await session.execute(
                select(Video, User).join(User, User.id == Video.user_id).where(Video.id.in_(ids))
            )
        ).all()
        relations = await social.relationships(session, viewer_id, [u.id for _, u in rows])
    return {v.id for v, u in rows if may_list(viewer_id, v, u, relations[u.id])}


async def test_search_lists_exactly_what_the_visibility_rules_allow(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    follower, stranger, blocked, blocker = [await make_user(runtime) for _ in range(4)]
    gone = await make_user(runtime)
    ids = []
    for visibility, status, hidden in itertools.product(
        ("public", "unlisted", "followers", "private"), ("ready", "processing"), (False, True)
    ):
        ids.append(
            await indexed_video(
                runtime, owner, f"{WORD} {visibility}", visibility=visibility, status=status,
                hidden=hidden,
            )
        )  # fmt: skip
    ids.append(await indexed_video(runtime, gone, f"{WORD} by someone who left"))
    async with runtime.unit_of_work() as session:
        (await session.get_one(User, gone.id)).is_active = False
    r = await client.post(f"/api/v1/users/{owner.id}/follow", headers=follower.headers)
    assert r.status_code == 200, r.text
    for who, whom in ((owner, blocked), (blocker, owner)):
        r = await client.post(f"/api/v1/users/{whom.id}/block", headers=who.headers)
        assert r.status_code in (200, 204), r.text

    public_ready, followers_ready = ids[0], ids[8]  # product order: ready and not hidden
    for viewer in (None, owner, follower, stranger, blocked, blocker, gone):
        results = set(await found(client, WORD, viewer, page_size=100))
        assert results == await expected(runtime, viewer, ids), viewer
    # And what that means, spelled out.
    assert set(await found(client, WORD, page_size=100)) == {public_ready}
    assert set(await found(client, WORD, stranger, page_size=100)) == {public_ready}
    assert set(await found(client, WORD, follower, page_size=100)) == {
        public_ready,
        followers_ready,
    }
    assert len(await found(client, WORD, owner, page_size=100)) == 8  # every ready one
    assert await found(client, WORD, blocked) == []
    assert await found(client, WORD, blocker) == []


async def test_user_search_hides_blocks_both_ways_and_no_private_field(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from reelstack.search import tasks

    alice = await make_user(runtime, "alice_painter")
    bob = await make_user(runtime, "bob_painter")
    carol = await make_user(runtime, "carol_painter")
    for user in (alice, bob, carol):
        await tasks.index_user(runtime, user.id)
    await client.post(f"/api/v1/users/{bob.id}/block", headers=alice.headers)

    def names(r: httpx.Response) -> set[str]:
        assert r.status_code == 200, r.text
        return {u["username"] for u in r.json()["users"]}

    users = "/api/v1/search/users"
    assert names(await search(client, "painter", path=users)) == {
        "alice_painter", "bob_painter", "carol_painter"
    }  # fmt: skip
    assert names(await search(client, "painter", alice, path=users)) == {
        "alice_painter", "carol_painter"
    }  # fmt: skip
    assert names(await search(client, "painter", bob, path=users)) == {
        "bob_painter", "carol_painter"
    }  # fmt: skip
    # Emails are never indexed: the address's domain finds nobody.
    assert names(await search(client, "example.com", path=users)) == set()
