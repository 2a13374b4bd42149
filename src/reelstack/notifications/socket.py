"""One browser's WebSocket for notifications: authenticate, then forward the user's real-time
messages until the client leaves or its access token expires.

Client -> server: {"type": "auth", "token": "..."} first (unless `?token=` was given) and again
with a fresh token before the old one expires; {"type": "ping"}.
Server -> client: {"type": "authenticated", "user_id", "expires_in"}, {"type": "unread_count",
"count"}, {"type": "notification", "notification"}, {"type": "pong"}, {"type": "error",
"code", "detail"} for a message it does not understand. The server closes with 4401 when the
token is missing, bad or expired, and 4429 when the user opens connections too fast.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from reelstack.errors import NotAuthenticated, RateLimited
from reelstack.infra.realtime import Subscription
from reelstack.notifications import delivery
from reelstack.notifications.delivery import StreamIdentity

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

CLOSE_UNAUTHENTICATED = 4401
CLOSE_RATE_LIMITED = 4429
MAX_MESSAGE_CHARS = 8192


class NotificationSocket:
    """The server's side of one notification WebSocket."""

    def __init__(self, rt: Runtime, websocket: WebSocket) -> None:
        self.rt = rt
        self.websocket = websocket
        self.identity: StreamIdentity | None = None
        self._send_lock = asyncio.Lock()

    async def run(self, query_token: str | None) -> None:
        """The whole life of the connection. No database session is held while it is open."""
        await self.websocket.accept()
        try:
            identity = await self._first_identity(query_token)
        except NotAuthenticated as exc:
            await self.websocket.close(CLOSE_UNAUTHENTICATED, exc.detail)
            return
        except WebSocketDisconnect:
            return
        try:
            # Opening the socket counts as one request; what flows over it does not.
            await self.rt.limiter.hit(
                self.rt.settings.rate_limit_authenticated, "user", identity.user_id
            )
        except RateLimited as exc:
            await self.websocket.close(CLOSE_RATE_LIMITED, exc.detail)
            return
        self.identity = identity
        channel = delivery.user_channel(identity.user_id)
        async with self.rt.realtime.subscribe(channel) as subscription:
            # Subscribed first, so nothing published after this count is missed.
            await self._authenticated()
            count = await delivery.current_unread(self.rt, identity.user_id)
            await self._send(delivery.unread_message(count))
            await self._serve(subscription)

    async def _first_identity(self, query_token: str | None) -> StreamIdentity:
        """Who the socket belongs to: the query's token, else the first message's."""
        if query_token:
            return delivery.authenticate(self.rt, query_token)
        timeout = self.rt.settings.notification_ws_auth_timeout_seconds
        try:
            raw = await asyncio.wait_for(self._next_text(), timeout)
        except TimeoutError:
            raise NotAuthenticated("No auth message came in time.") from None
        message = _parse(raw)
        if message is None or message.get("type") != "auth":
            raise NotAuthenticated('Send {"type": "auth", "token": ...} first.')
        return delivery.authenticate(self.rt, str(message.get("token", "")))

    async def _serve(self, subscription: Subscription) -> None:
        """Listen to the client and forward the user's messages at once, until either ends."""
        receiver = asyncio.create_task(self._receive())
        forwarder = asyncio.create_task(self._forward(subscription))
        try:
            done, _ = await asyncio.wait({receiver, forwarder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiver, forwarder):
                task.cancel()
            await asyncio.gather(receiver, forwarder, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect):
                raise error

    async def _receive(self) -> None:
        """Answer the client until it leaves."""
        while True:
            message = _parse(await self._next_text()) or {}
            kind = message.get("type")
            if kind == "ping":
                await self._send({"type": "pong"})
            elif kind == "auth":
                if not await self._reauthenticate(str(message.get("token", ""))):
                    return
            else:
                await self._send(
                    {
                        "type": "error",
                        "code": "bad_message",
                        "detail": 'Send JSON objects of type "ping" or "auth".',
                    }
                )

    async def _reauthenticate(self, token: str) -> bool:
        """A fresh token keeps the socket open past the old one's expiry; False when closed."""
        assert self.identity is not None
        try:
            identity = delivery.authenticate(self.rt, token)
        except NotAuthenticated as exc:
            await self._close(exc.detail)
            return False
        if identity.user_id != self.identity.user_id:
            await self._close("That token is another user's.")
            return False
        self.identity = identity
        await self._authenticated()
        return True

    async def _forward(self, subscription: Subscription) -> None:
        """Pass on the user's messages until their token expires."""
        while True:
            assert self.identity is not None
            remaining = self.identity.expires_at - time.time()
            if remaining <= 0:
                await self._close("The access token has expired; reconnect with a fresh one.")
                return
            message = await subscription.get(timeout=remaining)
            if message is not None:
                await self._send(message)

    async def _authenticated(self) -> None:
        assert self.identity is not None
        expires_in = max(0, int(self.identity.expires_at - time.time()))
        await self._send(
            {"type": "authenticated", "user_id": self.identity.user_id, "expires_in": expires_in}
        )

    async def _next_text(self) -> str:
        """The next text frame (a binary one reads as empty); raises when the client left."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text: str | None = message.get("text")
        return text or ""

    async def _send(self, message: dict[str, Any]) -> None:
        # The receiver (pongs) and the forwarder (notifications) share the socket.
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(message))

    async def _close(self, reason: str) -> None:
        async with self._send_lock:
            await self.websocket.close(CLOSE_UNAUTHENTICATED, reason)


def _parse(raw: str) -> dict[str, Any] | None:
    """A client message: a JSON object, or None for anything else."""
    if len(raw) > MAX_MESSAGE_CHARS:
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
