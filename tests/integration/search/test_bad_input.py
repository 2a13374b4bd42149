"""Queries people (and attackers) type: refused when empty or too long, and full-text or SQL
syntax is only ever words."""

from __future__ import annotations

import httpx

from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user
from tests.integration.search.helpers import found, indexed_video, search

PATHS = (
    "/api/v1/search/videos",
    "/api/v1/search/users",
    "/api/v1/search/hashtags",
    "/api/v1/search/sounds",
    "/api/v1/search/suggest",
)
SYNTAX = [
    '"unclosed quote',
    'dance"',
    "dance*",
    "*",
    "-dance",
    "dance -tutorial",
    "dance OR tutorial",
    "dance NEAR tutorial",
    "NEAR(dance tutorial)",
    "(dance",
    "dance)",
    "dance \\ tutorial\\",
    "'; DROP TABLE videos; --",
    "dance' OR '1'='1",
    "tutorial:*",
    "dance & | ! <->",
    "{}[]^~:",
    "AND",
    "dance\x00tutorial",
]


async def test_empty_and_overlong_queries_are_refused(client: httpx.AsyncClient) -> None:
    for path in PATHS:
        assert_problem(await client.get(path), 422, "empty_query")
        assert_problem(await search(client, "", path=path), 422, "empty_query")
        assert_problem(await search(client, "   \t ", path=path), 422, "empty_query")
        assert_problem(await search(client, "\x00\n", path=path), 422, "empty_query")
        assert_problem(await search(client, "a" * 201, path=path), 422, "query_too_long")
        assert (await search(client, "a" * 200, path=path)).status_code == 200


async def test_a_foreign_cursor_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/search/videos", params={"q": "x", "cursor": "garbage"})
    assert_problem(r, 422, "invalid_cursor")


async def test_query_syntax_is_plain_words(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await make_user(runtime)
    video = await indexed_video(runtime, owner, "dance tutorial for everyone")
    for query in SYNTAX:
        for path in PATHS:
            r = await search(client, query, path=path)
            assert r.status_code == 200, (query, path, r.text)
        if "dance" in query or "tutorial" in query:
            assert video in await found(client, query), query
    # Every table is still there, and still searchable.
    assert await found(client, "dance tutorial") == [video]
