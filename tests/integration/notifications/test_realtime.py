"""Real-time notifications over a real socket: the app served by uvicorn on 127.0.0.1 (on both
deployments), spoken to by a WebSocket client and by an httpx event-stream reader."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from reelstack.accounts.security import AccessTokens
from reelstack.app import create_app
from reelstack.runtime import Runtime
from tests.conftest import free_port
from tests.factories import TestUser, make_user
from tests.integration.notifications.helpers import follow, notifications_of

TIMEOUT = 10.0


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[str]:
    """The app on a real port; yields its host:port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime=runtime), host="127.0.0.1", port=port, log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    deadline = time.monotonic() + TIMEOUT
    while not served.started:
        assert time.monotonic() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        served.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)


def socket_url(server: str, token: str | None = None) -> str:
    return f"ws://{server}/api/v1/ws" + (f"?token={token}" if token else "")


async def receive(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def receive_type(ws: ClientConnection, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next message of this type, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(ws, max(0.01, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


async def signed_in_socket(server: str, user: TestUser) -> ClientConnection:
    ws = await connect(socket_url(server))
    await ws.send(json.dumps({"type": "auth", "token": user.access_token}))
    hello = await receive(ws)
    assert hello["type"] == "authenticated" and hello["user_id"] == user.id
    assert 0 < hello["expires_in"] <= 15 * 60
    return ws


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_a_websocket_hears_a_follow_as_it_happens(
    server: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star, fan = await make_user(runtime, "star"), await make_user(runtime, "fan")
    async with await signed_in_socket(server, star) as ws:
        assert await receive(ws) == {"type": "unread_count", "count": 0}
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}

        await follow(client, fan, star)
        pushed = await receive_type(ws, "notification")
        listed = await notifications_of(client, star)
        assert pushed["notification"] == listed[0]  # the same shape as the list
        assert pushed["notification"]["type"] == "new_follower"
        assert pushed["notification"]["text"] == "fan started following you."
        assert await receive(ws) == {"type": "unread_count", "count": 1}

        # Reading on another device updates this one's badge.
        r = await client.post(
            "/api/v1/notifications/read", headers=star.headers, json={"all": True}
        )
        assert r.status_code == 200
        assert await receive(ws) == {"type": "unread_count", "count": 0}

        await ws.send("not json")
        assert (await receive(ws))["code"] == "bad_message"
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}


async def test_the_token_may_come_in_the_query(
    server: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star, fan = await make_user(runtime, "star"), await make_user(runtime, "fan")
    async with await connect(socket_url(server, star.access_token)) as ws:
        assert (await receive(ws))["type"] == "authenticated"
        assert await receive(ws) == {"type": "unread_count", "count": 0}
        await follow(client, fan, star)
        assert (await receive_type(ws, "notification"))["notification"]["type"] == "new_follower"


@pytest.mark.parametrize("settings_overrides", [{"notification_ws_auth_timeout_seconds": 0.5}])
async def test_sockets_without_a_good_token_are_closed_with_4401(
    server: str, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    expired = AccessTokens(runtime.settings.signing_key, -30).issue(user.id, "user", "fam")
    async with await connect(socket_url(server, "not-a-token")) as ws:
        assert await closed_with(ws) == 4401
    async with await connect(socket_url(server, expired)) as ws:
        assert await closed_with(ws) == 4401
    async with await connect(socket_url(server)) as ws:
        await ws.send(json.dumps({"type": "ping"}))  # not an auth message
        assert await closed_with(ws) == 4401
    async with await connect(socket_url(server)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": expired}))
        assert await closed_with(ws) == 4401
    async with await connect(socket_url(server)) as ws:
        started = time.monotonic()
        assert await closed_with(ws) == 4401  # said nothing at all
        assert time.monotonic() - started < 5


async def test_a_socket_closes_when_its_token_expires_unless_renewed(
    server: str, runtime: Runtime
) -> None:
    user, other = await make_user(runtime), await make_user(runtime)
    short = AccessTokens(runtime.settings.signing_key, 2)
    async with await connect(socket_url(server, short.issue(user.id, "user", "f"))) as ws:
        assert await closed_with(ws) == 4401

    async with await connect(socket_url(server, short.issue(user.id, "user", "f"))) as ws:
        assert (await receive(ws))["expires_in"] <= 2
        assert (await receive(ws))["type"] == "unread_count"
        await ws.send(json.dumps({"type": "auth", "token": user.access_token}))
        renewed = await receive_type(ws, "authenticated")
        assert renewed["expires_in"] > 60
        await asyncio.sleep(2.5)
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive_type(ws, "pong") == {"type": "pong"}
        # Another user's token does not take over the socket.
        await ws.send(json.dumps({"type": "auth", "token": other.access_token}))
        assert await closed_with(ws) == 4401


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_authenticated": "3/minute"}])
async def test_messages_are_not_rate_limited_but_opening_sockets_is(
    server: str, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    async with await signed_in_socket(server, user) as ws:
        for _ in range(20):
            await ws.send(json.dumps({"type": "ping"}))
            assert await receive_type(ws, "pong") == {"type": "pong"}
    for _ in range(2):
        async with await signed_in_socket(server, user):
            pass
    async with await connect(socket_url(server, user.access_token)) as ws:
        assert await closed_with(ws) == 4429


class EventReader:
    """Reads an event stream event by event (comments included, as {"comment": ...})."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, wanted: int = 1) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        current: dict[str, str] = {}
        while len(events) < wanted:
            line = await anext(self._lines)
            if line == "":
                if current:
                    events.append(current)
                    current = {}
                continue
            name, _, value = line.partition(":")
            current[name or "comment"] = value.removeprefix(" ")
        return events


@pytest.mark.parametrize("settings_overrides", [{"notification_stream_heartbeat_seconds": 0.3}])
async def test_server_sent_events_carry_notifications_and_heartbeats(
    server: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star, fan = await make_user(runtime, "star"), await make_user(runtime, "fan")
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=TIMEOUT) as http,
        http.stream("GET", "/api/v1/notifications/stream", headers=star.headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventReader(response)
        (first,) = await stream.next()
        assert first["event"] == "unread_count"
        assert json.loads(first["data"]) == {"type": "unread_count", "count": 0}
        (beat,) = await stream.next()
        assert beat == {"comment": "heartbeat"}

        await follow(client, fan, star)

        async def until_counted() -> list[dict[str, str]]:
            events: list[dict[str, str]] = []
            while not any(e.get("event") == "unread_count" for e in events):
                events += await stream.next()
            return events

        events = await asyncio.wait_for(until_counted(), TIMEOUT)
        told = [json.loads(e["data"]) for e in events if e.get("event") == "notification"]
        assert len(told) == 1, events
        note = told[0]["notification"]
        assert note["type"] == "new_follower" and note["actors"][0]["user_id"] == fan.id
        assert json.loads(events[-1]["data"]) == {"type": "unread_count", "count": 1}


async def test_an_event_stream_needs_a_valid_token(server: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=TIMEOUT) as http:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            r = await http.get("/api/v1/notifications/stream", headers=headers)
            assert r.status_code == 401
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_count_read_earlier_is_never_published_after_a_later_one(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pushes to one user at once (a like digest's and a comment digest's): the one that
    read the unread count first publishes first, so the last count a client hears is current."""
    from reelstack.notifications import delivery, repository, service
    from reelstack.notifications.models import NotificationType
    from reelstack.notifications.service import NewNotification

    owner, ana, ben = [await make_user(runtime) for _ in range(3)]
    read_first = asyncio.Event()
    let_first_publish = asyncio.Event()
    calls = 0
    real_count = repository.unread_count

    async def slow_first(session: Any, user_id: str) -> int:
        nonlocal calls
        calls += 1
        count = await real_count(session, user_id)
        if calls == 1:  # the first push has read its count, and is held before publishing
            read_first.set()
            await let_first_publish.wait()
        return count

    monkeypatch.setattr(repository, "unread_count", slow_first)

    async def tell(actor: TestUser) -> str:
        async with runtime.unit_of_work() as session:
            note = NewNotification(owner.id, NotificationType.NEW_FOLLOWER, actor.id, actor.id)
            created = await service.create(session, note)
        assert created is not None
        return created

    async with runtime.realtime.subscribe(delivery.user_channel(owner.id)) as heard:
        first = asyncio.create_task(delivery.push(runtime, owner.id, [await tell(ana)]))
        await read_first.wait()
        second = asyncio.create_task(delivery.push(runtime, owner.id, [await tell(ben)]))
        await asyncio.sleep(0.2)  # the second push, unheld, would read 2 and publish it now
        let_first_publish.set()
        await asyncio.gather(first, second)
        counts = []
        while (message := await heard.get(timeout=0.5)) is not None:
            if message["type"] == "unread_count":
                counts.append(message["count"])
    assert counts == [1, 2]
