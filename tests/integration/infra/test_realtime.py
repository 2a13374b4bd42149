"""Real-time pub/sub: in-process (embedded) and Redis pub/sub between processes (scale-out)."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest

from reelstack.runtime import Runtime, open_runtime


async def test_subscriber_gets_messages_of_its_channel_only(runtime: Runtime) -> None:
    rt = runtime.realtime
    async with rt.subscribe("user:alice") as alice, rt.subscribe("user:bob") as bob:
        await rt.publish("user:alice", {"type": "new_follower", "follower_id": "b1"})
        await rt.publish("user:carol", {"type": "new_follower", "follower_id": "x"})
        await rt.publish("user:alice", {"type": "comment", "n": 2})

        assert await alice.get(timeout=2) == {"type": "new_follower", "follower_id": "b1"}
        assert await alice.get(timeout=2) == {"type": "comment", "n": 2}  # in order
        assert await alice.get(timeout=0.2) is None
        assert await bob.get(timeout=0.2) is None


async def test_every_subscriber_of_a_channel_gets_the_message(runtime: Runtime) -> None:
    rt = runtime.realtime
    async with rt.subscribe("video:v1") as tab1, rt.subscribe("video:v1") as tab2:
        await rt.publish("video:v1", {"type": "comment", "id": "c1"})
        assert await tab1.get(timeout=2) == {"type": "comment", "id": "c1"}
        assert await tab2.get(timeout=2) == {"type": "comment", "id": "c1"}


async def test_listening_names_the_channels_someone_is_subscribed_to(runtime: Runtime) -> None:
    rt = runtime.realtime
    assert await rt.listening(["user:alice", "user:bob"]) == set()
    async with rt.subscribe("user:alice"), rt.subscribe("user:alice"):
        assert await rt.listening(["user:alice", "user:bob"]) == {"user:alice"}
        async with rt.subscribe("user:bob"):
            assert await rt.listening(["user:alice", "user:bob"]) == {"user:alice", "user:bob"}
        assert await rt.listening(["user:bob"]) == set()
    assert await rt.listening(["user:alice"]) == set()


async def test_get_returns_none_when_the_timeout_passes(runtime: Runtime) -> None:
    async with runtime.realtime.subscribe("user:quiet") as sub:
        started = time.monotonic()
        assert await sub.get(timeout=0.3) is None
        assert 0.25 <= time.monotonic() - started < 1.5


async def test_a_closed_subscription_receives_nothing_more(runtime: Runtime) -> None:
    rt = runtime.realtime
    async with rt.subscribe("user:gone") as sub:
        await rt.publish("user:gone", {"n": 1})
        assert await sub.get(timeout=2) == {"n": 1}
    await rt.publish("user:gone", {"n": 2})  # nobody listens: no error
    async with rt.subscribe("user:gone") as again:
        assert await again.get(timeout=0.2) is None  # not replayed to a new subscriber


@pytest.mark.parametrize("deployment", ["scaleout"])
async def test_a_message_crosses_to_another_process(
    runtime: Runtime, make_settings: Any, settings_overrides: dict[str, Any]
) -> None:
    """An API process publishes; a client connected to a different API process hears it."""
    async with open_runtime(make_settings(**settings_overrides)) as other_process:
        assert other_process.realtime is not runtime.realtime
        async with (
            other_process.realtime.subscribe("user:alice") as sub,
            runtime.realtime.subscribe("user:alice") as local,
        ):
            await runtime.realtime.publish("user:alice", {"type": "new_follower", "n": 1})
            assert await sub.get(timeout=2) == {"type": "new_follower", "n": 1}
            assert await local.get(timeout=2) == {"type": "new_follower", "n": 1}
            # ...and back the other way.
            await other_process.realtime.publish("user:alice", {"type": "comment", "n": 2})
            assert await local.get(timeout=2) == {"type": "comment", "n": 2}


async def test_many_open_subscriptions_keep_working(runtime: Runtime) -> None:
    """One API process holds a subscription per connected client; a few hundred is ordinary."""
    rt = runtime.realtime
    count = 150
    async with AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(rt.subscribe(f"user:u{i}")) for i in range(count)]
        await asyncio.gather(*(rt.publish(f"user:u{i}", {"i": i}) for i in range(count)))
        got = await asyncio.gather(*(sub.get(timeout=3) for sub in subs))
    assert got == [{"i": i} for i in range(count)]
    # The process's other Redis work still has connections to use.
    await runtime.cache.set("still-working", "yes")
    assert await runtime.cache.get("still-working") == "yes"
