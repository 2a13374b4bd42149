"""`reelstack demo`: a believable community for the walk-through, the closed-loop test and the
benchmarks. Topics with hashtags; creators whose follower counts follow a power law; users
with hidden interests whose likes, follows and watches follow those interests. A few real clips
go through the real processing pipeline once, and many videos share their media (each video
still checks its own visibility when played), so a large world needs no large transcode."""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from reelstack.accounts.models import User
from reelstack.analytics.models import WatchEvent
from reelstack.db import utcnow
from reelstack.infra.ids import new_id
from reelstack.interactions.models import VideoLike
from reelstack.media.ffmpeg import ffmpeg_executable
from reelstack.media.models import JobState, Video, VideoStatus
from reelstack.media.processing import original_key, process_video
from reelstack.social.models import Follow

if TYPE_CHECKING:
    from reelstack.config import Settings
    from reelstack.runtime import Runtime

TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cooking": ("food", ("recipe", "baking", "streetfood")),
    "fitness": ("sports", ("workout", "yoga", "running")),
    "gaming": ("gaming", ("speedrun", "retro", "esports")),
    "music": ("music", ("guitar", "cover", "piano")),
    "travel": ("travel", ("hiking", "roadtrip", "beach")),
    "comedy": ("comedy", ("sketch", "standup", "prank")),
    "pets": ("animals", ("dogs", "cats", "birds")),
    "dance": ("dance", ("hiphop", "ballet", "tutorial")),
}
CLIP_COLORS = ("red", "green", "blue", "orange")
BATCH = 5000
PASSWORD = "demo password 1"  # noqa: S105 - the demo users' published password


@dataclass
class World:
    users: list[str] = field(default_factory=list)
    creators: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    topic_of_video: dict[str, str] = field(default_factory=dict)
    interests: dict[str, list[str]] = field(default_factory=dict)


Progress = Callable[[str, int], None]


def make_clip(ffmpeg: str, path: Path, color: str, seconds: float = 2.0) -> None:
    """A tiny real video (360p, with a tone) made by ffmpeg."""
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            ffmpeg, "-v", "error", "-y",
            "-f", "lavfi", "-i", f"color=c={color}:s=360x640:r=30:d={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip


async def _insert(rt: Runtime, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with rt.unit_of_work() as session:
            await session.execute(insert(table), rows[start : start + BATCH])


async def processed_templates(rt: Runtime, owner_id: str, count: int) -> list[dict[str, Any]]:
    """Media of `count` real clips put through the real pipeline: the columns to share."""
    shared = []
    ffmpeg = ffmpeg_executable(rt.settings.ffmpeg_path)
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(count):
            clip = Path(tmp) / f"clip{n}.mp4"
            await asyncio.to_thread(make_clip, ffmpeg, clip, CLIP_COLORS[n % len(CLIP_COLORS)])
            video_id = new_id()
            async with rt.unit_of_work() as session:
                session.add(
                    Video(
                        id=video_id,
                        user_id=owner_id,
                        caption=f"demo clip {n}",
                        status=VideoStatus.PROCESSING.value,
                        job_state=JobState.QUEUED.value,
                        source_info={},
                        visibility="private",
                    )
                )
            await rt.storage.put_file(original_key(video_id), clip, "video/mp4")
            await process_video(rt, video_id)
            async with rt.unit_of_work(write=False) as session:
                done = await session.get_one(Video, video_id)
                if done.status != VideoStatus.READY.value:
                    raise RuntimeError(f"demo clip {n} did not process: {done.error_detail}")
                shared.append(
                    {
                        "renditions": done.renditions,
                        "mp4_key": done.mp4_key,
                        "thumbnails": done.thumbnails,
                        "duration": done.duration,
                        "width": done.width,
                        "height": done.height,
                    }
                )
    return shared


async def build_world(
    rt: Runtime,
    *,
    users: int,
    videos: int,
    seed: int = 7,
    clips: int = 2,
    progress: Progress | None = None,
) -> World:
    """Fill the database with a community; returns what was made (ids, hidden interests)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible made-up data
    tick = progress or (lambda _stage, _n: None)
    world = World()
    topics = list(TOPICS)
    password_hash = await rt.passwords.hash(PASSWORD)
    now = utcnow()
    n_creators = max(len(topics) * 3, users // 8)
    prefix = f"d{seed}{rng.randrange(10**4):04d}"
    user_rows: list[dict[str, Any]] = []
    for n in range(users + n_creators):
        uid = new_id()
        name = f"{prefix}{'c' if n < n_creators else 'u'}{n}"
        user_rows.append(
            {
                "id": uid, "username": name, "email": f"{name}@example.com",
                "password_hash": password_hash, "display_name": name.title(), "bio": "",
                "created_at": now - timedelta(days=60), "updated_at": now,
                "role": "user", "is_verified": False, "is_private": False, "is_active": True,
                "follower_count": 0, "following_count": 0, "video_count": 0, "total_likes": 0,
            }
        )  # fmt: skip
        (world.creators if n < n_creators else world.users).append(uid)
    creator_topic = {c: topics[i % len(topics)] for i, c in enumerate(world.creators)}
    # Power law: the k-th creator draws attention in proportion to 1/k.
    popularity = [1 / (k + 1) for k in range(n_creators)]
    rank = {c: k for k, c in enumerate(world.creators)}
    creators_of = {t: [c for c in world.creators if creator_topic[c] == t] for t in topics}
    await _insert(rt, User.__table__, user_rows)
    media = await processed_templates(rt, world.creators[0], clips) if clips else [{}]
    tick("users", len(user_rows))

    video_rows: list[dict[str, Any]] = []
    per_topic: dict[str, list[str]] = {t: [] for t in topics}
    for n in range(videos):
        topic = topics[n % len(topics)]
        makers = creators_of[topic]
        creator = rng.choices(makers, [popularity[rank[c]] for c in makers])[0]
        category, subtags = TOPICS[topic]
        tags = [topic, rng.choice(subtags)]
        at = now - timedelta(hours=rng.uniform(0.1, 24 * 14))
        vid = new_id()
        shared = media[n % len(media)]
        video_rows.append(
            {
                "id": vid, "user_id": creator, "caption": " ".join(f"#{t}" for t in tags),
                "description": "", "hashtags": tags, "category": category,
                "visibility": "public", "allow_comments": True, "status": "ready",
                "progress": 100, "duration": shared.get("duration") or 15.0,
                "width": shared.get("width") or 360, "height": shared.get("height") or 640,
                "renditions": shared.get("renditions") or [], "mp4_key": shared.get("mp4_key"),
                "thumbnails": shared.get("thumbnails") or {}, "job_state": "done",
                "created_at": at, "updated_at": at, "published_at": at,
                "hidden_by_moderation": False, "attempts": 0,
                "view_count": 0, "like_count": 0, "comment_count": 0, "share_count": 0,
                "save_count": 0, "counters_seq": 0,
            }
        )  # fmt: skip
        world.videos.append(vid)
        world.topic_of_video[vid] = topic
        per_topic[topic].append(vid)

    follows: set[tuple[str, str]] = set()
    likes: list[dict[str, Any]] = []
    watches: list[dict[str, Any]] = []
    for uid in world.users:
        interests = rng.sample(topics, 2)
        world.interests[uid] = interests
        fans_of = [c for c in world.creators if creator_topic[c] in interests]
        weights = [popularity[rank[c]] for c in fans_of]
        for creator in rng.choices(fans_of, weights, k=min(5, len(fans_of))):
            follows.add((uid, creator))
        for _ in range(min(30, videos)):
            topic = rng.choice(interests) if rng.random() < 0.8 else rng.choice(topics)
            if not per_topic[topic]:
                continue
            vid = rng.choice(per_topic[topic])
            liked = topic in interests
            duration_ms = 15000
            watched = duration_ms if liked else rng.randint(500, 2500)
            at = now - timedelta(hours=rng.uniform(0, 24 * 7))
            watches.append(
                {
                    "video_id": vid, "user_id": uid, "session_id": None, "watched_ms": watched,
                    "duration_ms": duration_ms, "source": "for_you", "counted": liked,
                    "created_at": at,
                }
            )  # fmt: skip
            if liked and rng.random() < 0.4:
                likes.append({"user_id": uid, "video_id": vid, "created_at": at})
    likes = list({(r["user_id"], r["video_id"]): r for r in likes}.values())

    by_id = {row["id"]: row for row in video_rows}
    for row in likes:
        by_id[row["video_id"]]["like_count"] += 1
    for row in watches:
        by_id[row["video_id"]]["view_count"] += int(row["counted"])
    users_by_id = {row["id"]: row for row in user_rows}
    for follower, followee in follows:
        users_by_id[followee]["follower_count"] += 1
        users_by_id[follower]["following_count"] += 1
    for creator, count in Counter(r["user_id"] for r in video_rows).items():
        users_by_id[creator]["video_count"] = count

    await _update_counts(rt, user_rows)
    for start in range(0, len(video_rows), BATCH):
        await _insert(rt, Video.__table__, video_rows[start : start + BATCH])
        tick("videos", len(video_rows[start : start + BATCH]))
    now_rows = [{"follower_id": a, "followee_id": b, "created_at": now} for a, b in follows]
    await _insert(rt, Follow.__table__, now_rows)
    await _insert(rt, VideoLike.__table__, likes)
    await _insert(rt, WatchEvent.__table__, watches)
    tick("interactions", len(now_rows) + len(likes) + len(watches))
    return world


async def _update_counts(rt: Runtime, user_rows: list[dict[str, Any]]) -> None:
    """The follower, following and video counts worked out while building."""
    from sqlalchemy import bindparam, update

    names = ("follower_count", "following_count", "video_count")
    stmt = (
        update(User)
        .where(User.id == bindparam("uid"))
        .values({n: bindparam(f"new_{n}") for n in names})
    )
    params = [{"uid": r["id"], **{f"new_{n}": r[n] for n in names}} for r in user_rows]
    for start in range(0, len(params), BATCH):
        async with rt.unit_of_work() as session:
            conn = await session.connection()
            await conn.execute(stmt, params[start : start + BATCH])


async def creator_username(rt: Runtime, user_id: str) -> str:
    async with rt.unit_of_work(write=False) as session:
        name = await session.scalar(select(User.username).where(User.id == user_id))
    return str(name)


async def run_demo(settings: Settings, *, users: int, videos: int, clips: int, seed: int) -> World:
    """`reelstack demo`: build the world with a progress bar, then compute trending."""
    from rich.progress import Progress as Bar

    from reelstack.feed import trending
    from reelstack.runtime import open_runtime

    async with open_runtime(settings) as rt:
        with Bar() as bar:
            task = bar.add_task("building the demo world", total=users + videos + 1)

            def tick(stage: str, n: int) -> None:
                bar.update(task, advance=n if stage != "interactions" else 1)

            world = await build_world(
                rt, users=users, videos=videos, clips=clips, seed=seed, progress=tick
            )
        await trending.refresh_all(rt)
    return world
