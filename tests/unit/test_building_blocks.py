"""Pure pieces that every feature leans on: ids, cursors, URL signatures, visibility, config."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from reelstack.config import ConfigurationError, Settings
from reelstack.errors import Unprocessable
from reelstack.infra.ids import ID_LENGTH, looks_like_id, new_id
from reelstack.infra.pagination import decode_cursor, encode_cursor
from reelstack.infra.storage import StorageError, UrlMemo, UrlSigner, url_quoted, validate_key
from reelstack.social.visibility import Audience, Relationship, audience_of, can_view


def test_ids_are_unique_opaque_and_sort_by_creation_time() -> None:
    first = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(2000)]
    assert len(set(later)) == 2000
    assert all(looks_like_id(i) and len(i) == ID_LENGTH for i in later)
    assert all(first < i for i in later)
    assert not looks_like_id("@alice") and not looks_like_id("u" * ID_LENGTH)


def test_cursor_round_trips_and_rejects_anything_else() -> None:
    position = {"t": "2026-11-21T10:00:00+00:00", "id": new_id()}
    assert decode_cursor(encode_cursor(position), "t", "id") == position
    assert decode_cursor(None, "t") is None
    for bad in ["%%%", "bm90IGpzb24", encode_cursor({"t": 1}), encode_cursor({"x": "y"})]:
        with pytest.raises(Unprocessable) as err:
            decode_cursor(bad, "t", "id")
        assert err.value.code == "invalid_cursor"


def test_signed_media_urls_expire_and_cover_only_their_key() -> None:
    signer = UrlSigner(b"k" * 32)
    url = signer.sign("avatars/u/1/small.webp", 60, now=1000.0)
    path, query = url.split("?")
    params = dict(p.split("=") for p in query.split("&"))
    expires, sig = int(params["expires"]), params["sig"]
    assert path == "/media/avatars/u/1/small.webp"
    assert signer.verify("avatars/u/1/small.webp", expires, sig, now=1030.0)
    assert not signer.verify("avatars/u/1/small.webp", expires, sig, now=1061.0)  # expired
    assert not signer.verify("avatars/u/2/small.webp", expires, sig, now=1030.0)  # other file
    assert not signer.verify("avatars/u/1/small.webp", expires + 3600, sig, now=1030.0)
    assert not UrlSigner(b"other" * 8).verify("avatars/u/1/small.webp", expires, sig, now=1030.0)


def test_a_signed_url_is_reused_briefly_and_always_keeps_most_of_its_life(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages signing the same poster again get the same URL (so browsers and CDNs cache it),
    but only within a tenth of its lifetime (5 minutes at most): a reused URL still has 90 % of
    its life left."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    memo, made = UrlMemo(), []

    def make() -> str:
        made.append(clock[0])
        return f"url-{len(made)}"

    first = memo.get("posters/a.jpg", 3600, make)
    clock[0] += 299  # within 5 minutes (and a tenth of 3600 s): the same URL
    assert memo.get("posters/a.jpg", 3600, make) == first
    assert memo.get("posters/b.jpg", 3600, make) != first  # another object, its own URL
    assert memo.get("posters/a.jpg", 60, make) != first  # another lifetime, its own URL
    clock[0] += 2  # past the reuse window: signed again
    assert memo.get("posters/a.jpg", 3600, make) not in {first}
    short = memo.get("p/c.jpg", 20, make)
    clock[0] += 2.5  # a 20 s URL is reused for 2 s at most
    assert memo.get("p/c.jpg", 20, make) != short


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../b", "a//b", "a\\b", "a/./b", "nul\x00byte", "trailing/"],
)
def test_storage_keys_that_could_escape_are_refused(key: str) -> None:
    with pytest.raises(StorageError):
        validate_key(key)


FOLLOWER = Relationship(is_following=True)
BLOCKED = Relationship(is_blocked_by=True)
NONE = Relationship()


@pytest.mark.parametrize(
    ("viewer", "audience", "relation", "listing", "expected"),
    [
        ("v", Audience.PUBLIC, NONE, True, True),
        (None, Audience.PUBLIC, NONE, True, True),
        ("v", Audience.PUBLIC, BLOCKED, False, False),
        ("v", Audience.UNLISTED, NONE, False, True),
        ("v", Audience.UNLISTED, NONE, True, False),
        ("v", Audience.FOLLOWERS, NONE, False, False),
        ("v", Audience.FOLLOWERS, FOLLOWER, True, True),
        (None, Audience.FOLLOWERS, FOLLOWER, False, False),
        ("v", Audience.PRIVATE, FOLLOWER, False, False),
        ("owner", Audience.PRIVATE, NONE, True, True),
    ],
)
def test_one_function_decides_visibility(
    viewer: str | None, audience: Audience, relation: Relationship, listing: bool, expected: bool
) -> None:
    assert can_view(viewer, "owner", audience, relation, listing=listing) is expected


@pytest.mark.parametrize(
    "text",
    ["videos/01abc/thumbs/poster-360.webp", "1765100000.-.AbC_d-E", "a b/ü?x=1&y#z", "%2F", ""],
)
def test_url_quoting_skips_only_what_quote_leaves_alone(text: str) -> None:
    assert url_quoted(text) == quote(text)


def test_a_stored_audience_reads_back_and_an_unknown_one_is_refused() -> None:
    assert [audience_of(a.value) for a in Audience] == list(Audience)
    with pytest.raises(ValueError, match="friends"):
        audience_of("friends")


def test_moderation_hides_from_everyone_but_owner_and_moderators() -> None:
    assert not can_view("v", "owner", Audience.PUBLIC, NONE, hidden_by_moderation=True)
    assert can_view("owner", "owner", Audience.PUBLIC, NONE, hidden_by_moderation=True)
    assert can_view(
        "m", "owner", Audience.PRIVATE, NONE, hidden_by_moderation=True, viewer_is_moderator=True
    )


def test_production_refuses_missing_or_weak_secrets(tmp_path: Path) -> None:
    for secret in (None, "changeme", "short"):
        with pytest.raises(ConfigurationError):
            Settings(env="production", secret_key=secret, data_dir=tmp_path)
    strong = "s" * 48
    assert Settings(env="production", secret_key=strong).signing_key == strong.encode()


def test_development_generates_one_private_secret_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).signing_key
    second = Settings(data_dir=tmp_path).signing_key
    assert first == second and len(first) >= 32
    assert os.stat(tmp_path / "secret_key").st_mode & 0o777 == 0o600


def test_deployment_is_chosen_by_settings(tmp_path: Path) -> None:
    embedded = Settings(data_dir=tmp_path)
    assert embedded.is_sqlite and embedded.jobs_in_process and embedded.migrate_on_start
    assert embedded.resolved_database_url.endswith(str(tmp_path.resolve() / "reelstack.db"))
    scaled = Settings(
        data_dir=tmp_path,
        redis_url="redis://127.0.0.1:6379/0",
        database_url="postgresql+asyncpg://u@h/db",
        secret_key="s" * 48,
    )
    assert scaled.scale_out and not scaled.jobs_in_process and not scaled.migrate_on_start


def test_scale_out_refuses_a_per_machine_generated_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="same secret"):
        Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0")
    assert not (tmp_path / "secret_key").exists()


def test_a_malformed_signature_is_refused_not_a_crash() -> None:
    signer = UrlSigner(b"k" * 32)
    assert not signer.verify("a/b.webp", 10**10, "é" * 32)
    assert not signer.verify("a/b.webp", 10**10, "")
