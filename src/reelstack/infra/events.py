"""Domain events: small frozen dataclasses; each handler runs as its own job after commit."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.db import enqueue_after_commit
from reelstack.infra.jobs import job

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every domain event; `name` is the dotted name in logs and the analytics stream."""

    name: ClassVar[str] = "event"


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


def handler_job_name(handler: Handler) -> str:
    module = handler.__module__.removeprefix("reelstack.")
    return f"events.{module}.{handler.__name__}"


def event_handler(
    *, queue: str = "default", retries: int = 3, coalesce: Coalescing | None = None
) -> Callable[[Handler], Handler]:
    """Make `handler(rt, event)` a job that receives the event as JSON and rebuilds it."""

    def register(handler: Handler) -> Handler:
        if coalesce is not None:
            COALESCED[handler] = coalesce

        async def run(rt: Runtime, *, event_type: str, event: dict[str, Any]) -> None:
            await handler(rt, EVENT_TYPES[event_type](**event))

        job(handler_job_name(handler), queue=queue, retries=retries)(run)
        return handler

    return register


def publish(session: AsyncSession, event: Event) -> None:
    """Schedule every handler of `event` to run after the session's transaction commits."""
    from reelstack.handlers import EVENT_HANDLERS  # the table imports every feature

    payload = {"event_type": event.name, "event": dataclasses.asdict(event)}
    for handler in EVENT_HANDLERS.get(type(event), ()):
        name = handler_job_name(handler)
        coalescing = COALESCED.get(handler)
        if coalescing is None:
            enqueue_after_commit(session, name, payload)
        else:
            enqueue_after_commit(
                session,
                name,
                payload,
                delay=coalescing.seconds,
                coalesce_key=f"{name}:{coalescing.key(event)}",
            )
