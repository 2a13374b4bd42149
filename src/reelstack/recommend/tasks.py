"""The periodic training of the ranker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.infra.jobs import job
from reelstack.recommend import training

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@job("recommend.train_ranker", queue="maintenance", every_minutes=60, retries=1)
async def train_ranker(rt: Runtime) -> None:
    """Learn ranking weights from the last week's impressions, hourly."""
    if await rt.cache.add("recommend:training", "1", ttl=50 * 60):
        await training.train(rt)
