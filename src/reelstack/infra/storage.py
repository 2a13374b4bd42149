"""Object storage role: originals, renditions, thumbnails, avatars. A local directory or S3."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

MEDIA_PREFIX = "/media/"


class StorageError(RuntimeError):
    pass


class ObjectNotFound(StorageError):
    pass


def validate_key(key: str) -> str:
    """Keys are relative POSIX paths made by our code; refuse anything that could escape."""
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in {"", ".", ".."} for part in key.split("/"))
    ):
        raise StorageError(f"invalid storage key: {key!r}")
    return key


_URL_SAFE = re.compile(r"[A-Za-z0-9._~/-]*")


def url_quoted(text: str) -> str:
    """`quote(text)`, without its cost for the text it leaves as it is: our keys (ids, names,
    slashes) and tokens (digits, an id, base64url). A feed page puts ~100 in its URLs."""
    return text if _URL_SAFE.fullmatch(text) else quote(text)


class Storage(Protocol):
    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...
    async def move_file(self, key: str, path: Path, content_type: str) -> None:
        """Store a local file that the caller no longer needs (renamed into place if it can)."""
        ...

    async def get_bytes(self, key: str) -> bytes: ...
    async def download(self, key: str, dest: Path) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    def signed_url(self, key: str, expires_in: int) -> str:
        """A URL that serves the object until it expires, and nothing else."""
        ...

    async def ping(self) -> None: ...


# The types of what we store and serve; anything else is served as a download, never rendered.
MEDIA_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


def content_type_for(name: str) -> str:
    return MEDIA_CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


@runtime_checkable
class DirectUploads(Protocol):
    """Clients send an upload's bytes straight to the store (S3 multipart with presigned part
    URLs); only stores that can do so implement it."""

    async def start_multipart(self, key: str, content_type: str) -> str: ...
    def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str: ...
    async def list_parts(self, key: str, upload_id: str) -> list[tuple[int, int, str]]: ...
    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None: ...
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...


def direct_uploads(storage: Storage) -> DirectUploads | None:
    return storage if isinstance(storage, DirectUploads) else None


class UrlMemo:
    """Signed URLs reused for a while: an object asked for again within a tenth of the URL's
    lifetime (at most 5 minutes) gets the same URL, still valid for the rest of it. A feed page
    then signs each poster once per few minutes instead of per request, and browsers and CDNs,
    which cache by URL, see one URL per object."""

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self._urls: dict[tuple[str, int], tuple[str, float]] = {}

    def get(self, key: str, expires_in: int, make: Callable[[], str]) -> str:
        return self.hit(key, expires_in) or self.keep(key, expires_in, make())

    def hit(self, key: str, expires_in: int) -> str | None:
        """The URL made for this key a short while ago, if there is one."""
        found = self._urls.get((key, expires_in))
        if found is not None and time.monotonic() - found[1] < min(300.0, expires_in / 10):
            return found[0]
        return None

    def keep(self, key: str, expires_in: int, url: str) -> str:
        if len(self._urls) >= self.MAX_ENTRIES:
            self._urls.clear()
        self._urls[(key, expires_in)] = (url, time.monotonic())
        return url


class UrlSigner:
    """HMAC signatures for the media URLs the app serves itself in embedded mode."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"reelstack-media-url\x00" + secret).digest()

    def mac(self, key: str, expires: int) -> str:
        digest = hmac.digest(self._key, f"{key}\n{expires}".encode(), "sha256")
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def sign(self, key: str, expires_in: int, now: float | None = None) -> str:
        expires = int((now or time.time()) + expires_in)
        # The signature is base64url and the key is quoted: nothing in the query needs encoding.
        return f"{MEDIA_PREFIX}{url_quoted(key)}?expires={expires}&sig={self.mac(key, expires)}"

    def verify(self, key: str, expires: int, sig: str, now: float | None = None) -> bool:
        if expires < (now or time.time()) or not sig.isascii():
            return False
        return hmac.compare_digest(self.mac(key, expires).encode(), sig.encode())


class LocalStorage:
    """Files under one directory; written atomically so a reader never sees half an object."""

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._signer = signer
        self._urls = UrlMemo()

    def path_for(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"invalid storage key: {key!r}")
        return path

    def _write(self, key: str, writer: Any) -> None:
        dest = self.path_for(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            writer(tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, lambda tmp: tmp.write_bytes(data))

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, lambda tmp: shutil.copyfile(path, tmp))

    async def move_file(self, key: str, path: Path, content_type: str) -> None:
        dest = self.path_for(key)

        def move() -> None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, dest)  # atomic on one filesystem: no copy of a large chunk
            except OSError:
                self._write(key, lambda tmp: shutil.copyfile(path, tmp))

        await asyncio.to_thread(move)

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_for(key).read_bytes)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    async def download(self, key: str, dest: Path) -> None:
        src = self.path_for(key)
        if not src.is_file():
            raise ObjectNotFound(key)
        await asyncio.to_thread(shutil.copyfile, src, dest)

    async def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    async def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    async def delete_prefix(self, prefix: str) -> int:
        base = self.path_for(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return 1
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        await asyncio.to_thread(shutil.rmtree, base, True)
        return count

    def signed_url(self, key: str, expires_in: int) -> str:
        # A feed page asks for ~60 of these, nearly all remembered: no closure per call.
        url = self._urls.hit(key, expires_in)
        if url is None:
            url = self._urls.keep(key, expires_in, self._signer.sign(validate_key(key), expires_in))
        return url

    async def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"storage directory {self.root} is not writable")


class S3Storage:
    """Any S3-compatible store (AWS S3, MinIO, R2); URLs are presigned GETs."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._s3 = client
        self._urls = UrlMemo()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> S3Storage:
        rest = url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StorageError("REELSTACK_STORAGE_URL must look like s3://bucket[/prefix]")
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        return cls(bucket, prefix, client)

    def _k(self, key: str) -> str:
        return self.prefix + validate_key(key)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._s3.put_object,
            Bucket=self.bucket,
            Key=self._k(key),
            Body=data,
            ContentType=content_type,
        )

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(
            self._s3.upload_file,
            str(path),
            self.bucket,
            self._k(key),
            ExtraArgs={"ContentType": content_type},
        )

    async def move_file(self, key: str, path: Path, content_type: str) -> None:
        await self.put_file(key, path, content_type)
        await asyncio.to_thread(path.unlink, True)

    async def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            try:
                body: bytes = self._s3.get_object(Bucket=self.bucket, Key=self._k(key))[
                    "Body"
                ].read()
                return body
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    raise ObjectNotFound(key) from exc
                raise

        return await asyncio.to_thread(read)

    async def download(self, key: str, dest: Path) -> None:
        try:
            await asyncio.to_thread(self._s3.download_file, self.bucket, self._k(key), str(dest))
        except ClientError as exc:
            raise ObjectNotFound(key) from exc

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self._s3.head_object, Bucket=self.bucket, Key=self._k(key))
        except ClientError:
            return False
        return True

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._s3.delete_object, Bucket=self.bucket, Key=self._k(key))

    async def delete_prefix(self, prefix: str) -> int:
        def remove_all() -> int:
            count = 0
            paginator = self._s3.get_paginator("list_objects_v2")
            folder = self._k(prefix.rstrip("/")) + "/"
            for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                    count += len(keys)
            return count

        exact = 1 if await self.exists(prefix.rstrip("/")) else 0
        if exact:
            await self.delete(prefix.rstrip("/"))
        return exact + await asyncio.to_thread(remove_all)

    def signed_url(self, key: str, expires_in: int) -> str:
        def presign() -> str:
            url: str = self._s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._k(key)},
                ExpiresIn=expires_in,
            )
            return url

        return self._urls.get(key, expires_in, presign)

    async def ping(self) -> None:
        await asyncio.to_thread(self._s3.head_bucket, Bucket=self.bucket)

    # -- direct (multipart) uploads ---------------------------------------------------------
    async def start_multipart(self, key: str, content_type: str) -> str:
        started = await asyncio.to_thread(
            self._s3.create_multipart_upload,
            Bucket=self.bucket,
            Key=self._k(key),
            ContentType=content_type,
        )
        return str(started["UploadId"])

    def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        url: str = self._s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": self._k(key),
                "UploadId": upload_id,
                "PartNumber": part_number,
            },
            ExpiresIn=expires_in,
        )
        return url

    async def list_parts(self, key: str, upload_id: str) -> list[tuple[int, int, str]]:
        """(part number, size, ETag) of every part the store holds, in order."""

        def list_all() -> list[tuple[int, int, str]]:
            parts: list[tuple[int, int, str]] = []
            paginator = self._s3.get_paginator("list_parts")
            try:
                for page in paginator.paginate(
                    Bucket=self.bucket, Key=self._k(key), UploadId=upload_id
                ):
                    parts.extend(
                        (p["PartNumber"], p["Size"], p["ETag"]) for p in page.get("Parts", [])
                    )
            except ClientError as exc:
                raise ObjectNotFound(key) from exc
            return sorted(parts)

        return await asyncio.to_thread(list_all)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        await asyncio.to_thread(
            self._s3.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._k(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await asyncio.to_thread(
                self._s3.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self._k(key),
                UploadId=upload_id,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
