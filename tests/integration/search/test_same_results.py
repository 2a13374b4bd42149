"""One fixed data set, the same top results on SQLite FTS5 and on PostgreSQL full text: both
runs of this test (embedded, scale-out) must produce the very same ordered lists."""

from __future__ import annotations

from datetime import timedelta

import httpx

from reelstack.runtime import Runtime
from tests.factories import make_user
from tests.integration.search.helpers import found, indexed_video

# label: (caption, description, views, likes, age in days)
DATA = {
    "salsa": ("Salsa dance tutorial", "learn the basic step", 5000, 300, 1),
    "tango": ("Tango dance tutorial for couples", "", 800, 20, 2),
    "hiphop": ("Hip hop dance battle", "street dance crew", 20000, 900, 10),
    "ballet": ("Ballet basics", "a dance tutorial for kids", 300, 10, 0),
    "baking": ("Baking sourdough bread", "", 9000, 700, 3),
    "bread": ("Quick bread recipe", "no knead dance of dough", 100, 2, 1),
    "tokyo": ("東京の夜景 night walk", "", 1200, 80, 4),
    "cafe": ("Café crème à Paris", "", 400, 30, 5),
}
QUERIES = {
    "dance tutorial": ["salsa", "tango", "ballet"],
    "dnce tutorail": ["salsa", "tango", "ballet"],
    "dance": ["hiphop", "salsa", "tango", "ballet", "bread"],
    "bread": ["baking", "bread"],
    "bak": ["baking"],
    "ba": ["baking", "hiphop", "ballet", "salsa"],
    "creme cafe": ["cafe"],
    "夜景": ["tokyo"],
    "salsa tango": ["salsa", "tango"],
}


async def test_the_same_data_gives_the_same_ranking(
    runtime: Runtime, client: httpx.AsyncClient, deployment: str
) -> None:
    owner = await make_user(runtime)
    ids: dict[str, str] = {}
    for label, (caption, description, views, likes, days) in DATA.items():
        ids[label] = await indexed_video(
            runtime, owner, caption, description=description, views=views, likes=likes,
            age=timedelta(days=days),
        )  # fmt: skip
    labels = {video_id: label for label, video_id in ids.items()}
    results = {q: [labels[i] for i in await found(client, q)] for q in QUERIES}
    assert results == QUERIES, deployment
