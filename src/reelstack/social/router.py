"""HTTP for the follow graph and blocks."""

from __future__ import annotations

from fastapi import Response, status

from reelstack.accounts.security import AccessClaims
from reelstack.accounts.views import user_summary
from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.infra.pagination import PageParams, Paging
from reelstack.infra.routing import Router
from reelstack.runtime import Runtime
from reelstack.social import service
from reelstack.social.schemas import (
    BlockStateOut,
    FollowRequestOut,
    FollowRequestPage,
    FollowStateOut,
    UserEdge,
    UserPage,
)

router = Router(tags=["social"])


def _state(state: service.FollowState) -> FollowStateOut:
    return FollowStateOut(
        is_following=state.is_following,
        follow_requested=state.follow_requested,
        follower_count=state.follower_count,
    )


async def _user_page(
    rt: Runtime,
    session: ReadSession,
    viewer_id: str | None,
    page: service.EdgePage,
    *,
    hide_blockers: bool = True,
) -> UserPage:
    rows = await service.hydrate(session, viewer_id, page, hide_blockers=hide_blockers)
    return UserPage(
        users=[
            UserEdge(**user_summary(rt.media, user, rel).model_dump(), since=edge.created_at)
            for edge, user, rel in rows
        ],
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.post("/users/{user_ref}/follow")
async def follow(user_ref: str, viewer: Viewer, session: WriteSession) -> FollowStateOut:
    """Follow a user; for a private account this sends a follow request. Idempotent."""
    return _state(await service.follow(session, viewer.user_id, user_ref))


@router.delete("/users/{user_ref}/follow")
async def unfollow(user_ref: str, viewer: Viewer, session: WriteSession) -> FollowStateOut:
    """Unfollow, or withdraw a pending follow request. Idempotent."""
    return _state(await service.unfollow(session, viewer.user_id, user_ref))


@router.get("/users/me/blocks")
async def my_blocks(
    viewer: Viewer,
    rt: RuntimeDep,
    session: ReadSession,
    paging: Paging,
) -> UserPage:
    """The users the viewer blocks, newest first (including any who block the viewer back)."""
    page = await service.blocked_users(
        session, viewer.user_id, cursor=paging.cursor, limit=paging.size
    )
    return await _user_page(rt, session, viewer.user_id, page, hide_blockers=False)


async def _follow_list(
    rt: Runtime,
    session: ReadSession,
    viewer: AccessClaims | None,
    user_ref: str,
    paging: PageParams,
    *,
    followers: bool,
) -> UserPage:
    viewer_id = viewer.user_id if viewer else None
    page = await service.follow_list(
        session, viewer_id, user_ref, followers=followers, cursor=paging.cursor, limit=paging.size
    )
    return await _user_page(rt, session, viewer_id, page)


@router.get("/users/{user_ref}/followers")
async def followers(
    user_ref: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> UserPage:
    """Who follows this user, newest first. A private account shows it to followers only."""
    return await _follow_list(rt, session, viewer, user_ref, paging, followers=True)


@router.get("/users/{user_ref}/following")
async def following(
    user_ref: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> UserPage:
    """Whom this user follows, newest first. A private account shows it to followers only."""
    return await _follow_list(rt, session, viewer, user_ref, paging, followers=False)


@router.get("/follow-requests")
async def follow_requests(
    viewer: Viewer,
    rt: RuntimeDep,
    session: ReadSession,
    paging: Paging,
) -> FollowRequestPage:
    """People waiting for the viewer (a private account) to let them follow."""
    page = await service.incoming_requests(
        session, viewer.user_id, cursor=paging.cursor, limit=paging.size
    )
    rows = await service.hydrate(session, viewer.user_id, page)
    return FollowRequestPage(
        requests=[
            FollowRequestOut(
                request_id=edge.request_id or "",
                created_at=edge.created_at,
                user=user_summary(rt.media, user, rel),
            )
            for edge, user, rel in rows
        ],
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.post("/follow-requests/{request_id}/approve", status_code=status.HTTP_204_NO_CONTENT)
async def approve(request_id: str, viewer: Viewer, session: WriteSession) -> Response:
    await service.approve_request(session, viewer.user_id, request_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/follow-requests/{request_id}/decline", status_code=status.HTTP_204_NO_CONTENT)
async def decline(request_id: str, viewer: Viewer, session: WriteSession) -> Response:
    await service.decline_request(session, viewer.user_id, request_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{user_ref}/block")
async def block(user_ref: str, viewer: Viewer, session: WriteSession) -> BlockStateOut:
    """Block a user: follows both ways end and they can no longer follow or see the viewer."""
    await service.block(session, viewer.user_id, user_ref)
    return BlockStateOut(is_blocking=True)


@router.delete("/users/{user_ref}/block")
async def unblock(user_ref: str, viewer: Viewer, session: WriteSession) -> BlockStateOut:
    await service.unblock(session, viewer.user_id, user_ref)
    return BlockStateOut(is_blocking=False)
