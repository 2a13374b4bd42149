"""Feed pages written as JSON from cards kept in the process.

A card is the same for every viewer but for a few fields: the playback token in its URLs,
the live counters, whether the viewer liked and saved it, where they stopped, its sound. So
each video's card is serialized once, with those places left open, and kept until the video
or its creator changes (their `updated_at`, read with the page's facts) or for at most a
minute (its signed media URLs stay valid for the rest of their hour). A page fills the open
places and joins the cards as text: no response model per card, no validation, no encoder.

Nothing here decides who sees what: a page writes only what `cards.load_visible` let
through, and that check reads the database on every page. A kept card is text, not a
permission."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.views import MediaLinks
from reelstack.analytics.service import resume_from
from reelstack.feed.cards import CardFacts, Changed, OwnerCard, VideoCard, load_cards
from reelstack.infra.per_runtime import PerRuntime
from reelstack.infra.shapes import built
from reelstack.infra.storage import url_quoted
from reelstack.media.models import VIDEO_COUNTERS
from reelstack.media.playback import PlaybackLinks, mint_token
from reelstack.media.schemas import UserInteraction, VideoOut, VideoStats
from reelstack.media.views import STATS_COUNTERS, VIEWER_FIELDS, card_fields
from reelstack.sounds.cards import sound_cards

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

KEEP_SECONDS = 60.0
MAX_KEPT = 20_000  # cards of ~1.5 KB: ~30 MB at most, then the shelf starts again empty

# Marks for the open places, random per process so that no caption can forge one.
_NONCE = secrets.token_hex(8)
_TOKEN = f"T{_NONCE}T"
_SLOT = re.compile(f'"J{_NONCE}J(\\w+)"|({_TOKEN})')
_STATS = "{{" + ",".join(f'"{out}":{{{name}}}' for out, name in STATS_COUNTERS.items()) + "}}"
_INTERACTION = {
    (liked, saved): UserInteraction(liked=liked, saved=saved).model_dump_json()
    for liked in (False, True)
    for saved in (False, True)
}
_DEFAULT_INTERACTION = built(UserInteraction, {"liked": False, "saved": False})


class KeptCard(NamedTuple):
    changed_at: Changed
    made: float  # time.monotonic()
    # Text and the names of open places, alternately, from text to text; the last text leaves
    # the card's object open, for the feed's `reason` or none.
    parts: tuple[str, ...]


def template(
    links: PlaybackLinks, media: MediaLinks, video: VideoCard, owner: OwnerCard
) -> tuple[str, ...]:
    """The video's card as JSON (as `VideoOut` serializes it), its open places marked."""
    fields = card_fields(links, media, video, owner, _TOKEN)
    fields["stats"] = built(VideoStats, dict.fromkeys(STATS_COUNTERS, 0))
    fields["user_interaction"] = _DEFAULT_INTERACTION
    data = built(VideoOut, fields).model_dump(mode="json")
    for name in VIEWER_FIELDS:
        data[name] = f"J{_NONCE}J{name}"
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    parts: list[str] = []
    at = 0
    for found in _SLOT.finditer(text):
        parts += [text[at : found.start()], found[1] or "token"]
        at = found.end()
    parts.append(text[at:-1])  # without the closing brace
    return tuple(parts)


class CardShelf:
    """This process's kept cards for one runtime (its storage and signer make the URLs)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._kept: dict[str, KeptCard] = {}
        self.keep_seconds = min(KEEP_SECONDS, rt.settings.media_url_ttl_seconds / 10)

    async def cards(
        self, session: AsyncSession, facts: Sequence[CardFacts]
    ) -> dict[str, tuple[str, ...]]:
        """The card of each video, as kept when it is still the video's, else made now."""
        now = time.monotonic()
        found: dict[str, tuple[str, ...]] = {}
        missing = []
        for fact in facts:
            kept = self._kept.get(fact.id)
            if (
                kept is not None
                and kept.changed_at == fact.changed_at
                and now - kept.made < self.keep_seconds
            ):
                found[fact.id] = kept.parts
            else:
                missing.append(fact.id)
        if missing:
            loaded = await load_cards(session, missing)
            if len(self._kept) + len(loaded) > MAX_KEPT:
                self._kept.clear()
            links, media = self._rt.playback, self._rt.media
            for video_id, (video, owner, changed_at) in loaded.items():
                parts = template(links, media, video, owner)
                self._kept[video_id] = KeptCard(changed_at, now, parts)
                found[video_id] = parts
        return found


shelf: PerRuntime[CardShelf] = PerRuntime(CardShelf)  # this process's, for a runtime


def _resume(fact: CardFacts) -> str:
    if fact.position_ms is None:
        return "null"
    return json.dumps(resume_from(fact.position_ms, fact.duration_ms or 0))


async def page_response(
    rt: Runtime,
    session: AsyncSession,
    viewer_id: str | None,
    items: Sequence[tuple[str, str | None]],
    facts: dict[str, CardFacts],
    cursor: str | None,
    *,
    reasons: bool,
) -> Response:
    """A page (`FeedPage` with `reasons`, else `VideoPage`) of these (video id, reason) items,
    each one a video `load_visible` let this viewer see: the live counters, the viewer's state
    and the sounds are read for the page, the rest comes from the kept cards."""
    chosen = [facts[video_id] for video_id, _ in items]
    counts = await rt.counters.read(VIDEO_COUNTERS, chosen)
    sound_ids = {fact.sound_id for fact in chosen if fact.sound_id}
    sounds = {
        sound_id: card.model_dump_json()
        for sound_id, card in (await sound_cards(session, viewer_id, sound_ids)).items()
    }
    kept = await shelf(rt).cards(session, chosen)
    links = rt.playback
    written = []
    for (video_id, reason), fact in zip(items, chosen, strict=True):
        parts = kept.get(video_id)
        if parts is None:
            continue  # deleted since its facts were read
        token = url_quoted(mint_token(links.signer, video_id, viewer_id, links.ttl_seconds))
        values = {
            "token": token,
            "stats": _STATS.format_map(counts[video_id]),
            "user_interaction": _INTERACTION[fact.liked, fact.saved],
            "resume_position": _resume(fact),
            "sound": sounds.get(fact.sound_id, "null") if fact.sound_id else "null",
        }
        card = [values[part] if n % 2 else part for n, part in enumerate(parts)]
        if reasons:
            card.append(',"reason":' + json.dumps(reason, ensure_ascii=False))
        card.append("}")
        written.append("".join(card))
    more = "true" if cursor is not None else "false"
    body = (
        '{"videos":['
        + ",".join(written)
        + '],"next_cursor":'
        + json.dumps(cursor)
        + ',"has_more":'
        + more
        + "}"
    )
    return Response(body.encode(), media_type="application/json")
