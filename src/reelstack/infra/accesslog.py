"""The access log: one line per HTTP request, written to standard output in batches.

It replaces uvicorn's, which logged the query string: playback URLs carry capability tokens
there (`?t=`, and the signatures of media URLs), so anyone who could read the logs could play
a private video for the next hour. Lines carry the client, method, path (as sent, still
percent-encoded, so a decoded newline cannot forge a line), status, time taken, and the
request id that the response's `X-Request-Id` and problem bodies show. A line is one f-string
appended to a list, written out when `max_lines` are waiting, every `interval` seconds, and at
shutdown: one write per batch instead of a formatted, flushed write per request.

    127.0.0.1:52114 - "POST /api/v1/videos/01m9.../like" 200 4.1ms 3f9a1c0d5e7b2a64
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger("reelstack.access")


class AccessLog:
    def __init__(self, *, max_lines: int = 256, interval: float = 0.25) -> None:
        self.enabled = False
        self._lines: list[str] = []
        self._max_lines = max_lines
        self._interval = interval

    def configure(self, wanted: bool) -> None:
        """On when the settings ask for it and the log level lets info lines through (as
        uvicorn's access log was)."""
        self.enabled = wanted and log.isEnabledFor(logging.INFO)

    def add(
        self,
        client: Any,
        method: str,
        path: str,
        status: int,
        seconds: float,
        request_id: bytes,
    ) -> None:
        where = f"{client[0]}:{client[1]}" if client else "-"
        self._lines.append(
            f'{where} - "{method} {path}" {status} {seconds * 1000:.1f}ms {request_id.decode()}\n'
        )
        if len(self._lines) >= self._max_lines:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        stream = sys.stdout  # looked up each time: tests and supervisors may replace it
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stdout must not fail requests
            pass

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush on a timer while the app runs, and once more when it stops."""

        async def every_interval() -> None:
            while True:
                await asyncio.sleep(self._interval)
                self.flush()

        task = asyncio.create_task(every_interval())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.flush()
