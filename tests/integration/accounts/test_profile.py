"""Profiles and the viewer's own account: edits and avatars."""

from __future__ import annotations

import asyncio
import io

import httpx
from PIL import Image

from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user


def image_bytes(fmt: str, size: tuple[int, int] = (300, 200), exif_gps: bool = False) -> bytes:
    img = Image.new("RGB", size, (200, 40, 40))
    buf = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo: where the photo was taken
        img.save(buf, format=fmt, exif=exif)
    else:
        img.save(buf, format=fmt)
    return buf.getvalue()


async def put_avatar(
    client: httpx.AsyncClient, user: TestUser, name: str, data: bytes, mime: str
) -> httpx.Response:
    return await client.put(
        "/api/v1/users/me/avatar", headers=user.headers, files={"file": (name, data, mime)}
    )


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Embedded URLs are served by the app itself; S3 ones are presigned absolute URLs."""
    if url.startswith("/"):
        return await client.get(url)
    async with httpx.AsyncClient() as outside:
        return await outside.get(url)


async def test_profile_by_id_or_username_and_edit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime, "zoe")
    r = await client.patch(
        "/api/v1/users/me",
        headers=me.headers,
        json={"display_name": "  Zoë Z  ", "bio": "I film birds 🐦"},
    )
    assert r.status_code == 200
    assert r.json()["display_name"] == "Zoë Z" and r.json()["bio"] == "I film birds 🐦"
    by_name = (await client.get("/api/v1/users/@ZOE")).json()
    assert by_name["user_id"] == me.id and by_name["display_name"] == "Zoë Z"
    assert "email" not in by_name  # private fields stay on /users/me
    assert (await client.get("/api/v1/users/me", headers=me.headers)).json()[
        "email"
    ] == "zoe@example.com"

    taken = await make_user(runtime, "yan")
    assert_problem(
        await client.patch("/api/v1/users/me", headers=me.headers, json={"username": "YAN"}),
        409,
        "username_taken",
    )
    r = await client.patch("/api/v1/users/me", headers=me.headers, json={"username": "zoe.films"})
    assert r.json()["username"] == "zoe.films"
    assert (await client.get("/api/v1/users/@zoe.films")).json()["user_id"] == me.id
    assert_problem(await client.get("/api/v1/users/@zoe"), 404, "user_not_found")
    assert_problem(
        await client.patch("/api/v1/users/me", headers=me.headers, json={"bio": "x" * 301}),
        422,
        "validation_failed",
    )
    assert_problem(
        await client.patch("/api/v1/users/me", headers=taken.headers, json={"role": "admin"}),
        422,
        "validation_failed",
    )
    assert_problem(await client.get("/api/v1/users/not-an-id"), 404, "user_not_found")


async def test_avatar_is_reencoded_in_three_sizes_and_served_signed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    r = await put_avatar(client, me, "me.jpg", image_bytes("JPEG", exif_gps=True), "image/jpeg")
    assert r.status_code == 200, r.text
    urls = r.json()["avatar_urls"]
    assert r.json()["avatar_url"] == urls["medium"]
    sizes = {}
    for name, url in urls.items():
        got = await fetch(client, url)
        assert got.status_code == 200
        img = Image.open(io.BytesIO(got.content))
        assert img.format == "WEBP"
        assert "exif" not in img.info  # the GPS position is gone
        sizes[name] = img.size
    assert sizes == {"small": (64, 64), "medium": (200, 200), "large": (200, 200)}

    # Another user sees the same avatar on the public profile.
    public = (await client.get(f"/api/v1/users/{me.id}")).json()
    assert (await fetch(client, public["avatar_url"])).status_code == 200

    old_url = urls["small"]
    r = await put_avatar(client, me, "x.png", image_bytes("PNG", (800, 800)), "image/png")
    assert r.json()["avatar_urls"] != urls
    # The replaced files are removed by a background job after the commit.
    for _ in range(100):
        if (await fetch(client, old_url)).status_code != 200:
            break
        await asyncio.sleep(0.1)
    assert (await fetch(client, old_url)).status_code in {403, 404}

    r = await client.delete("/api/v1/users/me/avatar", headers=me.headers)
    assert r.json()["avatar_url"] is None


async def test_hostile_avatars_are_refused_and_the_old_one_kept(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    good = await put_avatar(client, me, "a.png", image_bytes("PNG"), "image/png")
    before = good.json()["avatar_url"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    huge = image_bytes("PNG", (9000, 40))
    cases = [
        (("fake.png", b"this is text, not a picture", "image/png"), 415, "unsupported_image"),
        (("x.svg", svg, "image/svg+xml"), 415, "unsupported_image"),
        (("empty.png", b"", "image/png"), 415, "unsupported_image"),
        (("cut.png", image_bytes("PNG")[:60], "image/png"), 415, "unsupported_image"),
        (("tiny.png", image_bytes("PNG", (10, 10)), "image/png"), 422, "image_too_small"),
        (("wide.png", huge, "image/png"), 422, "image_too_large"),
        (("big.bmp", image_bytes("BMP"), "image/bmp"), 415, "unsupported_image"),
    ]
    for file, status, code in cases:
        r = await put_avatar(client, me, *file)
        assert_problem(r, status, code)
    me_now = (await client.get("/api/v1/users/me", headers=me.headers)).json()
    assert me_now["avatar_url"] is not None
    assert me_now["avatar_urls"]["medium"].split("?")[0] == before.split("?")[0]


async def test_oversized_avatar_upload_is_refused(
    client: httpx.AsyncClient,
    runtime: Runtime,
) -> None:
    me = await make_user(runtime)
    blob = b"\x89PNG" + b"\0" * (runtime.settings.avatar_max_bytes + 10)
    r = await put_avatar(client, me, "big.png", blob, "image/png")
    assert_problem(r, 413, "avatar_too_large")
