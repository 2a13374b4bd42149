"""HTTP for a user's notifications: the list, the unread count, marking read, preferences."""

from __future__ import annotations

from functools import partial

from reelstack.db import call_after_commit
from reelstack.deps import ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.notifications import delivery, repository, service
from reelstack.notifications.schemas import (
    MarkReadRequest,
    MarkReadResult,
    NotificationPage,
    NotificationPreferences,
    PreferencesUpdate,
    UnreadCount,
)
from reelstack.notifications.stream import router as stream_router
from reelstack.notifications.views import notifications_out

router = Router(prefix="/notifications", tags=["notifications"])
__all__ = ["router", "stream_router"]  # the app mounts the streams outside the rate limit


@router.get("")
async def list_notifications(
    viewer: Viewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> NotificationPage:
    """The viewer's notifications, most recently updated first (a like notification moves up
    as more people like the video)."""
    page = await repository.list_page(
        session, viewer.user_id, cursor=paging.cursor, limit=paging.size
    )
    return NotificationPage(
        notifications=await notifications_out(rt, session, viewer.user_id, page.notifications),
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.get("/unread_count")
async def unread_count(viewer: Viewer, session: ReadSession) -> UnreadCount:
    return UnreadCount(unread_count=await repository.unread_count(session, viewer.user_id))


@router.post("/read")
async def mark_read(
    body: MarkReadRequest, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> MarkReadResult:
    """Mark some notifications (`ids`) or all of them (`all: true`) read. A read like
    notification takes no more likes: the next like starts a new one. Ids that are not the
    viewer's are ignored."""
    marked = await service.mark_read(session, viewer.user_id, None if body.all else body.ids)
    if marked:
        # The viewer's other tabs and devices update their badge.
        call_after_commit(session, partial(delivery.push_unread_count, rt, viewer.user_id))
    return MarkReadResult(
        marked=marked, unread_count=await repository.unread_count(session, viewer.user_id)
    )


@router.get("/preferences")
async def get_preferences(viewer: Viewer, session: ReadSession) -> NotificationPreferences:
    """Which types of notification the viewer receives."""
    return NotificationPreferences(await service.preferences(session, viewer.user_id))


@router.put("/preferences")
async def update_preferences(
    body: PreferencesUpdate, viewer: Viewer, session: WriteSession
) -> NotificationPreferences:
    """Turn types on (true) or off (false); types left out keep their setting. Turning a type
    off stops new notifications of it; those already received stay."""
    return NotificationPreferences(
        await service.set_preferences(session, viewer.user_id, body.root)
    )
