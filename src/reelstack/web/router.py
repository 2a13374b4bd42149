"""Serves the built browser app: `index.html` for the app's client-side routes, hashed assets
with long cache lifetimes, and a short page saying how to build it when it is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi.responses import FileResponse, HTMLResponse, Response

from reelstack.errors import NotFound
from reelstack.infra.routing import Router

router = Router(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
# Vite puts a content hash in every asset name: a file never changes under its name.
ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}
# The shell must be re-checked every time: it names the current assets.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https: http:; media-src 'self' blob: https: http:; "
    "connect-src 'self' https: http: ws: wss:; worker-src 'self' blob:; font-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SHELL_HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY}
NOT_BUILT_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    "<title>reelstack</title>\n</head>\n<body>\n<main><h1>The web app is not built yet.</h1>"
    "<p>Run <code>make run</code> (it builds the app from <code>web/</code> and starts the "
    'server). The API is up: see <a href="/docs">/docs</a>.</p></main>\n</body>\n</html>\n'
)
# The tags in the built shell that load the app: module scripts, preloads, stylesheets.
BOOT_TAG = re.compile(
    r'<script\b[^>]*\bsrc="/assets/[^"]+"[^>]*>\s*</script>|<link\b[^>]*\bhref="/assets/[^"]+"[^>]*>'
)


@dataclass(frozen=True)
class Shell:
    """The built `index.html` and the tags that boot the app, read once per build."""

    html: str
    boot_tags: str
    mtime_ns: int


_shell: Shell | None = None


def current_shell() -> Shell | None:
    """The built shell, or None when the app has not been built; re-read after a rebuild."""
    global _shell
    index = STATIC_DIR / "index.html"
    try:
        mtime = index.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    if _shell is None or _shell.mtime_ns != mtime:
        html = index.read_text(encoding="utf-8")
        _shell = Shell(html, "\n".join(BOOT_TAG.findall(html)), mtime)
    return _shell


def boot_tags() -> str:
    """What a server-rendered page adds to its <head> to start the app; empty if not built."""
    shell = current_shell()
    return shell.boot_tags if shell else ""


async def app_shell() -> HTMLResponse:
    """The app's HTML shell for a client-side route."""
    shell = current_shell()
    if shell is None:
        return HTMLResponse(NOT_BUILT_PAGE, status_code=503, headers={"Cache-Control": "no-cache"})
    return HTMLResponse(shell.html, headers=SHELL_HEADERS)


# Every path the app routes on the client; a reload or a shared link lands on the shell.
CLIENT_ROUTES = (
    "/",
    "/following",
    "/discover",
    "/upload",
    "/notifications",
    "/history",
    "/settings",
    "/login",
    "/register",
    "/tag/{tag}",
    "/sound/{sound_id}",
    "/@{username}",
)

for _path in CLIENT_ROUTES:
    router.add_api_route(_path, app_shell, methods=["GET", "HEAD"], response_class=HTMLResponse)


@router.api_route("/assets/{name}", methods=["GET", "HEAD"])
async def asset(name: str) -> Response:
    """A built asset (script, style sheet, image); names are flat and hashed."""
    assets = STATIC_DIR / "assets"
    path = assets / name
    if name.startswith(".") or "/" in name or not path.is_file():
        raise NotFound("No such asset.", code="asset_not_found")
    return FileResponse(path, headers=ASSET_HEADERS)
