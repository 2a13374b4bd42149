"""The embedded deployment's rate limiter, on a clock the test moves: exact budgets over a
moving window, large budgets by the sliding-window estimate, and memory that does not grow
with everyone who ever made a request."""

from __future__ import annotations

import pytest

from reelstack.errors import RateLimited
from reelstack.infra.ratelimit import MemoryRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_small_budget_is_exact_over_a_moving_window() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(3):
        await limiter.hit("3/minute", "ip", "198.51.100.1")
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("3/minute", "ip", "198.51.100.1")
    # The first hit (30 s ago) leaves the window in 30 s.
    assert refused.value.headers["Retry-After"] == "30"
    # Another identity, or the same identity under another rule, has its own budget.
    await limiter.hit("3/minute", "ip", "198.51.100.2")
    await limiter.hit("5/minute", "ip", "198.51.100.1")
    # A refused request is not counted: once the first hit has left, one more fits.
    clock.now += 30
    await limiter.hit("3/minute", "ip", "198.51.100.1")
    with pytest.raises(RateLimited):
        await limiter.hit("3/minute", "ip", "198.51.100.1")


async def test_check_looks_without_spending_and_forgive_starts_over() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(5):
        await limiter.check("2/minute", "login", "alice")
    await limiter.hit("2/minute", "login", "alice")
    await limiter.hit("2/minute", "login", "alice")
    with pytest.raises(RateLimited):
        await limiter.check("2/minute", "login", "alice")
    await limiter.forgive("2/minute", "login", "alice")
    await limiter.hit("2/minute", "login", "alice")


async def test_a_large_budget_weighs_the_previous_window() -> None:
    clock = Clock()
    clock.now = 600.0  # the start of a fixed one-minute window
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(200):
        await limiter.hit("200/minute", "user", "u1")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("200/minute", "user", "u1")
    assert refused.value.headers["Retry-After"] == "60"  # the window is full until the next one
    # A quarter into the next window, the previous one still weighs 3/4: 150 of 200 spent.
    clock.now = 675.0
    for _ in range(50):
        await limiter.hit("200/minute", "user", "u1")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("200/minute", "user", "u1")
    # One more fits once the previous window's weight has dropped by 1/200: 0.3 s later.
    assert refused.value.headers["Retry-After"] == "1"
    clock.now += 0.4
    await limiter.hit("200/minute", "user", "u1")
    # Two windows later nothing of this is left.
    clock.now = 800.0
    for _ in range(200):
        await limiter.hit("200/minute", "user", "u1")


async def test_identities_that_stopped_are_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock, sweep_seconds=60)
    for i in range(1000):
        await limiter.hit("3/minute", "ip", f"ip{i}")
        await limiter.hit("600/minute", "user", f"user{i}")
    assert len(limiter._windows) == 2000
    clock.now += 61
    await limiter.hit("600/minute", "user", "user0")
    # The moving windows are empty; the estimates still weigh their previous window.
    assert len(limiter._windows) == 1000
    clock.now += 120
    await limiter.hit("600/minute", "user", "user0")
    assert len(limiter._windows) == 1


async def test_turned_off_counts_nothing() -> None:
    limiter = MemoryRateLimiter(enabled=False)
    for _ in range(10):
        await limiter.hit("1/minute", "ip", "198.51.100.1")
