"""End-to-end helpers: the real `reelstack` command in child processes, spoken to over real HTTP
on 127.0.0.1. Every process started here is stopped in teardown, whatever the test did."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from tests.conftest import POSTGRES_ADMIN_URL, S3_BUCKET, free_port

REELSTACK = str(Path(sys.executable).parent / "reelstack")
# Generous: on a loaded 2-core CI machine a cold `serve` has taken over 25 s to answer.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 90.0  # a cold start is slow on a loaded 2-core machine
LOG_TAIL_CHARS = 6000

# Cheap password hashing and a quick job poll, so a test spends its time on behaviour.
FAST_SETTINGS = {
    "REELSTACK_PASSWORD_HASH_MEMORY_KIB": "8192",
    "REELSTACK_PASSWORD_HASH_TIME_COST": "1",
    "REELSTACK_JOB_POLL_SECONDS": "0.1",
}


# Filled once per run by `shared_bytecode_cache`; added to every child's environment.
CHILD_PYTHON_ENV: dict[str, str] = {"PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session", autouse=True)
def shared_bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Children compile the code base once per run, not once per process: where bytecode is
    never written (PYTHONDONTWRITEBYTECODE), each start would spend seconds compiling."""
    CHILD_PYTHON_ENV["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))


def reelstack_env(**settings: str) -> dict[str, str]:
    """The environment of a child process: this one's, minus any REELSTACK_* knob of the caller's
    shell (a test states every setting it relies on), plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REELSTACK_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(CHILD_PYTHON_ENV)
    env.update(FAST_SETTINGS)
    env.update(settings)
    return env


def tail(text: str) -> str:
    return text if len(text) <= LOG_TAIL_CHARS else "...\n" + text[-LOG_TAIL_CHARS:]


@dataclass
class ReelstackProcess:
    """One long-running `reelstack serve` or `reelstack worker`, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def base_url(self) -> str:
        assert self.port is not None, f"{self.name} does not listen"
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def describe(self) -> str:
        return (
            f"--- {self.name} (pid {self.popen.pid}, exit {self.popen.poll()}) output ---\n"
            + tail(self.output())
        )

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0, **kwargs)  # type: ignore[arg-type]

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Poll /healthz until it answers 200; fail at once if the process dies."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited before it was healthy\n{self.describe()}")
            try:
                response = httpx.get(f"{self.base_url}/healthz", timeout=1.0)
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last_error = repr(exc)
            time.sleep(0.1)
        pytest.fail(f"{self.name} not healthy after {timeout}s ({last_error})\n{self.describe()}")

    def wait_for_output(self, text: str, timeout: float = START_TIMEOUT) -> None:
        """Wait until the process has logged `text` (e.g. the worker's 'consuming' line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited before logging {text!r}\n{self.describe()}")
            time.sleep(0.1)
        pytest.fail(f"{self.name} did not log {text!r} within {timeout}s\n{self.describe()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """SIGTERM, then SIGKILL after `timeout`. True when it stopped gracefully in time."""
        if self.popen.poll() is not None:
            return True
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
            return False


@dataclass
class Processes:
    """Starts `reelstack` child processes and guarantees they are all gone at teardown."""

    workdir: Path
    started: list[ReelstackProcess] = field(default_factory=list)

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str], port: int | None
    ) -> ReelstackProcess:
        log_path = self.workdir / f"{name}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            # cwd is a scratch directory: no stray .env of the checkout is picked up.
            popen = subprocess.Popen(  # noqa: S603 - a fixed executable, arguments from the test
                [REELSTACK, *args],
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = ReelstackProcess(name, popen, log_path, port)
        self.started.append(proc)
        return proc

    def serve(
        self,
        env: dict[str, str],
        *,
        name: str = "serve",
        port: int | None = None,
        wait: bool = True,
    ) -> ReelstackProcess:
        port = port or free_port()
        proc = self._spawn(name, ["serve", "--host", "127.0.0.1", "--port", str(port)], env, port)
        if wait:
            proc.wait_until_healthy()
        return proc

    def worker(
        self, env: dict[str, str], *, name: str = "worker", wait: bool = True
    ) -> ReelstackProcess:
        proc = self._spawn(name, ["worker"], env, None)
        if wait:
            proc.wait_for_output("worker consuming")
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            try:
                proc.stop()
            except OSError:
                proc.popen.kill()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    workdir = tmp_path / "processes"
    workdir.mkdir()
    procs = Processes(workdir)
    try:
        yield procs
    finally:
        procs.stop_all()
        # Shown by pytest only when the test failed: what every process said.
        for proc in procs.started:
            print(proc.describe())


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"exit {self.returncode}\n--- stdout ---\n{tail(self.stdout)}\n"
            f"--- stderr ---\n{tail(self.stderr)}"
        )


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Runs one `reelstack` command to completion (killed if it outlives CLI_TIMEOUT)."""

    def run(args: list[str], env: dict[str, str], timeout: float = CLI_TIMEOUT) -> CliResult:
        try:
            done = subprocess.run(  # noqa: S603 - a fixed executable, arguments from the test
                [REELSTACK, *args],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace")
            err = (exc.stderr or b"").decode(errors="replace")
            pytest.fail(
                f"`reelstack {' '.join(args)}` ran past {timeout}s\n{tail(out)}\n{tail(err)}"
            )
        return CliResult(
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    return run


async def _admin_sql(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database with no schema at all, dropped after the test."""
    name = f"reelstack_e2e_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_ADMIN_URL}: {exc}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A prefix of this test's own; every Redis key it led to is deleted afterwards."""
    prefix = f"rse2e:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    # huey names its keys after the queue name with the punctuation stripped.
    patterns = (f"*{prefix}*", f"*{re.sub('[^a-z0-9]', '', prefix)}*")
    keys = {key for pattern in patterns for key in client.scan_iter(match=pattern)}
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def storage_prefix(redis_prefix: str) -> str:
    """This test's own folder in the S3 bucket."""
    return redis_prefix.strip(":").replace(":", "-")


ScaleOutEnv = Callable[..., dict[str, str]]


@pytest.fixture
def scale_out_env_with(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    storage_prefix: str,
    s3_endpoint: str,
) -> ScaleOutEnv:
    """Builds a child environment on PostgreSQL, Redis and S3, with this test's own prefixes
    and any extra settings."""

    def build(**settings: str) -> dict[str, str]:
        return reelstack_env(
            REELSTACK_DATA_DIR=str(tmp_path / "data"),
            REELSTACK_DATABASE_URL=postgres_url,
            REELSTACK_REDIS_URL=redis_url,
            REELSTACK_REDIS_PREFIX=redis_prefix,
            REELSTACK_STORAGE_URL=f"s3://{S3_BUCKET}/{storage_prefix}",
            REELSTACK_S3_ENDPOINT_URL=s3_endpoint,
            REELSTACK_S3_ACCESS_KEY_ID="testing",
            REELSTACK_S3_SECRET_ACCESS_KEY="testing",
            REELSTACK_SECRET_KEY=secrets.token_urlsafe(48),
            **settings,
        )

    return build
