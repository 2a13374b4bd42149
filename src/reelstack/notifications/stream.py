"""Real-time notifications over a WebSocket or Server-Sent Events. Mounted outside the
per-request rate limit: opening a stream counts as one request, its messages as none."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, WebSocket
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.sse import EventSourceResponse, ServerSentEvent

from reelstack.deps import RuntimeDep, bearer
from reelstack.errors import NotAuthenticated
from reelstack.infra.routing import Router
from reelstack.notifications import delivery
from reelstack.notifications.delivery import StreamIdentity
from reelstack.notifications.socket import NotificationSocket
from reelstack.runtime import Runtime

router = Router(tags=["notifications"])


async def stream_identity(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> StreamIdentity:
    """The signed-in user opening a stream; the opening counts against their rate limit."""
    if credentials is None:
        raise NotAuthenticated()
    identity = delivery.authenticate(rt, credentials.credentials)
    await rt.limiter.hit(rt.settings.rate_limit_authenticated, "user", identity.user_id)
    return identity


@router.get(
    "/notifications/stream",
    response_class=EventSourceResponse,
    responses={200: {"description": "`text/event-stream` of notification events."}},
)
async def notification_stream(
    identity: Annotated[StreamIdentity, Depends(stream_identity)], rt: RuntimeDep
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: first `unread_count`, then a `notification` or `unread_count` event
    as each happens (data as on the WebSocket), and a `: heartbeat` comment when idle. The
    stream ends with a `token_expired` event when the access token does; reconnect with a
    fresh one."""
    heartbeat = rt.settings.notification_stream_heartbeat_seconds
    async with rt.realtime.subscribe(delivery.user_channel(identity.user_id)) as subscription:
        count = await delivery.current_unread(rt, identity.user_id)
        yield ServerSentEvent(event="unread_count", data=delivery.unread_message(count))
        while (remaining := identity.expires_at - time.time()) > 0:
            message = await subscription.get(timeout=min(heartbeat, remaining))
            if message is None:
                yield ServerSentEvent(comment="heartbeat")
            else:
                yield ServerSentEvent(event=str(message.get("type", "message")), data=message)
        yield ServerSentEvent(event="token_expired", data={"type": "token_expired"})


@router.websocket("/ws")
async def notification_socket(
    websocket: WebSocket,
    token: Annotated[str | None, Query(description="The access token, if not sent first.")] = None,
) -> None:
    """Notifications over a WebSocket; see `reelstack.notifications.socket` for the messages."""
    rt: Runtime = websocket.app.state.runtime
    await NotificationSocket(rt, websocket).run(token)
