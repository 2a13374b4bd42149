"""The browser app served by `reelstack serve`: its shell on every client-side route, hashed
assets cached for good, a readable page when it is not built, and the shared-video page booting
it while keeping its link preview and its visibility rules."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from reelstack.runtime import Runtime
from reelstack.web import router as web
from tests.factories import make_user, make_video

SHELL = (
    '<!doctype html><html><head><script type="module" crossorigin '
    'src="/assets/index-abc123.js"></script>\n'
    '<link rel="stylesheet" crossorigin href="/assets/index-def456.css"></head>'
    '<body><div id="app"></div></body></html>'
)
CLIENT_ROUTES = [
    "/",
    "/following",
    "/discover",
    "/upload",
    "/notifications",
    "/history",
    "/settings",
    "/login",
    "/register",
    "/tag/sunset",
    "/sound/01abc",
    "/@alice",
]


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in build in its own folder (the real one may or may not exist)."""
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text(SHELL)
    (static / "assets" / "index-abc123.js").write_text("console.log('app')")
    (static / "assets" / "index-def456.css").write_text("body{}")
    monkeypatch.setattr(web, "STATIC_DIR", static)
    monkeypatch.setattr(web, "_shell", None)
    return static


async def test_every_client_route_gets_the_shell_and_assets_are_cached_for_good(
    client: httpx.AsyncClient, built: Path
) -> None:
    for path in CLIENT_ROUTES:
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.text == SHELL
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in r.headers["content-security-policy"]

    js = await client.get("/assets/index-abc123.js")
    assert js.status_code == 200 and js.text == "console.log('app')"
    assert js.headers["content-type"].startswith("text/javascript")
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    missing = await client.get("/assets/nope.js")
    assert missing.status_code == 404
    assert missing.json()["code"] == "asset_not_found"
    assert (await client.get("/assets/..%2Findex.html")).status_code == 404


async def test_api_and_health_routes_are_not_the_shell(
    client: httpx.AsyncClient, built: Path
) -> None:
    r = await client.get("/api/v1/users/@nobody_here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "reelstack"
    assert (await client.get("/no/such/page")).status_code == 404


async def test_without_a_build_the_root_says_how_to_build(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "STATIC_DIR", tmp_path / "never-built")
    monkeypatch.setattr(web, "_shell", None)
    r = await client.get("/")
    assert r.status_code == 503
    assert "make run" in r.text and "not built" in r.text


async def test_a_rebuild_is_picked_up_without_a_restart(
    client: httpx.AsyncClient, built: Path
) -> None:
    assert "index-abc123.js" in (await client.get("/")).text
    index = built / "index.html"
    index.write_text(SHELL.replace("abc123", "fff999"))
    stat = index.stat()
    os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "index-fff999.js" in (await client.get("/")).text


async def test_the_shared_video_page_boots_the_app_only_where_a_preview_is_allowed(
    client: httpx.AsyncClient, runtime: Runtime, built: Path
) -> None:
    creator = await make_user(runtime)
    public = await make_video(runtime, creator, caption="Morning swim")
    r = await client.get(f"/v/{public}")
    assert r.status_code == 200
    head = r.text.split("</head>")[0]
    assert 'src="/assets/index-abc123.js"' in head
    assert 'href="/assets/index-def456.css"' in head
    assert 'property="og:title" content="Morning swim"' in head
    assert '<div id="app"></div>' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]

    private = await make_video(runtime, creator, caption="secret", visibility="private")
    r = await client.get(f"/v/{private}")
    assert r.status_code == 404
    assert "/assets/" not in r.text and "secret" not in r.text
