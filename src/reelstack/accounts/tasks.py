"""Background jobs of accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.accounts import service
from reelstack.infra.jobs import job

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@job("accounts.delete_avatar_files", queue="maintenance")
async def delete_avatar_files(rt: Runtime, *, key_prefix: str) -> None:
    """Remove a replaced avatar's files; safe to run twice."""
    if not key_prefix.startswith("avatars/"):
        raise ValueError(f"refusing to delete outside avatars/: {key_prefix!r}")
    await rt.storage.delete_prefix(key_prefix)


@job("accounts.purge_expired_refresh_tokens", queue="maintenance", every_minutes=60)
async def purge_expired_refresh_tokens(rt: Runtime) -> None:
    async with rt.unit_of_work() as session:
        await service.purge_expired_refresh_tokens(session)
