"""Background work of the feeds: trending every few minutes, For-You lists after activity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.feed import for_you, impressions, signals, trending
from reelstack.infra.jobs import job
from reelstack.media.service import Viewer

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@job("feed.refresh_trending", queue="feed", every_minutes=5)
async def refresh_trending(rt: Runtime) -> None:
    """Recompute trending every five minutes, or less often when `trending_refresh_minutes`
    says so (the first process to claim the period does the work)."""
    ttl = rt.settings.trending_refresh_minutes * 60 - 5
    if await rt.cache.add("feed:trending:claimed", "1", ttl=max(ttl, 1)):
        await trending.refresh_all(rt)


@job("feed.precompute_for_you", queue="feed", retries=1)
async def precompute_for_you(
    rt: Runtime, *, user_id: str | None, who: str, after: str | None = None
) -> None:
    """Rebuild one viewer's For-You list after their activity, or as they near its end
    (`after`: the version of that list)."""
    try:
        await for_you.build_list(rt, Viewer(user_id), who, after=after)
    finally:
        await rt.cache.delete(signals.building_key(who))


@job("feed.prune_impressions", queue="maintenance", every_minutes=60)
async def prune_impressions(rt: Runtime) -> None:
    """Drop impressions past their retention (`impression_retention_days`), hourly."""
    await impressions.prune(rt)
