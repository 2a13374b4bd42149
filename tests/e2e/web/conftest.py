"""Browser tests of the web app: Debian's chromium driven by Playwright against real
`reelstack serve` processes on 127.0.0.1, with the app built from `web/`."""

from __future__ import annotations

import gzip
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from reelstack.web import router as web
from tests import clips
from tests.e2e.conftest import Processes, ReelstackProcess, reelstack_env
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
METRICS = ARTIFACTS / "web-metrics.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    # Headless chromium would refuse to start a video with sound before a user gesture.
    "--autoplay-policy=no-user-gesture-required",
]
UI_TIMEOUT_MS = 15_000
# A loaded 2-core CI machine answers slowly: waits are for conditions, bounded generously.
expect.set_options(timeout=UI_TIMEOUT_MS)
PROCESSING_TIMEOUT_S = 90.0


@pytest.fixture(scope="session")
def built_app() -> Path:
    """The built app; built here with `make web` when a checkout has not built it yet."""
    if not (web.STATIC_DIR / "index.html").is_file():
        done = subprocess.run(
            ["make", "web"],  # noqa: S607 - make from PATH, as the developer runs it
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"`make web` failed:\n{done.stdout}\n{done.stderr}"
    return web.STATIC_DIR


@pytest.fixture(scope="package")
def playwright_instance(postgres_url: str, s3_endpoint: str) -> Iterator[Playwright]:
    """Playwright's sync API keeps an event loop running in this thread: fixtures that use
    `asyncio.run` (the scale-out database, the S3 server) are set up before it starts, and it
    stops with this package so that later tests can run their own loops."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    chromium = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000
    )
    yield chromium
    chromium.close()


def new_page(browser: Browser, base_url: str, width: int = 1440, height: int = 900) -> Page:
    """A page in its own context (its own localStorage: its own signed-in user)."""
    context: BrowserContext = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def signed_in_page(
    browser: Browser, server: ReelstackProcess, user: dict[str, Any], width: int, height: int
) -> Page:
    """A page of the app whose stored session is `user`'s tokens (as after signing in)."""
    page = new_page(browser, server.base_url, width, height)
    page.goto("/login")
    page.evaluate(
        "t => localStorage.setItem('reelstack.tokens', JSON.stringify(t))",
        {k: user[k] for k in ("access_token", "refresh_token", "expires_in")},
    )
    return page


def js_errors(page: Page) -> list[str]:
    errors: list[str] = page.js_errors  # type: ignore[attr-defined]
    return errors


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short portrait clip, as a phone would upload."""
    return clips.make_clip(
        tmp_path_factory.mktemp("web") / "portrait.mp4", width=360, height=640, seconds=3.0
    )


@pytest.fixture(scope="module")
def embedded_server(
    tmp_path_factory: pytest.TempPathFactory, built_app: Path
) -> Iterator[ReelstackProcess]:
    """One embedded server (SQLite, in-process jobs, local files) for a module's tests."""
    workdir = tmp_path_factory.mktemp("web-embedded")
    procs = Processes(workdir)
    try:
        yield procs.serve(
            reelstack_env(
                REELSTACK_DATA_DIR=str(workdir / "data"),
                REELSTACK_SECRET_KEY=secrets.token_urlsafe(48),
            ),
            name="web-embedded",
        )
    finally:
        procs.stop_all()


def api_user(server: ReelstackProcess, username: str) -> dict[str, Any]:
    """Registers over HTTP: the response with tokens and the user."""
    with server.client() as http:
        r = http.post(
            "/api/v1/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def api_upload(server: ReelstackProcess, token: str, path: Path, caption: str) -> str:
    """Uploads `path` through the chunked API and waits until it is ready; its video id."""
    headers = {"Authorization": f"Bearer {token}"}
    data = path.read_bytes()
    with server.client(headers=headers) as http:
        init = http.post(
            "/api/v1/videos/upload/init",
            json={
                "caption": caption,
                "file_size": len(data),
                "mime_type": "video/mp4",
                "filename": path.name,
            },
        )
        assert init.status_code == 201, init.text
        body = init.json()
        put = http.put(
            body["upload_url"],
            content=data,
            headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
        )
        assert put.status_code == 200, put.text
        done = http.post(f"/api/v1/videos/upload/{body['upload_id']}/complete")
        assert done.status_code == 202, done.text
        video_id: str = body["video_id"]
        wait_ready(http, video_id)
    return video_id


def wait_ready(http: httpx.Client, video_id: str) -> None:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_S
    while time.monotonic() < deadline:
        status = http.get(f"/api/v1/videos/{video_id}/status").json()
        if status["status"] == "ready":
            return
        assert status["status"] not in ("failed", "rejected"), status
        time.sleep(0.2)
    pytest.fail(f"video {video_id} not ready within {PROCESSING_TIMEOUT_S}s")


def app_js_gzip_bytes(static: Path) -> int:
    """The app's JavaScript as a browser downloads it (gzip), hls.js's own chunk excluded."""
    total = 0
    for path in sorted((static / "assets").glob("*.js")):
        if path.name.startswith("hls"):
            continue
        total += len(gzip.compress(path.read_bytes(), compresslevel=9))
    return total


def record_metrics(**values: float | int) -> None:
    """Merges measured numbers into test-artifacts/web-metrics.json."""
    ARTIFACTS.mkdir(exist_ok=True)
    current: dict[str, Any] = json.loads(METRICS.read_text()) if METRICS.exists() else {}
    current.update(values)
    METRICS.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
