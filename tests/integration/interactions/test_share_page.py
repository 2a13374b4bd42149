"""The public page of a shared video, /v/{id}: a link preview for what anyone may watch, and
one page that says nothing for everything else."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelstack.runtime import Runtime
from tests import clips
from tests.factories import TestUser, make_user, make_video
from tests.integration.interactions.helpers import API, set_video
from tests.media_helpers import upload_video, wait_processed


class PageParser(HTMLParser):
    """The meta tags, <video> sources and links of a page, and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        key = values.get("property") or values.get("name")
        if tag == "meta" and key and values.get("content") is not None:
            self.meta[key] = values["content"] or ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def first(self, tag: str) -> dict[str, str | None]:
        return next(attrs for name, attrs in self.tags if name == tag)


async def page(
    client: httpx.AsyncClient, video_id: str, viewer: TestUser | None = None
) -> tuple[httpx.Response, PageParser]:
    r = await client.get(f"/v/{video_id}", headers=viewer.headers if viewer else {})
    assert r.headers["content-type"].startswith("text/html")
    parsed = PageParser()
    parsed.feed(r.text)
    return r, parsed


async def fetch_absolute(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """A URL from a preview, fetched the way a crawler would: ours through the app, a presigned
    S3 URL over real HTTP, with no credentials either way."""
    if url.startswith("http://testserver/"):
        return await client.get(url)
    async with httpx.AsyncClient() as outside:
        return await outside.get(url)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clips.make_clip(
        tmp_path_factory.mktemp("share") / "clip.mp4", width=640, height=360, seconds=1.0
    )


async def test_a_public_video_page_unfurls_and_plays_without_signing_in(
    client: httpx.AsyncClient, runtime: Runtime, clip: Path
) -> None:
    creator = await make_user(runtime, "maker")
    video_id = await upload_video(
        client, creator, clip, caption="Sunset <b>& waves</b>", description="Filmed at dusk."
    )
    assert (await wait_processed(client, creator, video_id))["status"] == "ready"

    r, parsed = await page(client, video_id)
    assert r.status_code == 200
    meta = parsed.meta
    assert meta["og:title"] == "Sunset <b>& waves</b>"
    assert meta["og:description"] == "Filmed at dusk."
    assert meta["og:url"] == f"http://testserver/v/{video_id}"
    assert meta["og:type"] == "video.other"
    assert meta["twitter:card"] == "summary_large_image"
    assert (meta["og:video:type"], meta["og:video:width"], meta["og:video:height"]) == (
        "video/mp4",
        "640",
        "360",
    )
    video = await fetch_absolute(client, meta["og:video"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    image = await fetch_absolute(client, meta["og:image"])
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")

    # The body plays without JS: a <video> with the same file and poster, and a way to the app.
    player = parsed.first("video")
    assert player["poster"] == meta["og:image"] and "controls" in player
    assert parsed.first("source") == {"src": meta["og:video"], "type": "video/mp4"}
    assert parsed.first("a")["href"] == f"http://testserver/?v={video_id}"
    assert "<b>" not in r.text and "&lt;b&gt;" in r.text  # the caption is text, never markup
    # Nothing runs on the page but the app's own bundle (when built): no inline script at all.
    scripts = [attrs for name, attrs in parsed.tags if name == "script"]
    assert all((attrs.get("src") or "").startswith("/assets/") for attrs in scripts)
    assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_a_video_without_a_caption_is_titled_by_its_creator(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator = await make_user(runtime, "quiet")
    video_id = await make_video(runtime, creator, caption="", visibility="unlisted")
    r, parsed = await page(client, video_id)
    assert r.status_code == 200
    assert parsed.meta["og:title"] == "@quiet on reelstack"
    assert parsed.meta["og:description"] == "Watch @quiet's video on reelstack."
    assert "og:video" not in parsed.meta  # nothing playable yet, so nothing claimed

    tricky = '"><script>alert(1)</script>'
    await set_video(runtime, video_id, caption=tricky)
    r, parsed = await page(client, video_id)
    assert parsed.meta["og:title"] == tricky
    assert "<script>" not in r.text


async def assert_no_page(client: httpx.AsyncClient, video_id: str, **kw: Any) -> None:
    r, parsed = await page(client, video_id, **kw)
    assert r.status_code == 404
    assert not [key for key in parsed.meta if key.startswith(("og:", "twitter:"))]
    assert "secret caption" not in r.text and "/media/" not in r.text
    assert "This video is not available." in r.text


async def test_videos_not_for_everyone_have_no_page(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator, follower = await make_user(runtime), await make_user(runtime)
    await client.post(f"{API}/users/{creator.id}/follow", headers=follower.headers)
    for visibility in ("private", "followers"):
        video_id = await make_video(
            runtime, creator, visibility=visibility, caption="secret caption"
        )
        await assert_no_page(client, video_id)
        await assert_no_page(client, video_id, viewer=follower)  # a page is for everyone or no one
        await assert_no_page(client, video_id, viewer=creator)
    processing = await make_video(runtime, creator, status="processing", caption="secret caption")
    await assert_no_page(client, processing)
    hidden = await make_video(runtime, creator, caption="secret caption")
    await set_video(runtime, hidden, hidden_by_moderation=True)
    await assert_no_page(client, hidden)
    await assert_no_page(client, "0" * 26)
    await assert_no_page(client, "<script>")


async def test_a_blocked_viewer_gets_no_page_and_a_bad_token_is_ignored(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator, blocked = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, creator, caption="secret caption")
    await client.post(f"{API}/users/{blocked.id}/block", headers=creator.headers)
    await assert_no_page(client, video_id, viewer=blocked)
    r = await client.get(f"/v/{video_id}", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 200 and "secret caption" in r.text
    assert (await client.head(f"/v/{video_id}")).status_code == 200  # crawlers that ask first


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_anonymous": "3/minute"}])
async def test_the_page_is_not_rate_limited_like_the_api(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator = await make_user(runtime)
    video_id = await make_video(runtime, creator)
    for _ in range(6):
        assert (await client.get(f"/v/{video_id}")).status_code == 200
    statuses = [(await client.get(f"{API}/videos/{video_id}")).status_code for _ in range(6)]
    assert 429 in statuses
