"""One ffmpeg run or two, from how fast the machine has been encoding."""

from __future__ import annotations

from reelstack.infra.cache import MemoryCache
from reelstack.media import passes
from reelstack.media.ladder import Rung, plan_ladder
from reelstack.media.passes import (
    ONE_PASS_MIN_SPEED,
    known_throughput,
    pass_weight,
    plan_passes,
    predicted_speed,
    remember_throughput,
)
from tests.clips import make_source_info

INFO = make_source_info(1080, 1920)
LADDER = plan_ladder(INFO)


def names(runs: list[list[Rung]]) -> list[list[str]]:
    return [[rung.name for rung in run] for run in runs]


def throughput_for(speed: float) -> float:
    """The work per second at which this ladder encodes at `speed` x real time."""
    return speed * pass_weight(INFO, LADDER)


def test_the_first_video_on_a_machine_gets_its_lowest_rung_in_a_run_of_its_own() -> None:
    plan = plan_passes(INFO, LADDER, first_time=True, throughput=None)
    assert names(plan) == [["360p"], ["480p", "720p", "1080p"]]


def test_a_machine_that_encodes_the_ladder_near_real_time_makes_it_in_one_run() -> None:
    fast = plan_passes(INFO, LADDER, first_time=True, throughput=throughput_for(1.0))
    assert names(fast) == [["360p", "480p", "720p", "1080p"]]
    at_the_line = throughput_for(ONE_PASS_MIN_SPEED)
    assert len(plan_passes(INFO, LADDER, first_time=True, throughput=at_the_line)) == 1
    slow = plan_passes(INFO, LADDER, first_time=True, throughput=throughput_for(0.5))
    assert names(slow) == [["360p"], ["480p", "720p", "1080p"]]


def test_a_rerun_and_a_one_rung_ladder_take_one_run_whatever_the_speed() -> None:
    rest = LADDER[2:]
    assert names(plan_passes(INFO, rest, first_time=False, throughput=None)) == [["720p", "1080p"]]
    small = make_source_info(640, 360)
    one = plan_ladder(small)
    assert len(one) == 1
    assert names(plan_passes(small, one, first_time=True, throughput=None)) == [["360p"]]
    assert plan_passes(INFO, [], first_time=True, throughput=None) == []


def test_a_bigger_ladder_is_predicted_slower_at_the_same_throughput() -> None:
    throughput = throughput_for(1.0)
    small = make_source_info(854, 480)
    assert predicted_speed(small, plan_ladder(small), throughput) > 2.0
    assert predicted_speed(INFO, LADDER, throughput) == 1.0


async def test_the_throughput_is_learned_averaged_and_short_encodes_are_ignored() -> None:
    cache = MemoryCache()
    assert await known_throughput(cache) is None
    assert await remember_throughput(cache, work=1000.0, seconds=1.0) is None  # start-up noise
    assert await known_throughput(cache) is None
    await remember_throughput(cache, work=4000.0, seconds=4.0)
    assert await known_throughput(cache) == 1000.0
    await remember_throughput(cache, work=12000.0, seconds=4.0)  # one job at 3000/s
    assert await known_throughput(cache) == 2000.0


async def test_a_corrupt_remembered_value_is_treated_as_unknown() -> None:
    cache = MemoryCache()
    await remember_throughput(cache, work=4000.0, seconds=4.0)
    assert await known_throughput(cache) == 1000.0
    for bad in ("fast", "-1", "0"):
        await cache.set(passes._key(), bad)
        assert await known_throughput(cache) is None
