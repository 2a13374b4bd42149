"""Background jobs of the social graph."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from reelstack.infra.jobs import job
from reelstack.social import service

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)


@job("social.recount_follow_counts", queue="maintenance", every_minutes=15)
async def recount_follow_counts(rt: Runtime) -> None:
    """Repair follower/following counts that drifted from the follow rows, batch by batch,
    each batch its own short transaction."""
    after: str | None = ""
    repaired = 0
    while after is not None:
        async with rt.unit_of_work() as session:
            fixed, after = await service.recount_follow_counts(session, after_id=after)
        repaired += fixed
    if repaired:
        log.warning("repaired follow counts of %d users", repaired)
