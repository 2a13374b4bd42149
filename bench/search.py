"""Search latency at 100K videos on the embedded deployment (SQLite FTS5).

Targets (issue 6): video search p99 <= 50 ms at 100K videos; suggest p99 <= 20 ms.

The data set is written straight into a migrated SQLite file in bulk (users, videos, their
search documents, the FTS5 rows, the vocabulary with its SymSpell deletes, hashtags), each
document built by the same `reelstack.search.indexing` code the index jobs run. Captions draw
words from a Zipf-like vocabulary so common words match thousands of videos, as real ones do.
Then a real `reelstack serve` (jobs in-process: each search also records its query) answers
searches over HTTP from one signed-in client, one request at a time, and the latency of each
is measured from sending it to the last byte of its body.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, create_engine, insert, text

from common import CACHE, Api, fresh_dir, invoked_as, machine_report, running_server
from reelstack.accounts.models import User
from reelstack.db import Database
from reelstack.infra.ids import new_id
from reelstack.infra.search import deletes, spell_depth
from reelstack.media.models import Video
from reelstack.migrate import upgrade_to_head
from reelstack.search import indexing
from reelstack.search.models import Hashtag, SearchDocument, SearchTerm, VideoHashtag

SYLLABLES = "ka lo mi ne ru sa te vo da bi gu fe ho ja li mo nu pa ri so tu ve wa zo".split()
COMMON = (
    "dance tutorial cooking recipe travel vlog funny cat dog music guitar piano workout "
    "fitness makeup fashion street food night city beach sunset prank challenge gaming "
    "football basketball art drawing painting diy garden coffee bread pasta tokyo paris"
).split()
QUERIES = [
    "dance", "dance tutorial", "dnce tutorial", "cooking recipe", "cokking", "street food",
    "sunset beach", "guitar", "gui", "funny cat", "workout fitness", "tokyo night", "parsi",
    "makeup", "basketbal", "travel vlog", "coffee", "bread pasta", "dra", "kalomi",
]  # fmt: skip
PREFIXES = ["d", "da", "dan", "co", "coo", "gu", "sun", "tok", "fu", "ka", "mi", "pa", "st"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words = set(COMMON)
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    ordered = list(COMMON) + sorted(words - set(COMMON))
    return ordered


def zipf_pick(words: list[str], rng: random.Random) -> str:
    # Rank r chosen with probability ~ 1/r.
    return words[min(int(math.exp(rng.random() * math.log(len(words)))) - 1, len(words) - 1)]


def build(data_dir: Path, videos: int, users: int, seed: int) -> None:
    """A migrated database holding `videos` public, ready, indexed videos."""
    path = data_dir / "reelstack.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    asyncio.run(upgrade_to_head(db.writer))
    asyncio.run(db.dispose())
    rng = random.Random(seed)  # noqa: S311 (a reproducible data set, not a secret)
    words = vocabulary(5000, rng)
    now = datetime.now(UTC)
    people = [
        User(
            id=new_id(), username=f"{zipf_pick(words, rng)}_{i}"[:30],
            email=f"user{i}@example.com", password_hash="!",  # noqa: S106 (no password: never signs in)
            display_name=f"Creator {i}",
            bio=" ".join(zipf_pick(words, rng) for _ in range(5)), role="user",
            is_verified=i % 50 == 0, is_private=False, is_active=True,
            follower_count=int(rng.paretovariate(1.2)), following_count=0, video_count=0,
            total_likes=0, created_at=now, updated_at=now,
        )
        for i in range(users)
    ]  # fmt: skip
    engine = create_engine(f"sqlite:///{path}")
    docs = Docs()
    tags: Counter[str] = Counter()
    tag_views: Counter[str] = Counter()
    with engine.begin() as conn:
        conn.execute(insert(User.__table__), [_row(u) for u in people])
        for user in people:
            docs.add(indexing.user_doc(user))
        docs.flush(conn)
        batch: list[tuple[Video, list[str]]] = []
        for i in range(videos):
            owner = people[int(rng.paretovariate(1.0)) % users]
            caption_words = [zipf_pick(words, rng) for _ in range(rng.randint(3, 8))]
            video_tags = list(
                dict.fromkeys(zipf_pick(words, rng) for _ in range(rng.randint(0, 3)))
            )
            created = now - timedelta(days=rng.random() * 60)
            views = int(rng.paretovariate(0.8))
            video = Video(
                id=new_id(), user_id=owner.id, caption=" ".join(caption_words),
                description=" ".join(zipf_pick(words, rng) for _ in range(rng.randint(0, 12))),
                hashtags=video_tags, category=None, visibility="public", allow_comments=True,
                status="ready", progress=100, duration=rng.uniform(5, 400), width=1080,
                height=1920, renditions=[], thumbnails={}, hidden_by_moderation=False,
                view_count=views, like_count=views // 20, comment_count=views // 200,
                share_count=0, save_count=0, counters_seq=0, job_state="done", attempts=0,
                created_at=created, updated_at=created, published_at=created,
            )  # fmt: skip
            batch.append((video, video_tags))
            for tag in video_tags:
                tags[tag] += 1
                tag_views[tag] += views
            if len(batch) == 5000 or i == videos - 1:
                conn.execute(insert(Video.__table__), [_row(v) for v, _ in batch])
                by_id = {u.id: u for u in people}
                for video, _ in batch:
                    docs.add(indexing.video_doc(video, by_id[video.user_id], None))
                docs.flush(conn)
                rows = [{"tag": t, "video_id": v.id} for v, ts in batch for t in ts]
                if rows:
                    conn.execute(insert(VideoHashtag.__table__), rows)
                batch = []
        conn.execute(
            insert(SearchTerm.__table__),
            [{"term": t, "doc_count": n} for t, n in docs.vocab.items()],
        )
        spell = [
            {"variant": v, "term": t}
            for t in docs.vocab
            if spell_depth(t)
            for v in deletes(t, spell_depth(t))
        ]
        conn.execute(
            text(
                "INSERT OR IGNORE INTO search_term_deletes (variant, term) VALUES (:variant, :term)"
            ),
            spell,
        )
        conn.execute(
            insert(Hashtag.__table__),
            [{"tag": t, "video_count": n, "view_count": tag_views[t], "last_used_at": now}
             for t, n in tags.items()],
        )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def _row(obj: object) -> dict[str, object]:
    table = obj.__table__  # type: ignore[attr-defined]
    return {c.name: getattr(obj, c.key) for c in table.columns if getattr(obj, c.key) is not None}


class Docs:
    """Search documents and their FTS5 rows, written in batches."""

    def __init__(self) -> None:
        self.next_id = 0
        self.docs: list[dict[str, object]] = []
        self.fts: list[dict[str, object]] = []
        self.vocab: Counter[str] = Counter()

    def add(self, doc: indexing.Doc) -> None:
        self.next_id += 1
        terms = doc.all_terms or [indexing.EMPTY_TERM]
        joined = " ".join(terms)
        self.docs.append(
            {"id": self.next_id, "kind": doc.kind, "ref_id": doc.ref_id,
             "primary_terms": " ".join(doc.primary), "secondary_terms": " ".join(doc.secondary),
             "terms": joined, "rank_key": doc.rank_key, "updated_at": datetime.now(UTC)}
        )  # fmt: skip
        self.fts.append({"id": self.next_id, "terms": joined})
        self.vocab.update(t for t in terms if t != indexing.EMPTY_TERM)

    def flush(self, conn: Connection) -> None:
        if self.docs:
            conn.execute(insert(SearchDocument.__table__), self.docs)
            conn.execute(
                text("INSERT INTO fts_search_documents (rowid, terms) VALUES (:id, :terms)"),
                self.fts,
            )
        self.docs, self.fts = [], []


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def measure(api: Api, path: str, queries: list[str], rounds: int) -> list[float]:
    latencies = []
    for i in range(rounds):
        started = time.perf_counter()
        response = api.client.get(path, params={"q": queries[i % len(queries)]})
        response.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def summary(name: str, latencies: list[float], target: float) -> str:
    p99 = percentile(latencies, 99)
    return (
        f"| {name} | {len(latencies)} | {statistics.median(latencies):.1f} | "
        f"{percentile(latencies, 95):.1f} | {p99:.1f} | {max(latencies):.1f} | <= {target:.0f} "
        f"{'met' if p99 <= target else 'NOT met'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()

    data_dir = fresh_dir(CACHE / "search")
    started = time.perf_counter()
    build(data_dir, args.videos, args.users, args.seed)
    built = time.perf_counter() - started
    print(f"built {args.videos} videos in {built:.0f} s", flush=True)
    env = {"REELSTACK_RATE_LIMIT_AUTHENTICATED": "1000000/minute"}
    with running_server(data_dir, env) as server:
        api = Api(server)
        try:
            counts = [len(api.client.get("/api/v1/search/videos", params={"q": q}).json()["videos"])
                      for q in QUERIES]  # fmt: skip
            measure(api, "/api/v1/search/videos", QUERIES, 50)  # warm the caches
            search = measure(api, "/api/v1/search/videos", QUERIES, args.rounds)
            suggest = measure(api, "/api/v1/search/suggest", PREFIXES, args.rounds)
        finally:
            api.close()
    print(machine_report(invoked_as()))
    print(f"- data: {args.videos} videos by {args.users} creators, built in {built:.0f} s")
    print(f"- first-page results per query: {dict(zip(QUERIES, counts, strict=True))}")
    print("\n| endpoint | requests | p50 ms | p95 ms | p99 ms | max ms | target (p99) |")
    print("|---|---|---|---|---|---|---|")
    print(summary("GET /search/videos", search, 50))
    print(summary("GET /search/suggest", suggest, 20))


if __name__ == "__main__":
    main()
