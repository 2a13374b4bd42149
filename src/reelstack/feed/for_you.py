"""The For-You feed: a per-viewer list of the top ~500 candidates, precomputed (refreshed after
activity or every 30 min) from concurrent candidate sources, ranked on shared features and
re-ranked for diversity. Pages are cut from it and re-ordered by the latest session's signals;
what was served goes into the seen filter, so a page never repeats one before it.

Never fails: if anything on the personal path errs or runs out of time, the page is trending
plus following."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from reelstack.db import JSONText
from reelstack.errors import Unprocessable
from reelstack.feed import seen, signals
from reelstack.feed.cards import CardFacts, FeedItem, listable, load_visible
from reelstack.feed.impressions import impression_log
from reelstack.feed.rerank import Slot, rerank
from reelstack.infra.ids import new_id
from reelstack.infra.pagination import PageParams, decode_cursor, encode_cursor
from reelstack.media.service import Viewer
from reelstack.recommend import candidates as sources
from reelstack.recommend.features import FEATURES, Taste, VideoFacts, features, similarity
from reelstack.recommend.ranker import current_ranker
from reelstack.social import service as social

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)
SOURCE_ORDER = ("following", "affinity", "coengagement", "trending", "fresh", "explore")
SESSION_WEIGHT = 1.2  # how far this session's signals move a precomputed score
WINDOW_FACTOR = 4
MIN_WINDOW = 120  # deep enough that this session's taste finds its videos
LOW_WATER = 3  # pages left in the list when the next one is built in the background
# Each page decodes only the lines of its viewer's list under its window. Decoded lists are
# not kept between pages: with more viewers taking turns than lists kept, none was ever found
# again, and the kept entries lived just long enough to fill the collector's old generation
# (its middle collections took 65-250 ms under load; without them a For-You page cost 4.2 ms
# of server CPU instead of 6.8 ms, bench/RESULTS.md).
CHUNK = 40  # entries per line of a stored list
RANK_BATCH = 100  # candidates ranked between two turns of the event loop
# Builds pages started in this process, by viewer and the list they follow, until they finish
# (see `_build_within_budget`): at most this many at once, each for at most this long.
_building: dict[tuple[str, str | None], asyncio.Task[StoredList]] = {}
CARRIED_BUILDS = 4
CARRY_ON_SECONDS = 30.0
# Whose list signed-out sessions share until their first signal: no session key ("s:...") and
# no user key ("u:...") can be this. It is rebuilt as often as trending is refreshed, so that
# a new visitor's first page has what was posted or took off minutes ago.
SHARED = "signed-out"


class Entry(NamedTuple):
    """An entry of a stored list. A tuple, not a dataclass: a page unpacks ~120 of them from
    their JSON rows, and a frozen dataclass's `__init__` cost about as much as the JSON did."""

    video_id: str
    score: float
    creator_id: str
    sound_id: str | None
    category: str | None
    hashtags: list[str]
    source: str
    reason: str
    # The features it was ranked on, in FEATURES order, as text: only the few entries a page
    # serves need them (for the impression log), and parsing ~7,500 floats as JSON numbers was
    # three quarters of the cost of decoding a list.
    features: str

    def packed(self) -> list[Any]:
        return list(self)

    @classmethod
    def unpacked(cls, row: list[Any]) -> Entry:
        if not isinstance(row[-1], str):  # a list stored before features were text
            row = [*row[:-1], pack_features(row[-1])]
        if len(row) != len(cls._fields):
            raise ValueError(f"a stored list entry has {len(row)} fields, not {len(cls._fields)}")
        return cls._make(row)

    def feature_values(self) -> dict[str, float]:
        return dict(zip(FEATURES, map(float, self.features.split(",")), strict=True))

    def features_json(self) -> JSONText:
        """`feature_values` as a JSON object, from the text as it is (the numbers are Python
        float reprs of finite values, valid JSON numbers): an impression logs it per entry
        served, and parsing and encoding the floats again cost several times more."""
        values = self.features.split(",")
        if len(values) != len(FEATURES):
            raise ValueError(f"{self.video_id}: {len(values)} features, not {len(FEATURES)}")
        return JSONText("{" + ",".join(map(str.__add__, _FEATURE_KEYS, values)) + "}")


_FEATURE_KEYS = [json.dumps(name) + ":" for name in FEATURES]


def pack_features(values: Sequence[float]) -> str:
    # A non-finite value would not be a JSON number (`features_json`); features never are.
    return ",".join(repr(float(v)) if math.isfinite(v) else "0.0" for v in values)


def _lines(rows: list[list[Any]]) -> list[str]:
    """Packed entries as the lines of a stored list, CHUNK to a line."""
    return [
        json.dumps(rows[i : i + CHUNK], separators=(",", ":")) for i in range(0, len(rows), CHUNK)
    ]


@dataclass(frozen=True)
class StoredList:
    """A viewer's list as stored: a header line, then one line of JSON per CHUNK entries.
    A page reads a window of ~120 of ~500 entries, so only the lines under that window are
    decoded, and each entry is unpacked when first read. Decoding whole lists was a fifth of
    the server's time under load, and each page decodes its viewer's list afresh."""

    version: str
    built_at: float
    length: int
    lines: list[str]  # a chunk's entries each, packed, as JSON
    _chunks: dict[int, list[list[Any]]] = field(default_factory=dict, compare=False, repr=False)
    _entries: dict[int, Entry] = field(default_factory=dict, compare=False, repr=False)
    _by_id: dict[str, Entry] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, version: str, built_at: float, entries: list[Entry]) -> StoredList:
        stored = cls(version, built_at, len(entries), _lines([e.packed() for e in entries]))
        for index, entry in enumerate(entries):
            stored._entries[index] = stored._by_id[entry.video_id] = entry
        return stored

    def encoded(self) -> str:
        head = json.dumps({"v": self.version, "at": self.built_at, "n": self.length, "c": CHUNK})
        # Compact JSON never holds a raw newline (one in a string is escaped), so lines split.
        return "\n".join([head, *self.lines])

    @classmethod
    def decoded(cls, raw: str) -> StoredList:
        if "\n" not in raw:  # one JSON object: a list stored before lines (an upgrade)
            data = json.loads(raw)
            return cls(data["v"], float(data["at"]), len(data["e"]), _lines(data["e"]))
        head, *lines = raw.split("\n")
        meta = json.loads(head)
        if meta["c"] != CHUNK:  # written with another chunk size: re-cut it
            lines = _lines([row for line in lines for row in json.loads(line)])
        return cls(meta["v"], float(meta["at"]), int(meta["n"]), lines)

    def __len__(self) -> int:
        return self.length

    def _row(self, index: int) -> list[Any]:
        chunk = self._chunks.get(index // CHUNK)
        if chunk is None:
            chunk = self._chunks[index // CHUNK] = json.loads(self.lines[index // CHUNK])
        return chunk[index % CHUNK]

    def entry(self, index: int) -> Entry:
        found = self._entries.get(index)
        if found is None:
            found = self._entries[index] = Entry.unpacked(self._row(index))
            self._by_id[found.video_id] = found
        return found

    def window(self, start: int, count: int) -> list[Entry]:
        return [self.entry(i) for i in range(start, min(start + count, self.length))]

    @property
    def entries(self) -> list[Entry]:
        """Every entry (for tools and tests; pages read windows)."""
        return self.window(0, self.length)

    def find(self, video_id: str) -> Entry | None:
        """The entry of this video among those decoded so far (pages look up the rest)."""
        return self._by_id.get(video_id)


@dataclass(frozen=True)
class Page:
    items: list[FeedItem]
    rows: dict[str, CardFacts]
    next_cursor: str | None


def reason_for(facts: VideoFacts, taste: Taste, source: str) -> str:
    tag, value = taste.best_hashtag(facts.hashtags)
    if source == "following":
        return f"from @{facts.creator_name}, whom you follow"
    if tag and value > 0:
        return f"because you liked #{tag}"
    if taste.creators.get(facts.creator_id, 0) > 0:
        return f"because you watched @{facts.creator_name}"
    if source == "coengagement":
        return "liked by people who like what you like"
    if source == "trending":
        return "trending in your region"
    if facts.new_creator and source == "fresh":
        return "new creator"
    if source == "fresh":
        return "just posted"
    return "something new to explore"


async def _gather(
    rt: Runtime, viewer: Viewer, taste: Taste, seeds: list[str], after: str | None
) -> list[sources.Candidate]:
    """Every source at once, each in its own session; one that errs gives nothing."""
    # Exploration differs per viewer and half hour, and is reproducible within them; a list
    # built because the viewer got to the end of the last one (`after`, its version) explores
    # elsewhere and further, since the other sources mostly offer what they already saw.
    rng = random.Random(f"{viewer.user_id}:{int(time.time() // 1800)}:{after or ''}")  # noqa: S311
    stretches = sources.EXPLORE_STRETCHES * (4 if after else 1)
    work: list[Any] = [
        sources.in_own_session(rt, lambda s: sources.affinity(s, taste)),
        sources.in_own_session(rt, lambda s: sources.co_engagement(s, seeds)),
        sources.trending_now(rt),
        sources.in_own_session(rt, sources.fresh),
        sources.in_own_session(rt, lambda s: sources.explore(s, rng, stretches)),
    ]
    if viewer.user_id is not None:
        user_id = viewer.user_id
        work.append(sources.in_own_session(rt, lambda s: sources.following(s, user_id)))
    results = await asyncio.gather(*work, return_exceptions=True)
    found: list[sources.Candidate] = []
    for result in results:
        if isinstance(result, BaseException):
            log.warning("a For-You candidate source failed: %r", result)
            continue
        found += result
    return found


async def build_list(
    rt: Runtime, viewer: Viewer, who: str, *, after: str | None = None
) -> StoredList:
    """Gather, rank and re-rank this viewer's candidates (none they have seen), and keep the
    list in the cache. `after` is the version of a list the viewer got to the end of."""
    recent = await signals.recent_signals(rt, who)
    async with rt.unit_of_work(write=False) as session:
        await seen.ensure_built(rt, session, who, viewer.user_id)
        taste, rejected = await sources.build_taste(session, viewer.user_id, recent)
        seeds = await sources.positive_videos(session, viewer.user_id) if viewer.user_id else []
    gathered = await _gather(rt, viewer, taste, seeds, after)
    by_id: dict[str, str] = {}
    for candidate in sorted(gathered, key=lambda c: SOURCE_ORDER.index(c.source)):
        by_id.setdefault(candidate.video_id, candidate.source)
    ids = [vid for vid in by_id if vid not in rejected]
    ids = await seen.unseen(rt, who, ids)
    async with rt.unit_of_work(write=False) as session:
        facts, rows = await sources.facts_of(session, ids)
        owners = list({video.user_id for video, _ in rows.values()})
        relations = await social.relationships(session, viewer.user_id, owners)
    ranker = await current_ranker(rt)
    now = time.time()
    entries: dict[str, Entry] = {}
    for n, (vid, (video, owner)) in enumerate(rows.items()):
        if n % RANK_BATCH == RANK_BATCH - 1:
            await asyncio.sleep(0)  # ~1,000 candidates: let the pages in flight go on between
        if owner.id == viewer.user_id or not listable(viewer, video, owner, relations[owner.id]):
            continue
        values = features(facts[vid], taste, by_id[vid], now)  # rounded there
        entries[vid] = Entry(
            vid,
            round(ranker.score(values), 6),
            owner.id,
            video.sound_id,
            video.category,
            list(video.hashtags),
            by_id[vid],
            reason_for(facts[vid], taste, by_id[vid]),
            pack_features([values.get(name, 0.0) for name in FEATURES]),
        )
    ranked = sorted(entries.values(), key=lambda e: e.score, reverse=True)
    slots = rerank([_slot(e, e.score) for e in ranked], rt.settings.for_you_list_size)
    stored = StoredList.of(new_id(), now, [entries[s.video_id] for s in slots])
    raw = stored.encoded()
    ttl = rt.settings.for_you_refresh_minutes * 60
    if who == SHARED:  # built once for every new visitor: kept as fresh as trending
        ttl = min(ttl, rt.settings.trending_refresh_minutes * 60)
    # The list first, then the version that names it: a reader never finds a version whose
    # list is not there yet.
    await rt.cache.set(signals.list_key(who), raw, ttl=ttl)
    await rt.cache.set(signals.version_key(who), stored.version, ttl=ttl)
    return stored


async def drop_list(rt: Runtime, who: str) -> None:
    """Forget the viewer's list: their next page builds a new one."""
    await rt.cache.delete(signals.version_key(who), signals.list_key(who))


def _slot(entry: Entry, score: float) -> Slot:
    return Slot(
        entry.video_id,
        score,
        entry.creator_id,
        entry.sound_id,
        entry.category,
        entry.source == "explore",
    )


async def stored_list(rt: Runtime, who: str) -> StoredList | None:
    """The viewer's current list: the one the cache's version names."""
    version = await rt.cache.get(signals.version_key(who))
    if version is None:
        return None
    raw = await rt.cache.get(signals.list_key(who))
    if raw is None:
        return None
    return StoredList.decoded(raw)


async def refresh_if_active(
    rt: Runtime, viewer: Viewer, who: str, built_at: float, newest: Sequence[signals.Signal]
) -> None:
    """After activity newer than the list, rebuild it in the background (once at a time)."""
    if not newest or newest[0].at <= built_at:
        return
    await _rebuild_in_background(rt, viewer, who)


async def _rebuild_in_background(
    rt: Runtime, viewer: Viewer, who: str, after: str | None = None
) -> None:
    """Have a job rebuild the viewer's list, unless one is already at it."""
    if await rt.cache.add(signals.building_key(who), "1", ttl=10):
        payload = {"user_id": viewer.user_id, "who": who, "after": after}
        await rt.jobs.enqueue("feed.precompute_for_you", payload)


def _session_taste(
    recent: Sequence[signals.Signal], since: float, stored: StoredList
) -> tuple[Taste, list[str]]:
    """This session's signals since the list was built, on what the list knows of videos;
    the ids it does not know are returned for a lookup."""
    taste = Taste()
    unknown = []
    for signal in recent:
        if signal.at < since:
            continue
        if signal.video_id is None:
            taste.add(signal.weight, creator=signal.creator_id)
        elif (entry := stored.find(signal.video_id)) is not None:
            taste.add(
                signal.weight,
                hashtags=entry.hashtags,
                creator=entry.creator_id,
                category=entry.category,
                sound=entry.sound_id,
            )
        else:
            unknown.append(signal.video_id)
    return taste, unknown


def _decode(cursor: str | None) -> dict[str, Any]:
    position = decode_cursor(cursor, "v")
    if position is None:
        return {"v": "", "p": 0, "c": []}
    if not isinstance(position.get("p"), int) or not isinstance(position.get("c"), list):
        raise Unprocessable("The cursor is not one this list gave out.", code="invalid_cursor")
    return position


async def _build_within_budget(
    rt: Runtime, viewer: Viewer, who: str, after: str | None = None
) -> StoredList:
    """Build the viewer's list for this page, waiting at most the budget. A build that takes
    longer is not thrown away: it carries on (this page falls back) and the viewer's next
    page finds the list; a page that comes while it runs waits for that build, not a second.
    A process carries on a few builds at a time: past that it is overloaded, and a build over
    budget is cancelled and left to a job, as the cheapest way out."""
    budget = rt.settings.for_you_budget_seconds
    key = (who, after)
    task = _building.get(key)
    if task is None and len(_building) >= CARRIED_BUILDS:
        try:
            async with asyncio.timeout(budget):
                return await build_list(rt, viewer, who, after=after)
        except TimeoutError:
            await _rebuild_in_background(rt, viewer, who, after)
            raise
    if task is None:
        task = asyncio.create_task(_carried_build(rt, viewer, who, after))
        _building[key] = task
        task.add_done_callback(lambda done: _built(key, done))
    async with asyncio.timeout(budget):
        return await asyncio.shield(task)


async def _carried_build(rt: Runtime, viewer: Viewer, who: str, after: str | None) -> StoredList:
    async with asyncio.timeout(CARRY_ON_SECONDS):
        return await build_list(rt, viewer, who, after=after)


def _built(key: tuple[str, str | None], task: asyncio.Task[StoredList]) -> None:
    if _building.get(key) is task:
        del _building[key]
    if not task.cancelled() and task.exception() is not None:
        log.warning("building a For-You list failed: %r", task.exception())


async def personal_page(
    rt: Runtime, session: AsyncSession, viewer: Viewer, who: str, page: PageParams
) -> Page:
    """A page cut from the precomputed list, adjusted by this session's signals. The feed does
    not end with the list: a viewer who gets to its end (or finds nothing unseen left in it)
    gets a new list built without what they have seen, and pages on from its start."""
    position = _decode(page.cursor)
    stored = await stored_list(rt, who)
    recent = await signals.recent_signals(rt, who)
    built_now = False
    if stored is None and viewer.user_id is None and not recent:
        # Signed out, and nothing done yet: the list would be any such session's list, so
        # they share one (each still pages through it with its own seen filter). A visitor
        # who never sends the session cookie back is such a session on every request.
        stored = await stored_list(rt, SHARED)
        if stored is None:
            stored, built_now = await _build_within_budget(rt, viewer, SHARED), True
    elif stored is None:
        stored, built_now = await _build_within_budget(rt, viewer, who), True
    else:
        await refresh_if_active(rt, viewer, who, stored.built_at, recent)
    if position["v"] == stored.version:
        start = position["p"]
    else:  # a first page, a fallback page's cursor, or a list rebuilt since the last page
        start = await _first_unseen(rt, who, stored)
    cut = await _cut(rt, session, viewer, who, stored, start, page, position["c"], recent)
    if cut is None and not built_now:
        stored = await _build_within_budget(rt, viewer, who, after=stored.version)
        cut = await _cut(rt, session, viewer, who, stored, 0, page, position["c"], recent)
    return cut or Page([], {}, None)


async def _first_unseen(rt: Runtime, who: str, stored: StoredList) -> int:
    """Where the viewer's unseen entries of the list begin, for a page whose cursor does not
    follow this list. Starting at 0 instead, a viewer who had paged through more than a
    window of it found only seen entries there and had the whole list rebuilt; under load that
    build ran out of budget, the page fell back to trending + following, and its cursor (which
    follows no list) did the same to the next page, and the next."""
    step = max(MIN_WINDOW, CHUNK)
    for start in range(0, len(stored), step):
        ids = [e.video_id for e in stored.window(start, step)]
        fresh = set(await seen.unseen(rt, who, ids))
        for offset, video_id in enumerate(ids):
            if video_id in fresh:
                return start + offset
    return len(stored)


async def _cut(
    rt: Runtime,
    session: AsyncSession,
    viewer: Viewer,
    who: str,
    stored: StoredList,
    start: int,
    page: PageParams,
    previous_creators: list[str],
    recent: Sequence[signals.Signal],
) -> Page | None:
    """The page from `start` on in the list, or None when nothing unseen is left in it."""
    # The whole session counts, not only what came after the list: a rebuilt list holds none
    # of the videos the session reacted to (they are seen), and their taste must carry over.
    taste, unknown = _session_taste(recent, 0.0, stored)
    before = [
        Slot(f"prev{i}", 0, c, None, None, False) for i, c in enumerate(previous_creators[-2:])
    ]
    if unknown:
        found = await sources.attributes(session, unknown)
        sources.apply_signals(taste, recent, found)
    window = stored.window(start, max(MIN_WINDOW, page.size * WINDOW_FACTOR))
    ids = [e.video_id for e in window]
    fresh_ids = set(await seen.unseen_on_page(rt, session, who, viewer.user_id, ids))
    pool = [e for e in window if e.video_id in fresh_ids]
    if taste.is_empty():  # similarity to an empty taste is 0: the stored order stands
        adjusted = [_slot(e, e.score) for e in pool]
    else:
        adjusted = [_slot(e, e.score + SESSION_WEIGHT * similarity(e, taste)) for e in pool]
    adjusted.sort(key=lambda s: s.score, reverse=True)
    slots = rerank(adjusted, page.size + 4, before)
    rows = await load_visible(session, viewer, [s.video_id for s in slots])
    by_id = {e.video_id: e for e in window}
    chosen = [by_id[s.video_id] for s in slots if s.video_id in rows][: page.size]
    served = {e.video_id for e in chosen}
    gone = served | {e.video_id for e in window if e.video_id not in fresh_ids}
    gone |= {s.video_id for s in slots if s.video_id not in rows}
    end = start
    while end < len(stored) and stored.entry(end).video_id in gone:
        end += 1
    if not chosen:
        return None
    await seen.mark_seen(rt, who, list(served))
    _log(rt, viewer, who, chosen, start)
    if start <= len(stored) - LOW_WATER * page.size < end:
        # This page crossed into the list's last pages: the next list is built before it is
        # asked for (once per list; a list shorter than that is rebuilt when it runs out).
        await _rebuild_in_background(rt, viewer, who, stored.version)
    creators = [e.creator_id for e in chosen][-2:]
    # Past the list's end the cursor still goes on: the next page starts a new list.
    cursor = encode_cursor({"v": stored.version, "p": end, "c": creators})
    items = [FeedItem(e.video_id, e.reason, e.source) for e in chosen]
    return Page(items, {e.video_id: rows[e.video_id] for e in chosen}, cursor)


def _log(rt: Runtime, viewer: Viewer, who: str, chosen: list[Entry], start: int) -> None:
    impression_log(rt).add(
        [
            {
                "user_id": viewer.user_id,
                "session_id": None if viewer.user_id else who.removeprefix("s:"),
                "video_id": e.video_id,
                "feed": "for_you",
                "source": e.source,
                "position": start + n,
                "score": e.score,
                "features": e.features_json(),
            }
            for n, e in enumerate(chosen)
        ]
    )


async def fallback_page(
    rt: Runtime, session: AsyncSession, viewer: Viewer, who: str, page: PageParams
) -> Page:
    """Trending plus following, unseen ones first: what a page is when ranking cannot run."""
    from reelstack.feed import trending
    from reelstack.feed.schemas import TimeRange

    picks: list[FeedItem] = []
    for trend in await trending.trending_ids(rt, TimeRange.DAY, limit=page.size * 5):
        picks.append(FeedItem(trend.video_id, "trending in your region", "trending"))
    if viewer.user_id is not None:
        for c in await sources.following(session, viewer.user_id):
            picks.append(FeedItem(c.video_id, "from someone you follow", "following"))
    fresh_ids = set(await seen.unseen(rt, who, [p.video_id for p in picks]))
    picks = [p for p in picks if p.video_id in fresh_ids]
    rows = await load_visible(session, viewer, [p.video_id for p in picks])
    unique: dict[str, FeedItem] = {}
    for pick in picks:
        if pick.video_id in rows and rows[pick.video_id].user_id != viewer.user_id:
            unique.setdefault(pick.video_id, pick)
    items = list(unique.values())[: page.size]
    await seen.mark_seen(rt, who, [i.video_id for i in items])
    cursor = encode_cursor({"v": "fallback", "p": 0, "c": []}) if items else None
    return Page(items, {i.video_id: rows[i.video_id] for i in items}, cursor)


async def for_you_page(
    rt: Runtime, session: AsyncSession, viewer: Viewer, who: str, page: PageParams
) -> Page:
    """The personal page, or trending + following when ranking errs or building the list
    takes longer than the budget. Only building is timed: cutting a page from a built list is
    cheaper than the fallback, so timing it out under load would only add work. The page's
    reads run in `session`, the request's read transaction, which shapes the cards after."""
    _decode(page.cursor)  # a malformed cursor is the client's error, not a ranking failure
    try:
        return await personal_page(rt, session, viewer, who, page)
    except TimeoutError:  # over budget: expected under load, and the build carries on
        log.warning("For-You list not built within its budget: trending + following served")
    except Exception:  # never fail: any error serves the fallback page
        log.exception("For-You fell back to trending + following")
    await session.rollback()  # a failed statement may have left the transaction unusable
    return await fallback_page(rt, session, viewer, who, page)
