"""The whole loop in the browser: sign up, upload through the page, see it on the profile; a
second person follows, finds it in Following, likes and comments; the creator's unread badge
counts up without a reload. On the embedded deployment and scaled out (PostgreSQL, Redis, S3,
a separate worker)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Processes, ReelstackProcess, ScaleOutEnv, reelstack_env
from tests.e2e.web.conftest import PROCESSING_TIMEOUT_S, js_errors, new_page
from tests.factories import PASSWORD


@pytest.fixture(params=["embedded", "scale_out"])
def server(
    request: pytest.FixtureRequest, processes: Processes, tmp_path: Path, built_app: Path
) -> Iterator[ReelstackProcess]:
    if request.param == "embedded":
        env = reelstack_env(
            REELSTACK_DATA_DIR=str(tmp_path / "data"),
            REELSTACK_SECRET_KEY=secrets.token_urlsafe(48),
        )
        yield processes.serve(env, name="embedded")
        return
    scale_out_env_with: ScaleOutEnv = request.getfixturevalue("scale_out_env_with")
    env = scale_out_env_with()
    api = processes.serve(env, name="api", wait=False)
    worker = processes.worker(env, wait=False)
    api.wait_until_healthy()
    worker.wait_for_output("worker consuming")
    yield api


def sign_up(page: Page, username: str) -> None:
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("link", name="My profile")).to_be_visible()


def unread_badge(page: Page) -> int:
    badge = page.get_by_test_id("unread-badge")
    return int(badge.inner_text()) if badge.count() else 0


def test_sign_up_upload_follow_like_comment_and_get_notified_live(
    browser: Browser, server: ReelstackProcess, clip: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    creator_name, fan_name = f"creator_{suffix}", f"fan_{suffix}"
    creator = new_page(browser, server.base_url)
    sign_up(creator, creator_name)

    # Upload through the page: pick, preview, caption, post, wait for processing.
    creator.get_by_role("link", name="Upload").click()
    creator.get_by_test_id("file-input").set_input_files(str(clip))
    expect(creator.get_by_label("Preview of the chosen video")).to_be_visible()
    creator.get_by_label("Caption").fill(f"First light #dawn{suffix}")
    creator.get_by_role("button", name="Post").click()
    ready = creator.get_by_text("Your video is ready.")
    expect(ready).to_be_visible(timeout=PROCESSING_TIMEOUT_S * 1000)
    watch = creator.get_by_role("link", name="Watch it")
    video_id = (watch.get_attribute("href") or "").removeprefix("/v/")
    assert video_id

    creator.get_by_role("link", name="see your profile").click()
    expect(creator.locator(f'.grid-item[data-video-id="{video_id}"]')).to_be_visible()
    expect(creator.locator(".grid-item")).to_have_count(1)
    # Read everything so far (the "video ready" notice), then stay on this page: no reloads.
    creator.get_by_role("link", name="Notifications").click()
    expect(creator.get_by_text("is ready", exact=False).first).to_be_visible()
    expect(creator.get_by_test_id("unread-badge")).to_have_count(0)
    creator.get_by_role("link", name="My profile").click()
    creator.evaluate("window.__sameDocument = true")

    fan = new_page(browser, server.base_url, 375, 812)
    sign_up(fan, fan_name)
    fan.goto(f"/@{creator_name}")
    fan.get_by_role("button", name=f"Follow @{creator_name}").click()
    expect(fan.get_by_role("button", name=f"Unfollow @{creator_name}")).to_be_visible()

    fan.get_by_role("link", name="Home").click()
    fan.get_by_role("link", name="Following").click()
    slide = fan.locator(f'.slide[data-video-id="{video_id}"]')
    expect(slide).to_be_visible()
    slide.get_by_role("button", name="Like").click()
    expect(slide.get_by_role("button", name="Unlike")).to_be_visible()
    expect(slide.get_by_test_id("like-count")).to_have_text("1")
    slide.get_by_role("button", name="Comments").click()
    dialog = fan.get_by_role("dialog", name="comments")
    dialog.get_by_label("Add a comment").fill("This is wonderful")
    dialog.get_by_role("button", name="Post").click()
    expect(dialog.locator(".comment-text", has_text="This is wonderful")).to_be_visible()
    dialog.get_by_role("button", name="Close comments").click()
    expect(slide.get_by_test_id("comment-count")).to_have_text("1")

    # The creator's badge counts the follow, the like and the comment, live.
    expect(creator.get_by_test_id("unread-badge")).to_have_text("3", timeout=15_000)
    assert creator.evaluate("window.__sameDocument") is True
    creator.get_by_role("link", name="Notifications, 3 unread").click()
    expect(creator.get_by_text(fan_name, exact=False).first).to_be_visible()
    assert not js_errors(creator) and not js_errors(fan)
