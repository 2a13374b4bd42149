"""What a viewer just did, kept in the cache for the next For-You page: watches through and
skips (from view reports), likes, shares, comments, follows and "not interested". Keyed by the
user, or by the player's session when signed out. Each new signal marks the viewer's
precomputed list stale, so it is rebuilt soon after activity."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

# How much each act says about the viewer's taste, from "not for me" to "more of this".
SIGNAL_WEIGHTS = {
    "watched": 1.0,  # watched at least half
    "skipped": -0.7,  # gone in under 3 s
    "like": 2.0,
    "share": 2.5,
    "save": 2.0,
    "comment": 2.0,
    "follow": 2.0,
    "not_interested": -4.0,
}
KEEP_SIGNALS = 300
SKIP_UNDER_MS = 3000
SESSION_SIGNAL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Signal:
    kind: str
    video_id: str | None
    creator_id: str | None
    at: float

    @property
    def weight(self) -> float:
        return SIGNAL_WEIGHTS.get(self.kind, 0.0)


def user_key(user_id: str) -> str:
    return f"u:{user_id}"


def session_key(session_id: str) -> str:
    return f"s:{session_id}"


def viewer_key(user_id: str | None, session_id: str | None) -> str | None:
    if user_id is not None:
        return user_key(user_id)
    return session_key(session_id) if session_id else None


def signals_key(who: str) -> str:
    return f"feed:signals:{who}"


def list_key(who: str) -> str:
    """Where the viewer's precomputed For-You list is kept."""
    return f"feed:fy:list:{who}"


def version_key(who: str) -> str:
    """The version of the viewer's list: a short key a page reads before the list itself."""
    return f"feed:fy:version:{who}"


def building_key(who: str) -> str:
    """Held while a job rebuilds the viewer's list, so reads ask for one rebuild at a time."""
    return f"feed:fy:building:{who}"


def rebuild_key(who: str) -> str:
    return f"feed:fy:rebuild:{who}"


async def _record(rt: Runtime, who: str, member: str) -> None:
    """Keep the signal, and have the viewer's For-You list rebuilt soon after the burst it
    belongs to: one delayed rebuild covers every signal until it runs. Viewers who have no
    list (they do not read For-You, or it expired) cost no job; their next page builds one."""
    # Read back for SESSION_SIGNAL_SECONDS only: the set goes that long after its last signal.
    await rt.cache.zadd(
        signals_key(who), {member: time.time()}, cap=KEEP_SIGNALS, ttl=SESSION_SIGNAL_SECONDS
    )
    delay = rt.settings.for_you_rebuild_delay_seconds
    if not await rt.cache.add(rebuild_key(who), "1", ttl=max(delay, 0.05)):
        return  # a rebuild is already scheduled after this signal
    if await rt.cache.get(version_key(who)) is None:
        return
    user_id = who.removeprefix("u:") if who.startswith("u:") else None
    await rt.jobs.enqueue(
        "feed.precompute_for_you", {"user_id": user_id, "who": who}, delay=delay or None
    )


async def record_video_signal(rt: Runtime, who: str, video_id: str, kind: str) -> None:
    await _record(rt, who, f"{kind}|{video_id}")


async def record_creator_signal(rt: Runtime, user_id: str, creator_id: str, kind: str) -> None:
    await _record(rt, user_key(user_id), f"{kind}|@{creator_id}")


async def record_watch(
    rt: Runtime, who: str | None, video_id: str, watched_ms: int, duration_ms: int
) -> None:
    """A playback report as a taste signal: half or more watched is positive, a skip under
    3 s negative, anything between says nothing."""
    if who is None:
        return
    if watched_ms >= duration_ms / 2:
        await record_video_signal(rt, who, video_id, "watched")
    elif watched_ms < SKIP_UNDER_MS:
        await record_video_signal(rt, who, video_id, "skipped")


async def recent_signals(rt: Runtime, who: str | None) -> list[Signal]:
    """The viewer's signals of the last hours, newest first."""
    if who is None:
        return []
    since = time.time() - SESSION_SIGNAL_SECONDS
    rows = await rt.cache.zrevrange(signals_key(who), min_score=since, limit=KEEP_SIGNALS)
    found = []
    for member, at in rows:
        kind, _, target = member.partition("|")
        if target.startswith("@"):
            found.append(Signal(kind, None, target[1:], at))
        else:
            found.append(Signal(kind, target, None, at))
    return found
