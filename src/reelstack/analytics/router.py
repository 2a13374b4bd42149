"""HTTP for views, watch positions and the viewer's history."""

from __future__ import annotations

from fastapi import Response, status

from reelstack.analytics import ingest, service
from reelstack.analytics.schemas import (
    HistoryPage,
    HistoryVideo,
    ViewRecorded,
    ViewReport,
    WatchPositionRequest,
)
from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.media.hydrate import videos_out
from reelstack.media.service import Viewer as VideoViewer

router = Router(tags=["views"])


@router.post("/videos/{video_id}/views", status_code=status.HTTP_202_ACCEPTED)
async def record_view(
    video_id: str, body: ViewReport, viewer: OptionalViewer, rt: RuntimeDep
) -> ViewRecorded:
    """Report a playback. It counts as a view once per viewer (user, or session when signed
    out) per video per hour, after 3 s or half of a shorter video; counts appear within about
    a second, when the analytics stream is written."""
    counted = await ingest.record_view(rt, VideoViewer.of(viewer), video_id, body)
    return ViewRecorded(counted=counted)


@router.post("/videos/{video_id}/watch-position", status_code=status.HTTP_204_NO_CONTENT)
async def save_watch_position(
    video_id: str, body: WatchPositionRequest, viewer: Viewer, session: WriteSession
) -> Response:
    """Remember where the viewer is in the video, to resume there; the video joins their
    history."""
    await service.save_position(session, VideoViewer.of(viewer), video_id, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/me/history")
async def my_history(
    viewer: Viewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> HistoryPage:
    """The videos the viewer watched, most recently watched first."""
    page = await service.history(session, VideoViewer.of(viewer), paging)
    shaped = await videos_out(
        rt, session, viewer.user_id, [(entry.video, entry.owner) for entry in page.entries]
    )
    return HistoryPage(
        videos=[
            HistoryVideo(**video.model_dump(), watched_at=entry.watched_at)
            for video, entry in zip(shaped, page.entries, strict=True)
        ],
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.delete("/users/me/history/{video_id}", status_code=status.HTTP_204_NO_CONTENT)
async def forget_video(video_id: str, viewer: Viewer, session: WriteSession) -> Response:
    """Remove a video from the history, and its resume position. Idempotent."""
    await service.forget(session, viewer.user_id, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/users/me/history", status_code=status.HTTP_204_NO_CONTENT)
async def clear_history(viewer: Viewer, session: WriteSession) -> Response:
    """Clear the whole history, and every resume position."""
    await service.forget(session, viewer.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
