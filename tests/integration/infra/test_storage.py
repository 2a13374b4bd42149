"""The object storage role: a local directory (embedded) or an S3 endpoint (scale-out), and the
signed URLs each one hands to clients."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from reelstack.infra.storage import LocalStorage, ObjectNotFound, StorageError
from reelstack.runtime import Runtime
from tests.factories import assert_problem

SEGMENT = bytes(range(256)) * 40  # 10 KiB, every byte value, so a wrong slice shows


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.exists() for p in root.rglob("*"))


def any_exists(*paths: Path) -> bool:
    return any(p.exists() for p in paths)


def local_root(rt: Runtime) -> Path | None:
    return rt.storage.root if isinstance(rt.storage, LocalStorage) else None


async def test_bytes_round_trip_exists_and_delete(runtime: Runtime) -> None:
    storage = runtime.storage
    key = "videos/v1/720p/seg_00001.m4s"
    assert await storage.exists(key) is False
    await storage.put_bytes(key, SEGMENT, "video/iso.segment")
    assert await storage.exists(key) is True
    assert await storage.get_bytes(key) == SEGMENT

    await storage.put_bytes(key, b"replaced", "video/iso.segment")
    assert await storage.get_bytes(key) == b"replaced"

    await storage.delete(key)
    assert await storage.exists(key) is False
    with pytest.raises(ObjectNotFound):
        await storage.get_bytes(key)
    await storage.delete(key)  # deleting twice is fine (jobs run twice)


async def test_put_file_and_download(runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "original.mp4"
    source.write_bytes(SEGMENT * 3)
    await runtime.storage.put_file("originals/v1/source.mp4", source, "video/mp4")
    source.unlink()  # the store holds its own copy

    dest = tmp_path / "work" / "copy.mp4"
    dest.parent.mkdir()
    await runtime.storage.download("originals/v1/source.mp4", dest)
    assert dest.read_bytes() == SEGMENT * 3
    with pytest.raises(ObjectNotFound):
        await runtime.storage.download("originals/v1/missing.mp4", tmp_path / "nothing.mp4")


async def test_delete_prefix_removes_only_that_folder(runtime: Runtime) -> None:
    storage = runtime.storage
    doomed = ["videos/v1/720p/a.m4s", "videos/v1/720p/b.m4s", "videos/v1/master.m3u8"]
    kept = ["videos/v10/master.m3u8", "videos/v1x.txt", "videos/v2/master.m3u8", "avatars/v1/a"]
    for key in doomed + kept:
        await storage.put_bytes(key, key.encode(), "application/octet-stream")

    assert await storage.delete_prefix("videos/v1") == len(doomed)

    for key in doomed:
        assert await storage.exists(key) is False, key
    # "videos/v1" is a folder: videos/v10/... and videos/v1x.txt are other objects.
    for key in kept:
        assert await storage.get_bytes(key) == key.encode(), key
    assert await storage.delete_prefix("videos/v1") == 0


async def test_delete_prefix_accepts_a_trailing_slash(runtime: Runtime) -> None:
    storage = runtime.storage
    await storage.put_bytes("avatars/u1/k1/small.webp", b"s", "image/webp")
    await storage.put_bytes("avatars/u1/k2/small.webp", b"t", "image/webp")
    assert await storage.delete_prefix("avatars/u1/k1/") == 1
    assert await storage.exists("avatars/u1/k1/small.webp") is False
    assert await storage.exists("avatars/u1/k2/small.webp") is True


@pytest.mark.parametrize(
    "key",
    [
        "../escape.txt",
        "videos/../../escape.txt",
        "/etc/escape.txt",
        "videos\\..\\escape.txt",
        "videos/a\x00.txt",
        "",
        "videos//a.txt",
        "./a.txt",
        "videos/.",
    ],
)
async def test_keys_that_could_escape_are_refused(
    runtime: Runtime, tmp_path: Path, key: str
) -> None:
    storage = runtime.storage
    before = files_under(tmp_path)
    with pytest.raises(StorageError):
        await storage.put_bytes(key, b"evil", "text/plain")
    with pytest.raises(StorageError):
        await storage.get_bytes(key)
    with pytest.raises(StorageError):
        await storage.exists(key)
    with pytest.raises(StorageError):
        await storage.delete(key)
    with pytest.raises(StorageError):
        storage.signed_url(key, 60)
    # Nothing was written anywhere: not in the data directory, not beside it.
    assert files_under(tmp_path) == before
    assert not any_exists(
        tmp_path / "escape.txt", tmp_path.parent / "escape.txt", Path("/etc/escape.txt")
    )


async def test_an_escaping_prefix_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "file.txt").write_text("keep me")
    root = local_root(runtime)
    relative = "../" * (len(root.relative_to(tmp_path).parts) if root else 3) + "precious"
    with pytest.raises(StorageError):
        await runtime.storage.delete_prefix(relative)
    assert (outside / "file.txt").read_text() == "keep me"


@pytest.mark.parametrize("deployment", ["embedded"])
async def test_a_symlink_out_of_the_media_directory_is_not_followed(
    runtime: Runtime, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    root = local_root(runtime)
    assert root is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not media")
    (root / "videos").mkdir()
    (root / "videos" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError):
        await runtime.storage.put_bytes("videos/link/new.txt", b"evil", "text/plain")
    with pytest.raises(StorageError):
        await runtime.storage.get_bytes("videos/link/secret.txt")
    assert files_under(outside) == [outside / "secret.txt"]
    url = runtime.signer.sign("videos/link/secret.txt", 60)
    assert_problem(await client.get(url), 404, "media_not_found")


# -- signed URLs: served by the app (embedded) or by the object store (scale-out) ---------------


async def _signed_media(runtime: Runtime, key: str, content_type: str) -> str:
    await runtime.storage.put_bytes(key, SEGMENT, content_type)
    return runtime.storage.signed_url(key, 60)


async def test_signed_url_serves_the_object_with_range(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    if isinstance(runtime.storage, LocalStorage):
        await _app_served_url_serves_the_file(client, runtime)
    else:
        await _presigned_url_serves_the_object(runtime)


async def _app_served_url_serves_the_file(client: httpx.AsyncClient, runtime: Runtime) -> None:
    url = await _signed_media(runtime, "videos/v1/720p/seg_00001.m4s", "video/iso.segment")
    assert url.startswith("/media/videos/v1/720p/seg_00001.m4s?")

    full = await client.get(url)
    assert full.status_code == 200
    assert full.content == SEGMENT
    assert full.headers["content-type"] == "video/iso.segment"
    assert full.headers["x-content-type-options"] == "nosniff"
    assert full.headers["cache-control"].startswith("private, max-age=")
    assert 0 < int(full.headers["cache-control"].rsplit("=", 1)[1]) <= 60

    part = await client.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.content == SEGMENT[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(SEGMENT)}"

    tail = await client.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == SEGMENT[-16:]

    head = await client.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(SEGMENT)

    playlist = await _signed_media(runtime, "videos/v1/master.m3u8", "x")
    assert (await client.get(playlist)).headers["content-type"] == "application/vnd.apple.mpegurl"


async def _presigned_url_serves_the_object(runtime: Runtime) -> None:
    key = "videos/v1/720p/seg_00001.m4s"
    await runtime.storage.put_bytes(key, SEGMENT, "video/iso.segment")
    url = runtime.storage.signed_url(key, 60)
    parts = urlsplit(url)
    assert parts.scheme == "http" and url.startswith(runtime.settings.s3_endpoint_url or "-")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["60"] and query["X-Amz-Signature"][0]

    async with httpx.AsyncClient() as plain:
        full = await plain.get(url)
        assert full.status_code == 200, full.text
        assert full.content == SEGMENT
        assert full.headers["content-type"] == "video/iso.segment"
        part = await plain.get(url, headers={"Range": "bytes=100-299"})
        assert part.status_code == 206 and part.content == SEGMENT[100:300]
        # The objects are private: the same address without the signature is refused.
        unsigned = await plain.get(urlunsplit(parts._replace(query="")))
        assert unsigned.status_code == 403


async def test_tampered_expired_or_unsigned_media_urls_get_404(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    key = "videos/v1/thumb.jpg"
    await runtime.storage.put_bytes(key, b"\xff\xd8jpeg", "image/jpeg")
    good = runtime.signer.sign(key, 60)
    if isinstance(runtime.storage, LocalStorage):
        assert (await client.get(good)).status_code == 200
    else:
        # Scale-out serves media from the object store only: the app's route serves nothing,
        # even under a signature made with the app's own key.
        assert_problem(await client.get(good), 404, "media_not_found")
        return

    path, _, query = good.partition("?")
    params = parse_qs(query)
    sig, expires = params["sig"][0], int(params["expires"][0])
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    attempts = [
        f"{path}?expires={expires}&sig={flipped}",  # forged signature
        f"{path}?expires={expires + 3600}&sig={sig}",  # stretched expiry
        f"/media/videos/v1/other.jpg?expires={expires}&sig={sig}",  # another file
        path,  # no signature
        runtime.signer.sign(key, 60, now=time.time() - 3600),  # long expired
        runtime.storage.signed_url(key, -5),  # expired at birth
        runtime.signer.sign("videos/v1/missing.jpg", 60),  # signed, but absent
    ]
    for url in attempts:
        assert_problem(await client.get(url), 404, "media_not_found")
