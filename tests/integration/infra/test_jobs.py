"""The durable job queue on both backends (a SQLite file embedded, Redis scaled out): retries,
and periodic jobs that run once per slot however many workers fire them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from reelstack.infra.jobs import JobSpec, job
from reelstack.runtime import Runtime, open_runtime

# Declared at import time: the queue registers every job of JOB_REGISTRY when a runtime is built.
ATTEMPTS: dict[str, int] = {}
SUCCEEDED: dict[str, asyncio.Event] = {}


@job("tests.flaky_once", retries=2, retry_delay=0.1)
async def flaky_once(rt: Runtime, *, token: str) -> None:
    """Fails on its first attempt (a dropped connection, say), succeeds on the next."""
    ATTEMPTS[token] = ATTEMPTS.get(token, 0) + 1
    if ATTEMPTS[token] == 1:
        raise ConnectionError("transient failure")
    SUCCEEDED[token].set()


@job("tests.always_fails", retries=1, retry_delay=0.1)
async def always_fails(rt: Runtime, *, token: str) -> None:
    ATTEMPTS[token] = ATTEMPTS.get(token, 0) + 1
    raise ValueError("permanent failure")


async def wait_until(predicate: Any, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def periodic_spec(runs: list[str], fail_first: int = 0) -> JobSpec:
    """A periodic job as the registry holds one, under a name of its own: it is never handed to
    a real scheduler, whose firing at the top of the hour would otherwise race the test."""

    async def tick(rt: Runtime) -> None:
        runs.append("ran")
        if len(runs) <= fail_first:
            raise ConnectionError("transient failure")

    return JobSpec(
        f"tests.periodic.{uuid.uuid4().hex}",
        tick,
        "maintenance",
        retries=1,
        retry_delay=0.1,
        every_minutes=59,
    )


async def test_a_job_that_fails_once_is_retried_and_succeeds(runtime: Runtime) -> None:
    token = uuid.uuid4().hex
    SUCCEEDED[token] = asyncio.Event()
    await runtime.jobs.enqueue("tests.flaky_once", {"token": token})
    await asyncio.wait_for(SUCCEEDED[token].wait(), timeout=2.5)
    assert ATTEMPTS[token] == 2
    assert await runtime.jobs.pending("default") == 0


async def test_a_job_that_keeps_failing_stops_after_its_retries(runtime: Runtime) -> None:
    token = uuid.uuid4().hex
    await runtime.jobs.enqueue("tests.always_fails", {"token": token})
    assert await wait_until(lambda: ATTEMPTS.get(token) == 2, timeout=2.5), ATTEMPTS.get(token)
    await asyncio.sleep(1.2)  # longer than a retry takes to come round
    assert ATTEMPTS[token] == 2  # one run plus one retry, then it gives up


async def test_unknown_job_names_are_refused_when_enqueued(runtime: Runtime) -> None:
    with pytest.raises(KeyError):
        await runtime.jobs.enqueue("tests.no_such_job", {})


async def test_a_periodic_job_runs_once_per_slot(runtime: Runtime) -> None:
    runs: list[str] = []
    spec = periodic_spec(runs)
    # Every consumer's scheduler fires the job at the same minute; each firing reaches here.
    await runtime.jobs._execute(spec, {}, periodic=True)  # type: ignore[attr-defined]
    await runtime.jobs._execute(spec, {}, periodic=True)  # type: ignore[attr-defined]
    assert runs == ["ran"]
    # A plain (non-periodic) run of the same job is not subject to the slot.
    await runtime.jobs._execute(spec, {}, periodic=False)  # type: ignore[attr-defined]
    assert runs == ["ran", "ran"]


@pytest.mark.parametrize("deployment", ["scaleout"])
async def test_a_periodic_job_runs_once_per_slot_across_workers(
    runtime: Runtime, make_settings: Any, settings_overrides: dict[str, Any]
) -> None:
    runs: list[str] = []
    spec = periodic_spec(runs)
    async with open_runtime(make_settings(**settings_overrides), consume_jobs=True) as worker2:
        await asyncio.gather(
            runtime.jobs._execute(spec, {}, periodic=True),  # type: ignore[attr-defined]
            worker2.jobs._execute(spec, {}, periodic=True),  # type: ignore[attr-defined]
        )
    assert runs == ["ran"]


async def test_a_failed_periodic_run_is_retried_within_its_slot(runtime: Runtime) -> None:
    """`retries` holds for periodic jobs too: the slot marker must not swallow the retry."""
    runs: list[str] = []
    spec = periodic_spec(runs, fail_first=1)
    with pytest.raises(ConnectionError):
        await runtime.jobs._execute(spec, {}, periodic=True)  # type: ignore[attr-defined]
    # huey's retry calls the same task again, in the same slot.
    await runtime.jobs._execute(spec, {}, periodic=True)  # type: ignore[attr-defined]
    assert runs == ["ran", "ran"]
    await runtime.jobs._execute(spec, {}, periodic=True)  # type: ignore[attr-defined]
    assert runs == ["ran", "ran"]  # it succeeded: the slot is now done
