"""HTTP for likes, saves, shares and collections."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response, status

from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.errors import PROBLEM_JSON
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.interactions import collections, service
from reelstack.interactions.models import Collection
from reelstack.interactions.pages import router as share_page_router
from reelstack.interactions.pages import share_url
from reelstack.interactions.schemas import (
    CollectionOut,
    CollectionPage,
    CollectionVideoStateOut,
    CreateCollectionRequest,
    LikeStateOut,
    RenameCollectionRequest,
    SaveStateOut,
    ShareOut,
    ShareRequest,
    ShareType,
)
from reelstack.media.hydrate import videos_out
from reelstack.media.schemas import VideoPage
from reelstack.media.service import Viewer as VideoViewer
from reelstack.runtime import Runtime

router = Router(tags=["interactions"])

__all__ = ["router", "share_page_router"]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }


Responses = dict[int | str, dict[str, Any]]

# What these endpoints answer besides 401, 422 and 429, for /openapi.json.
VIDEO_404: Responses = {404: _problem("`video_not_found`: no such video, or one you may not see.")}
COLLECTION_404: Responses = {
    404: _problem("`collection_not_found`: no collection of yours by this id.")
}
MEMBERSHIP_404: Responses = {404: _problem("`video_not_found` or `collection_not_found`.")}
NAME_TAKEN: Responses = {409: _problem("`collection_exists`: you have a collection of that name.")}
RENAME_ERRORS: Responses = {**COLLECTION_404, **NAME_TAKEN}
SHARE_ERRORS: Responses = {
    403: _problem(
        "`video_not_shareable` (only public and unlisted videos leave the platform) or "
        "`recipient_cannot_view`."
    ),
    404: _problem("`video_not_found`, or `user_not_found` for the recipient."),
}


def _like(state: service.LikeState) -> LikeStateOut:
    return LikeStateOut(liked=state.liked, like_count=state.like_count)


def _save(state: service.SaveState) -> SaveStateOut:
    return SaveStateOut(saved=state.saved, save_count=state.save_count)


@router.post("/videos/{video_id}/like", responses=VIDEO_404)
async def like(
    video_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> LikeStateOut:
    """Like a video. Idempotent: liking twice counts once."""
    return _like(await service.like(rt.counters, session, VideoViewer.of(viewer), video_id))


@router.delete("/videos/{video_id}/like", responses=VIDEO_404)
async def unlike(
    video_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> LikeStateOut:
    """Take a like back. Idempotent."""
    return _like(await service.unlike(rt.counters, session, VideoViewer.of(viewer), video_id))


@router.post("/videos/{video_id}/save", responses=VIDEO_404)
async def save(
    video_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> SaveStateOut:
    """Save (bookmark) a video. Idempotent."""
    return _save(await service.save(rt.counters, session, VideoViewer.of(viewer), video_id))


@router.delete("/videos/{video_id}/save", responses=VIDEO_404)
async def unsave(
    video_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> SaveStateOut:
    """Unsave a video; it also leaves every collection of yours. Idempotent."""
    return _save(await service.unsave(rt.counters, session, VideoViewer.of(viewer), video_id))


@router.post(
    "/videos/{video_id}/share", status_code=status.HTTP_201_CREATED, responses=SHARE_ERRORS
)
async def share(
    video_id: str,
    body: ShareRequest,
    request: Request,
    viewer: OptionalViewer,
    rt: RuntimeDep,
    session: WriteSession,
) -> ShareOut:
    """Share a video: `internal` sends it to another user (signed in), `external` records a
    share out of the platform (anyone; public and unlisted videos). Returns the public link."""
    state = await service.share(
        rt.counters,
        session,
        VideoViewer.of(viewer),
        video_id,
        internal=body.type is ShareType.INTERNAL,
        platform=body.platform,
        to_user_ref=body.to_user_id,
    )
    return ShareOut(
        share_id=state.share_id,
        share_url=share_url(str(request.base_url), video_id),
        share_count=state.share_count,
    )


@router.get("/users/me/saved")
async def saved_videos(
    viewer: Viewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> VideoPage:
    """Your saved videos, most recently saved first."""
    page = await service.saved_videos(session, VideoViewer.of(viewer), paging)
    return await _video_page(rt, session, viewer.user_id, page)


async def _video_page(
    rt: Runtime, session: ReadSession, viewer_id: str, page: service.VideoListPage
) -> VideoPage:
    return VideoPage(
        videos=await videos_out(rt, session, viewer_id, page.items),
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


# -- collections ---------------------------------------------------------------------------


def _collection(collection: Collection) -> CollectionOut:
    return CollectionOut(
        collection_id=collection.id,
        name=collection.name,
        video_count=collection.video_count,
        created_at=collection.created_at,
        updated_at=collection.updated_at,
    )


def _membership(state: collections.Membership) -> CollectionVideoStateOut:
    return CollectionVideoStateOut(
        collection_id=state.collection.id,
        video_id=state.video_id,
        in_collection=state.in_collection,
        video_count=state.collection.video_count,
        saved=state.saved,
        save_count=state.save_count,
    )


@router.get("/collections")
async def my_collections(viewer: Viewer, session: ReadSession, paging: Paging) -> CollectionPage:
    """Your collections, newest first. Collections are visible to their owner only."""
    listed = await collections.my_collections(session, viewer.user_id, paging)
    return CollectionPage(
        collections=[_collection(c) for c in listed.collections],
        next_cursor=listed.next_cursor,
        has_more=listed.next_cursor is not None,
    )


@router.post("/collections", status_code=status.HTTP_201_CREATED, responses=NAME_TAKEN)
async def create_collection(
    body: CreateCollectionRequest, viewer: Viewer, session: WriteSession
) -> CollectionOut:
    """Create an empty collection; names are unique among yours, ignoring case."""
    return _collection(await collections.create_collection(session, viewer.user_id, body.name))


@router.get("/collections/{collection_id}", responses=COLLECTION_404)
async def get_collection(collection_id: str, viewer: Viewer, session: ReadSession) -> CollectionOut:
    return _collection(await collections.owned_collection(session, viewer.user_id, collection_id))


@router.patch("/collections/{collection_id}", responses=RENAME_ERRORS)
async def rename_collection(
    collection_id: str, body: RenameCollectionRequest, viewer: Viewer, session: WriteSession
) -> CollectionOut:
    """Rename one of your collections."""
    renamed = await collections.rename_collection(session, viewer.user_id, collection_id, body.name)
    return _collection(renamed)


@router.delete(
    "/collections/{collection_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COLLECTION_404
)
async def delete_collection(collection_id: str, viewer: Viewer, session: WriteSession) -> Response:
    """Delete one of your collections; its videos stay saved."""
    await collections.delete_collection(session, viewer.user_id, collection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/collections/{collection_id}/videos", responses=COLLECTION_404)
async def collection_videos(
    collection_id: str, viewer: Viewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> VideoPage:
    """The videos of one of your collections, most recently added first."""
    page = await collections.collection_videos(
        session, VideoViewer.of(viewer), collection_id, paging
    )
    return await _video_page(rt, session, viewer.user_id, page)


@router.post("/collections/{collection_id}/videos/{video_id}", responses=MEMBERSHIP_404)
async def add_to_collection(
    collection_id: str, video_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> CollectionVideoStateOut:
    """Put a video in a collection (saving it too). Idempotent."""
    state = await collections.add_video(
        rt.counters, session, VideoViewer.of(viewer), collection_id, video_id
    )
    return _membership(state)


@router.delete("/collections/{collection_id}/videos/{video_id}", responses=MEMBERSHIP_404)
async def remove_from_collection(
    collection_id: str, video_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> CollectionVideoStateOut:
    """Take a video out of a collection; it stays saved. Idempotent."""
    state = await collections.remove_video(
        rt.counters, session, VideoViewer.of(viewer), collection_id, video_id
    )
    return _membership(state)
