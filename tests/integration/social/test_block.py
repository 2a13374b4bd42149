"""Blocks: what the blocked user can no longer do or see."""

from __future__ import annotations

import httpx

from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user


async def test_block_removes_follows_both_ways_and_hides_the_blocker(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice, mallory = await make_user(runtime, "alice"), await make_user(runtime, "mallory")
    await client.post(f"/api/v1/users/{alice.id}/follow", headers=mallory.headers)
    await client.post(f"/api/v1/users/{mallory.id}/follow", headers=alice.headers)

    r = await client.post(f"/api/v1/users/{mallory.id}/block", headers=alice.headers)
    assert r.status_code == 200 and r.json() == {"is_blocking": True}
    assert (
        await client.post(f"/api/v1/users/{mallory.id}/block", headers=alice.headers)
    ).status_code == 200  # idempotent

    # Mallory sees no profile and cannot follow: as if alice did not exist.
    for ref in (alice.id, "@alice"):
        assert_problem(
            await client.get(f"/api/v1/users/{ref}", headers=mallory.headers), 404, "user_not_found"
        )
    assert_problem(
        await client.post(f"/api/v1/users/{alice.id}/follow", headers=mallory.headers),
        404,
        "user_not_found",
    )
    assert_problem(
        await client.get(f"/api/v1/users/{alice.id}/followers", headers=mallory.headers),
        404,
        "user_not_found",
    )

    # Alice still sees mallory's profile (to unblock), and nobody follows anybody any more.
    seen = (await client.get(f"/api/v1/users/{mallory.id}", headers=alice.headers)).json()
    assert seen["is_blocking"] is True and seen["is_following"] is False
    assert seen["stats"] == {"followers": 0, "following": 0, "videos": 0, "total_likes": 0}
    alice_public = (await client.get(f"/api/v1/users/{alice.id}")).json()
    assert alice_public["stats"]["followers"] == 0 and alice_public["stats"]["following"] == 0

    # Alice cannot follow someone she blocks without unblocking first.
    assert_problem(
        await client.post(f"/api/v1/users/{mallory.id}/follow", headers=alice.headers),
        409,
        "user_blocked",
    )
    blocks = (await client.get("/api/v1/users/me/blocks", headers=alice.headers)).json()
    assert [u["username"] for u in blocks["users"]] == ["mallory"]

    assert (
        await client.delete(f"/api/v1/users/{mallory.id}/block", headers=alice.headers)
    ).json() == {"is_blocking": False}
    assert (
        await client.get(f"/api/v1/users/{alice.id}", headers=mallory.headers)
    ).status_code == 200
    r = await client.post(f"/api/v1/users/{alice.id}/follow", headers=mallory.headers)
    assert r.json()["is_following"] is True


async def test_blocking_cancels_pending_requests(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, private=True)
    pest = await make_user(runtime)
    await client.post(f"/api/v1/users/{owner.id}/follow", headers=pest.headers)
    await client.post(f"/api/v1/users/{pest.id}/block", headers=owner.headers)
    pending = (await client.get("/api/v1/follow-requests", headers=owner.headers)).json()
    assert pending["requests"] == []
    assert_problem(
        await client.post(f"/api/v1/users/{owner.id}/block", headers=owner.headers),
        422,
        "cannot_block_self",
    )


async def test_lists_leave_out_users_who_block_the_viewer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star = await make_user(runtime)
    viewer = await make_user(runtime)
    blocker = await make_user(runtime)
    friendly = await make_user(runtime)
    for fan in (blocker, friendly):
        await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
    await client.post(f"/api/v1/users/{viewer.id}/block", headers=blocker.headers)
    names = [
        u["user_id"]
        for u in (
            await client.get(f"/api/v1/users/{star.id}/followers", headers=viewer.headers)
        ).json()["users"]
    ]
    assert names == [friendly.id]


async def test_a_mutual_block_still_shows_in_my_block_list(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    a, b = await make_user(runtime), await make_user(runtime)
    await client.post(f"/api/v1/users/{b.id}/block", headers=a.headers)
    await client.post(f"/api/v1/users/{a.id}/block", headers=b.headers)
    mine = (await client.get("/api/v1/users/me/blocks", headers=a.headers)).json()
    assert [u["user_id"] for u in mine["users"]] == [b.id]
