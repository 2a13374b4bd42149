"""How many ffmpeg runs a video's ladder gets, from how fast this machine has been encoding.

One run decodes the source once and makes every rung in lockstep: the least work, but the
lowest rung then grows at the pace of the whole ladder, and a viewer who starts it early only
keeps ahead of the encoder if that pace is near real time (`progressive.ready_to_play`: shown
after about `1 - speed / SPEED_MARGIN` of the encode). Two runs (the lowest rung alone, then
the rest) make the lowest rung playable within seconds on any machine, at the price of a
second decode of the source (about a tenth more CPU for the 1080p benchmark clip,
bench/RESULTS.md).

So the job asks what the machine did with the videos before: it remembers the rate at which
its encodes got through work (`pass_weight` units per second, averaged over the last few jobs,
per host) and runs one pass when that predicts this ladder at `ONE_PASS_MIN_SPEED` times real
time or faster, where the lowest rung is shown after at most a fifth of the encode; otherwise,
or when nothing is known yet (the first video on a machine), two.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from reelstack.media.ladder import Rung
from reelstack.media.probe import SourceInfo

if TYPE_CHECKING:
    from reelstack.infra.cache import Cache

ONE_PASS_MIN_SPEED = 0.85  # x real time; shown after ~19 % of the encode (SPEED_MARGIN 1.05)
MIN_MEASURED_SECONDS = 3.0  # shorter encodes are mostly start-up: too noisy to learn from
THROUGHPUT_TTL_SECONDS = 7 * 24 * 3600
DECODE_SHARE = 0.25  # decoding a source pixel costs about a quarter of encoding a rung pixel


def pass_weight(info: SourceInfo, rungs: list[Rung]) -> float:
    """The work of one run over the source making `rungs`, per second of video: decoded and
    encoded pixels per second (the 1080p benchmark clip: ~6 CPU-s to decode, ~50 to encode
    four rungs)."""
    fps = info.fps or 30.0
    decoded = fps * info.width * info.height * DECODE_SHARE
    return decoded + sum((rung.fps or fps) * rung.width * rung.height for rung in rungs)


def plan_passes(
    info: SourceInfo, todo: list[Rung], *, first_time: bool, throughput: float | None
) -> list[list[Rung]]:
    """The runs to make `todo` in, in order. A video that plays already (a re-run with only
    higher rungs left) gets one."""
    if not todo:
        return []
    if not first_time or len(todo) == 1:
        return [todo]
    if throughput is not None and predicted_speed(info, todo, throughput) >= ONE_PASS_MIN_SPEED:
        return [todo]
    return [todo[:1], todo[1:]]


def predicted_speed(info: SourceInfo, rungs: list[Rung], throughput: float) -> float:
    """Seconds of video one run making `rungs` would encode per second."""
    return throughput / pass_weight(info, rungs)


def _key() -> str:
    return f"media:encode-throughput:{socket.gethostname()}"


async def known_throughput(cache: Cache) -> float | None:
    """The work per second this host's encodes have managed lately, if any were measured."""
    raw = await cache.get(_key())
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


async def remember_throughput(cache: Cache, work: float, seconds: float) -> float | None:
    """Take in one job's encodes: `work` (`pass_weight` x seconds of video) done in `seconds`
    of ffmpeg runs. Averaged with what was known, so one busy moment does not decide alone."""
    if seconds < MIN_MEASURED_SECONDS or work <= 0:
        return None
    measured = work / seconds
    known = await known_throughput(cache)
    value = measured if known is None else (known + measured) / 2
    await cache.set(_key(), repr(value), ttl=THROUGHPUT_TTL_SECONDS)
    return value
