"""HTTP for sounds: a sound's page, the videos that use it, trending sounds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep
from reelstack.errors import PROBLEM_JSON
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.media.hydrate import videos_out
from reelstack.media.schemas import VideoPage
from reelstack.media.service import Viewer as VideoViewer
from reelstack.sounds import service
from reelstack.sounds.schemas import SoundList, SoundOut

router = Router(tags=["sounds"])

SOUND_404: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "`sound_not_found`: no such sound, or its source video is not visible.",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }
}


@router.get("/sounds/{sound_id}", responses=SOUND_404)
async def get_sound(
    sound_id: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession
) -> SoundOut:
    """A sound with a signed, expiring URL of its audio, if its source video is visible."""
    seen = await service.visible_sound(session, VideoViewer.of(viewer), sound_id)
    return service.sound_out(rt, seen.sound, seen.creator)


@router.get("/sounds/{sound_id}/videos", responses=SOUND_404)
async def sound_videos(
    sound_id: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> VideoPage:
    """Videos that use the sound, newest first."""
    page = await service.sound_videos(session, VideoViewer.of(viewer), sound_id, paging)
    viewer_id = viewer.user_id if viewer else None
    return VideoPage(
        videos=await videos_out(rt, session, viewer_id, page.items),
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.get("/trending/sounds")
async def trending_sounds(
    viewer: OptionalViewer,
    rt: RuntimeDep,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=service.TRENDING_MAX)] = 20,
) -> SoundList:
    """Sounds most taken up by new videos over the last seven days."""
    sounds = await service.trending_sounds(rt, session, VideoViewer.of(viewer), limit)
    return SoundList(sounds=sounds)
