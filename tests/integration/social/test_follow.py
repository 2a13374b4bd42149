"""The follow graph over HTTP: idempotence, counts under concurrency, private accounts."""

from __future__ import annotations

import asyncio
import random

import httpx
from sqlalchemy import func, select, update

from reelstack.accounts.models import User
from reelstack.errors import NotFound
from reelstack.runtime import Runtime
from reelstack.social.models import Follow
from reelstack.social.tasks import recount_follow_counts
from tests.factories import TestUser, assert_problem, make_user


async def profile(client: httpx.AsyncClient, ref: str, viewer: TestUser | None = None) -> dict:
    r = await client.get(f"/api/v1/users/{ref}", headers=viewer.headers if viewer else {})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def follow_rows(rt: Runtime, followee_id: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Follow).where(Follow.followee_id == followee_id)
            )
            or 0
        )


async def test_follow_is_idempotent_and_counts_both_sides(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice, bob = await make_user(runtime, "alice"), await make_user(runtime, "bob")
    for _ in range(2):
        r = await client.post(f"/api/v1/users/{alice.id}/follow", headers=bob.headers)
        assert r.status_code == 200
        assert r.json() == {"is_following": True, "follow_requested": False, "follower_count": 1}
    seen_by_bob = await profile(client, "@alice", bob)
    assert seen_by_bob["stats"]["followers"] == 1 and seen_by_bob["is_following"] is True
    seen_by_alice = await profile(client, "@bob", alice)
    assert seen_by_alice["stats"]["following"] == 1 and seen_by_alice["is_followed_by"] is True
    assert (await profile(client, alice.id))["is_following"] is False  # anonymous viewer

    for _ in range(2):
        r = await client.delete(f"/api/v1/users/{alice.id}/follow", headers=bob.headers)
        assert r.json() == {"is_following": False, "follow_requested": False, "follower_count": 0}
    assert (await profile(client, "@bob"))["stats"]["following"] == 0


async def test_cannot_follow_self_or_a_missing_user(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    assert_problem(
        await client.post(f"/api/v1/users/{me.id}/follow", headers=me.headers),
        422,
        "cannot_follow_self",
    )
    assert_problem(
        await client.post("/api/v1/users/@ghost/follow", headers=me.headers), 404, "user_not_found"
    )
    assert_problem(await client.post(f"/api/v1/users/{me.id}/follow"), 401, "not_authenticated")


async def test_fifty_users_following_and_unfollowing_concurrently_keep_the_count_exact(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star = await make_user(runtime, "star")
    fans = await asyncio.gather(*(make_user(runtime, f"fan{i}") for i in range(50)))
    rng = random.Random(7)

    async def churn(fan: TestUser) -> None:
        # Each fan follows and unfollows a few times, overlapping with everyone else.
        for _ in range(rng.randint(1, 3)):
            await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
            if rng.random() < 0.5:
                await client.delete(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
        if rng.random() < 0.6:
            await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)

    results = await asyncio.gather(*(churn(f) for f in fans), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)]
    rows = await follow_rows(runtime, star.id)
    assert 0 < rows <= 50
    assert (await profile(client, star.id))["stats"]["followers"] == rows
    following = 0
    for fan in fans:
        following += (await profile(client, fan.id))["stats"]["following"]
    assert following == rows


async def test_recount_job_repairs_drifted_counts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    a, b = await make_user(runtime), await make_user(runtime)
    await client.post(f"/api/v1/users/{a.id}/follow", headers=b.headers)
    async with runtime.unit_of_work() as session:  # simulate drift, e.g. a crashed manual edit
        await session.execute(update(User).where(User.id == a.id).values(follower_count=42))
        await session.execute(update(User).where(User.id == b.id).values(following_count=-3))
    assert (await profile(client, a.id))["stats"]["followers"] == 42
    await recount_follow_counts(runtime)
    assert (await profile(client, a.id))["stats"]["followers"] == 1
    assert (await profile(client, b.id))["stats"]["following"] == 1


async def test_private_account_turns_follows_into_requests(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "hidden", private=True)
    fan, other = await make_user(runtime, "fan"), await make_user(runtime, "other")
    r = await client.post(f"/api/v1/users/{owner.id}/follow", headers=fan.headers)
    assert r.json() == {"is_following": False, "follow_requested": True, "follower_count": 0}
    await client.post(f"/api/v1/users/{owner.id}/follow", headers=fan.headers)  # idempotent
    await client.post(f"/api/v1/users/{owner.id}/follow", headers=other.headers)
    assert (await profile(client, owner.id, fan))["follow_requested"] is True

    # Until approved, the follower list of a private account is closed to them.
    assert_problem(
        await client.get(f"/api/v1/users/{owner.id}/followers", headers=fan.headers),
        403,
        "private_account",
    )

    pending = (await client.get("/api/v1/follow-requests", headers=owner.headers)).json()
    assert [req["user"]["username"] for req in pending["requests"]] == ["other", "fan"]
    by_name = {req["user"]["username"]: req["request_id"] for req in pending["requests"]}

    # Nobody else can answer someone's requests.
    assert_problem(
        await client.post(f"/api/v1/follow-requests/{by_name['fan']}/approve", headers=fan.headers),
        404,
        "follow_request_not_found",
    )
    assert (
        await client.post(
            f"/api/v1/follow-requests/{by_name['fan']}/approve", headers=owner.headers
        )
    ).status_code == 204
    assert (
        await client.post(
            f"/api/v1/follow-requests/{by_name['other']}/decline", headers=owner.headers
        )
    ).status_code == 204

    seen = await profile(client, owner.id, fan)
    assert seen["is_following"] is True and seen["stats"]["followers"] == 1
    assert (await profile(client, owner.id, other))["follow_requested"] is False
    followers = (
        await client.get(f"/api/v1/users/{owner.id}/followers", headers=fan.headers)
    ).json()
    assert [u["username"] for u in followers["users"]] == ["fan"]
    assert (await client.get("/api/v1/follow-requests", headers=owner.headers)).json()[
        "requests"
    ] == []


async def test_going_public_lets_waiting_requesters_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, private=True)
    fan = await make_user(runtime)
    await client.post(f"/api/v1/users/{owner.id}/follow", headers=fan.headers)
    r = await client.patch("/api/v1/users/me", json={"is_private": False}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["is_private"] is False
    assert r.json()["stats"]["followers"] == 1
    assert (await profile(client, owner.id, fan))["is_following"] is True


async def test_follower_lists_page_without_gaps_or_duplicates(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star = await make_user(runtime)
    fans = [await make_user(runtime) for _ in range(7)]
    for fan in fans:
        await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"page_size": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/api/v1/users/{star.id}/followers", params=params)).json()
        pages += 1
        seen += [u["user_id"] for u in page["users"]]
        if pages == 1:  # a new follower arriving mid-way must not shift later pages
            late = await make_user(runtime)
            await client.post(f"/api/v1/users/{star.id}/follow", headers=late.headers)
        assert page["has_more"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f.id for f in reversed(fans)]  # newest first, each exactly once
    following = (await client.get(f"/api/v1/users/{fans[0].id}/following")).json()
    assert [u["user_id"] for u in following["users"]] == [star.id]
    assert_problem(
        await client.get(f"/api/v1/users/{star.id}/followers", params={"cursor": "not-a-cursor"}),
        422,
        "invalid_cursor",
    )


async def test_list_pages_use_a_fixed_number_of_queries(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from sqlalchemy import event

    star = await make_user(runtime)
    viewer = await make_user(runtime)

    async def count_queries(page_size: int) -> int:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        engine = runtime.db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            r = await client.get(
                f"/api/v1/users/{star.id}/followers",
                params={"page_size": page_size},
                headers=viewer.headers,
            )
            assert len(r.json()["users"]) == page_size
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    # Each follow's notification job reads through the same engine: let them all finish (the
    # last thing each does is push the unread count) before counting this request's queries.
    async with runtime.realtime.subscribe(f"user:{star.id}") as star_feed:
        for _ in range(12):
            fan = await make_user(runtime)
            await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
        pushed = 0
        while pushed < 12:
            message = await star_feed.get(timeout=10)
            assert message is not None, "the follow notifications did not all arrive"
            pushed += message["type"] == "unread_count"
    assert await count_queries(2) == await count_queries(12)


async def test_users_following_each_other_at_once_never_deadlock(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    pairs = [(await make_user(runtime), await make_user(runtime)) for _ in range(15)]
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/users/{b.id}/follow", headers=a.headers) for a, b in pairs),
        *(client.post(f"/api/v1/users/{a.id}/follow", headers=b.headers) for a, b in pairs),
    )
    assert [r.status_code for r in responses] == [200] * 30
    for a, b in pairs:
        seen = await profile(client, a.id, b)
        assert seen["is_following"] and seen["is_followed_by"]
        assert seen["stats"]["followers"] == 1 and seen["stats"]["following"] == 1


async def test_a_follow_waits_for_a_block_in_progress_and_then_respects_it(
    runtime: Runtime,
) -> None:
    from reelstack.accounts import service as accounts
    from reelstack.social import service as social

    victim, pest = await make_user(runtime), await make_user(runtime)

    async def pest_follows() -> None:
        async with runtime.unit_of_work() as session:
            await social.follow(session, pest.id, victim.id)

    async with runtime.unit_of_work() as blocking:
        # A block has started and holds the pair (on SQLite: the one write connection).
        await accounts.lock_users(blocking, [victim.id, pest.id])
        follow = asyncio.create_task(pest_follows())
        await asyncio.sleep(0.3)
        assert not follow.done()  # the follow cannot decide anything while the block runs
        await social.block(blocking, victim.id, pest.id)
    # Once the block commits the follow goes on, sees it, and gets nowhere.
    try:
        await asyncio.wait_for(follow, 10)
        raise AssertionError("the follow of a blocker succeeded")
    except NotFound:
        pass
    async with runtime.unit_of_work(write=False) as session:
        rows = (await session.execute(select(Follow.follower_id))).all()
    assert rows == []


async def test_going_public_while_requesters_block_never_deadlocks(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for _ in range(4):
        owner = await make_user(runtime, private=True)
        requesters = [await make_user(runtime) for _ in range(10)]
        for r in requesters:
            await client.post(f"/api/v1/users/{owner.id}/follow", headers=r.headers)
        responses = await asyncio.gather(
            client.patch("/api/v1/users/me", json={"is_private": False}, headers=owner.headers),
            *(
                client.post(f"/api/v1/users/{owner.id}/block", headers=r.headers)
                for r in requesters[:7]
            ),
        )
        assert [r.status_code for r in responses] == [200] * 8
        fans = (await client.get(f"/api/v1/users/{owner.id}/followers")).json()["users"]
        # Whoever blocked the owner is not left following them, whichever went first.
        assert {u["user_id"] for u in fans} == {r.id for r in requesters[7:]}
        assert (await profile(client, owner.id))["stats"]["followers"] == 3


async def test_going_public_lets_thousands_of_requesters_in_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from reelstack.db import utcnow
    from reelstack.infra.ids import new_id
    from reelstack.social.models import FollowRequest

    owner = await make_user(runtime, private=True)
    ids = [new_id() for _ in range(11_000)]  # 3 parameters a row would pass asyncpg's 32767
    async with runtime.unit_of_work() as session:
        await session.execute(
            User.__table__.insert(),
            [
                {
                    "id": i,
                    "username": f"r{n}",
                    "email": f"r{n}@example.com",
                    "password_hash": "x",
                    "display_name": "r",
                    "bio": "",
                    "role": "user",
                    "is_verified": False,
                    "is_private": False,
                    "is_active": True,
                    "follower_count": 0,
                    "following_count": 0,
                    "video_count": 0,
                    "total_likes": 0,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for n, i in enumerate(ids)
            ],
        )
        await session.execute(
            FollowRequest.__table__.insert(),
            [
                {"id": new_id(), "requester_id": i, "target_id": owner.id, "created_at": utcnow()}
                for i in ids
            ],
        )
    r = await client.patch("/api/v1/users/me", json={"is_private": False}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["stats"]["followers"] == 11_000
    assert await follow_rows(runtime, owner.id) == 11_000
    async with runtime.unit_of_work(write=False) as session:
        following = await session.scalar(
            select(func.sum(User.following_count)).where(User.id.in_(ids[:10] + ids[-10:]))
        )
    assert following == 20


async def test_going_public_waits_for_a_requester_in_progress_without_deadlock(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from reelstack.accounts import service as accounts
    from reelstack.social import service as social

    requester = await make_user(runtime)  # created first: the smaller id, locked first
    owner = await make_user(runtime, private=True)
    await client.post(f"/api/v1/users/{owner.id}/follow", headers=requester.headers)

    async with runtime.unit_of_work() as blocking:
        # The requester's block has started: it holds the requester's row...
        await accounts.lock_users(blocking, [requester.id])
        going_public = asyncio.create_task(
            client.patch("/api/v1/users/me", json={"is_private": False}, headers=owner.headers)
        )
        await asyncio.sleep(0.3)
        # ...and now needs the owner's row too. Had going public locked the owner first and
        # the requester second, each would wait for the other.
        await social.block(blocking, requester.id, owner.id)
    response = await asyncio.wait_for(going_public, 10)
    assert response.status_code == 200, response.text
    assert response.json()["stats"]["followers"] == 0
    assert response.json()["is_private"] is False
