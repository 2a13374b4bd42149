"""Domain events: small frozen dataclasses; each handler runs as its own job after commit."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.db import JobRequest, enqueue_after_commit
from reelstack.infra.jobs import job

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every domain event; `name` is the dotted name in logs and the analytics stream."""

    name: ClassVar[str] = "event"


log = logging.getLogger(__name__)

EVENT_TYPES: dict[str, type[Event]] = {}
E = TypeVar("E", bound=Event)


def domain_event(cls: type[E]) -> type[E]:
    """Register an event class so a job can rebuild it from its JSON payload."""
    EVENT_TYPES[cls.name] = cls
    return cls


Handler = Callable[["Runtime", Any], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Coalescing:
    """A handler that runs once per key per `seconds`, however many events came: it reads what
    happened from the rows, so the event it receives (the first) only names what to look at."""

    key: Callable[[Any], str]
    seconds: float


COALESCED: dict[Handler, Coalescing] = {}
# Handlers that run in the committing process right after the commit (by job name).
IN_PROCESS: dict[str, Handler] = {}


def handler_job_name(handler: Handler) -> str:
    module = handler.__module__.removeprefix("reelstack.")
    return f"events.{module}.{handler.__name__}"


def event_handler(
    *,
    queue: str = "default",
    retries: int = 3,
    coalesce: Coalescing | None = None,
    in_process: bool = False,
) -> Callable[[Handler], Handler]:
    """Make `handler(rt, event)` a job that receives the event as JSON and rebuilds it.

    `in_process=True` is for a cheap reaction that only writes to the cache: it runs in the
    process that committed, right after the commit, with no job queue write, hand-off or retry.
    A crash between the commit and the call loses that reaction, so it must be a hint that
    nothing depends on (a For-You taste signal), never a row or a notification."""

    def register(handler: Handler) -> Handler:
        if in_process:
            IN_PROCESS[handler_job_name(handler)] = handler
            return handler
        if coalesce is not None:
            COALESCED[handler] = coalesce

        async def run(rt: Runtime, *, event_type: str, event: dict[str, Any]) -> None:
            await handler(rt, EVENT_TYPES[event_type](**event))

        job(handler_job_name(handler), queue=queue, retries=retries)(run)
        return handler

    return register


async def run_in_process(rt: Runtime, request: JobRequest) -> None:
    """Run an in-process handler of a committed event; its failure is logged, not raised (the
    data is committed, and the handler's effect is only a hint)."""
    try:
        event = EVENT_TYPES[request.payload["event_type"]](**request.payload["event"])
        await IN_PROCESS[request.name](rt, event)
    except Exception:
        log.exception("in-process handler %s failed", request.name)


def publish(session: AsyncSession, event: Event) -> None:
    """Schedule every handler of `event` to run after the session's transaction commits."""
    from reelstack.handlers import EVENT_HANDLERS  # the table imports every feature

    payload = {"event_type": event.name, "event": dataclasses.asdict(event)}
    for handler in EVENT_HANDLERS.get(type(event), ()):
        name = handler_job_name(handler)
        coalescing = COALESCED.get(handler)
        if name in IN_PROCESS:
            enqueue_after_commit(session, name, payload, in_process=True)
        elif coalescing is None:
            enqueue_after_commit(session, name, payload)
        else:
            enqueue_after_commit(
                session,
                name,
                payload,
                delay=coalescing.seconds,
                coalesce_key=f"{name}:{coalescing.key(event)}",
            )
