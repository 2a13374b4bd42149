"""The app plays videos through hls.js (headless chromium has no native HLS), boots on a
shared video's page, stays small, and looks right at phone and desktop widths."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ReelstackProcess
from tests.e2e.web.conftest import (
    SCREENSHOTS,
    api_upload,
    api_user,
    app_js_gzip_bytes,
    js_errors,
    new_page,
    record_metrics,
    signed_in_page,
)

# The target is 1,500 ms on loopback; the time is recorded in test-artifacts and in
# bench/RESULTS.md. A shared 2-core CI machine can take longer than that without anything being
# wrong, so the test only fails when the first video takes far longer to start than it should.
FIRST_PLAY_LIMIT_MS = 10_000
APP_JS_TARGET_BYTES = 200 * 1024
VIEWPORTS = {"375": (375, 812), "1440": (1440, 900)}


@pytest.fixture(scope="module")
def creator_video(embedded_server: ReelstackProcess, clip: Path) -> tuple[dict[str, str], str]:
    user = api_user(embedded_server, f"maker_{uuid.uuid4().hex[:6]}")
    video_id = api_upload(embedded_server, user["access_token"], clip, "Sunrise #webtest @nobody")
    return user["user"], video_id


def wait_playing_through_hls_js(page: Page, selector: str) -> None:
    """The <video> is fed by Media Source Extensions (a blob: URL: hls.js) and its clock runs."""
    video = page.locator(selector).first
    page.wait_for_function(
        "el => el.currentSrc.startsWith('blob:') && el.currentTime > 0.5 && !el.paused",
        arg=video.element_handle(),
        timeout=15_000,
    )


def test_the_for_you_video_plays_through_hls_js_fast(
    browser: Browser,
    embedded_server: ReelstackProcess,
    creator_video: tuple[dict[str, str], str],
) -> None:
    _, video_id = creator_video
    page = new_page(browser, embedded_server.base_url, 375, 812)
    page.goto("/")
    slide = page.locator(f'.slide[data-video-id="{video_id}"]')
    expect(slide).to_be_visible()
    wait_playing_through_hls_js(page, ".slide[aria-current=true] video")
    first_playing_ms = page.evaluate("window.__reelstack.firstPlayingMs")
    record_metrics(first_for_you_playing_ms=round(first_playing_ms))
    assert 0 < first_playing_ms <= FIRST_PLAY_LIMIT_MS
    assert not js_errors(page)
    page.context.close()


def test_a_shared_video_page_keeps_its_preview_and_boots_the_app(
    browser: Browser,
    embedded_server: ReelstackProcess,
    creator_video: tuple[dict[str, str], str],
) -> None:
    creator, video_id = creator_video
    page = new_page(browser, embedded_server.base_url)
    response = page.goto(f"/v/{video_id}")
    assert response is not None and response.status == 200
    assert page.locator('meta[property="og:title"]').get_attribute("content") == (
        "Sunrise #webtest @nobody"
    )
    # The app replaced the no-JS body with its own player, which plays through hls.js.
    wait_playing_through_hls_js(page, f'.slide[data-video-id="{video_id}"] video')
    expect(page.locator("body > main")).to_have_count(0)
    caption = page.locator(f'.slide[data-video-id="{video_id}"] .caption')
    expect(caption.get_by_role("link", name="#webtest")).to_have_attribute("href", "/tag/webtest")
    page.get_by_role("link", name=f"@{creator['username']}'s profile").first.click()
    expect(page).to_have_url(f"{embedded_server.base_url}/@{creator['username']}")
    expect(page.get_by_role("heading", name=creator["display_name"])).to_be_visible()
    assert not js_errors(page)
    page.context.close()


def test_app_javascript_stays_small(built_app: Path) -> None:
    size = app_js_gzip_bytes(built_app)
    record_metrics(app_js_gzip_bytes_without_hls=size)
    assert 0 < size <= APP_JS_TARGET_BYTES
    assert list((built_app / "assets").glob("hls*.js")), "hls.js is its own lazily loaded chunk"


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_screenshots_of_feed_profile_upload_and_comments(
    browser: Browser,
    embedded_server: ReelstackProcess,
    creator_video: tuple[dict[str, str], str],
    viewport: str,
) -> None:
    creator, video_id = creator_video
    width, height = VIEWPORTS[viewport]
    viewer = api_user(embedded_server, f"viewer_{uuid.uuid4().hex[:6]}")
    page = signed_in_page(browser, embedded_server, viewer, width, height)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = []

    def shot(name: str) -> None:
        path = SCREENSHOTS / f"{name}-{viewport}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    page.goto(f"/v/{video_id}")
    page.locator(".slide[aria-current=true] video").first.wait_for()
    page.wait_for_function(
        "() => document.querySelector('.slide[aria-current=true] video')?.currentTime > 0.2"
    )
    shot("feed")
    page.get_by_role("button", name="Comments").first.click()
    dialog = page.get_by_role("dialog", name="comments")
    # Each viewport's viewer comments on the same video: its own words tell its comment apart.
    words = f"Lovely light at {viewport} px #sunrise"
    dialog.get_by_label("Add a comment").fill(words)
    dialog.get_by_role("button", name="Post").click()
    expect(dialog.locator(".comment-text", has_text=words)).to_have_count(1)
    shot("comments")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    page.goto(f"/@{creator['username']}")
    expect(page.locator(f'.grid-item[data-video-id="{video_id}"] img')).to_be_visible()
    shot("profile")
    page.goto("/upload")
    expect(page.get_by_role("heading", name="Upload a video")).to_be_visible()
    shot("upload")
    assert all(path.stat().st_size > 5000 for path in shots)
    assert not js_errors(page)
    page.context.close()


def test_every_screen_renders_without_errors(
    browser: Browser,
    embedded_server: ReelstackProcess,
    creator_video: tuple[dict[str, str], str],
) -> None:
    creator, video_id = creator_video
    viewer = api_user(embedded_server, f"browser_{uuid.uuid4().hex[:6]}")
    page = signed_in_page(browser, embedded_server, viewer, 375, 812)
    page.goto("/discover")
    expect(page.get_by_role("heading", name="Trending hashtags")).to_be_visible()
    page.get_by_role("combobox").fill("Sunrise")
    page.get_by_role("combobox").press("Enter")
    expect(page).to_have_url(f"{embedded_server.base_url}/discover?q=Sunrise")
    page.get_by_role("button", name="Users").click()
    page.get_by_role("button", name="Videos").click()
    # The caption's word finds the video (indexed within seconds of processing).
    expect(page.locator(f'.grid-item[data-video-id="{video_id}"]')).to_be_visible(timeout=15_000)
    page.goto("/discover?q=Snrise")  # a fresh page: a typo finds it too
    expect(page.locator(f'.grid-item[data-video-id="{video_id}"]')).to_be_visible(timeout=15_000)
    page.goto("/tag/webtest")
    expect(page.get_by_role("heading", name="#webtest")).to_be_visible()
    page.goto(f"/@{creator['username']}")
    page.get_by_role("button", name="Followers", exact=True).click()
    expect(page.get_by_text("No followers yet.")).to_be_visible(timeout=15_000)
    page.goto("/notifications")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    page.goto("/history")
    expect(page.get_by_role("heading", name="Watch history")).to_be_visible()
    page.goto("/settings")
    expect(page.get_by_label("New followers")).to_be_checked()
    page.get_by_label("Current password").fill("wrong password")
    page.get_by_label("New password").fill("another long password")
    page.get_by_role("button", name="Change password").click()
    # The API's problem detail, shown as written.
    expect(page.get_by_role("alert")).to_be_visible()
    assert not js_errors(page)
    page.context.close()
