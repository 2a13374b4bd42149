"""HTTP for accounts: sign-up, sign-in, tokens, the viewer's own account, public profiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Request, Response, UploadFile, status

from reelstack.accounts import service
from reelstack.accounts.schemas import (
    ChangePasswordRequest,
    LoginRequest,
    LogoutRequest,
    Me,
    Profile,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenPair,
    UpdateMeRequest,
)
from reelstack.accounts.views import me_view, profile_fields
from reelstack.deps import (
    OptionalViewer,
    ReadSession,
    RuntimeDep,
    Viewer,
    WriteSession,
    client_ip,
)
from reelstack.errors import NotAuthenticated
from reelstack.infra.routing import Router
from reelstack.middleware import BODY_LIMIT_KEY
from reelstack.social import service as social

router = Router(tags=["accounts"])


async def limit_register(request: Request, rt: RuntimeDep) -> None:
    await rt.limiter.hit(rt.settings.rate_limit_register, "register", client_ip(request))


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_register)],
    response_model=RegisterResponse,
)
async def register(
    body: RegisterRequest, rt: RuntimeDep, session: WriteSession
) -> RegisterResponse:
    """Create an account and sign it in."""
    user = await service.register(session, rt.passwords, body)
    tokens = await service.issue_tokens(session, rt.token_policy, user)
    return RegisterResponse(**tokens.model_dump(), user=me_view(rt.media, user))


@router.post("/auth/login")
async def login(
    body: LoginRequest, request: Request, rt: RuntimeDep, read: ReadSession, write: WriteSession
) -> TokenPair:
    """Sign in with a username or email; a 15-minute access token and a 30-day refresh token.
    Attempts are limited per address; failed ones also per account."""
    await rt.limiter.hit(rt.settings.rate_limit_login, "login-ip", client_ip(request))
    guard = service.LoginGuard(rt.limiter, rt.settings.rate_limit_login)
    return await service.login(
        read, write, rt.passwords, rt.token_policy, guard, body.login, body.password
    )


@router.post("/auth/refresh")
async def refresh(body: RefreshRequest, rt: RuntimeDep, session: WriteSession) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once."""
    return await service.rotate_refresh_token(session, rt.token_policy, body.refresh_token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: LogoutRequest, viewer: OptionalViewer, session: WriteSession) -> Response:
    """Revoke this sign-in's refresh tokens: the one given, or the access token's sign-in.
    Holding the refresh token is enough, so a client whose access token expired can still
    sign out."""
    if body.refresh_token is None and viewer is None:
        raise NotAuthenticated("Send the refresh token or an access token to sign out.")
    await service.logout(
        session,
        refresh_token=body.refresh_token,
        family_id=viewer.family_id if viewer else None,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/me")
async def get_me(viewer: Viewer, rt: RuntimeDep, session: ReadSession) -> Me:
    return me_view(rt.media, await service.get_user(session, viewer.user_id))


@router.patch("/users/me")
async def update_me(
    body: UpdateMeRequest, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> Me:
    user = await social.update_profile(session, viewer.user_id, body)
    return me_view(rt.media, user)


@router.post("/users/me/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: ChangePasswordRequest,
    viewer: Viewer,
    rt: RuntimeDep,
    read: ReadSession,
    session: WriteSession,
) -> Response:
    """Change the password; every other signed-in device is signed out."""
    await service.change_password(
        read,
        session,
        rt.passwords,
        viewer.user_id,
        body.current_password,
        body.new_password,
        keep_family=viewer.family_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Room for the largest avatar a site may allow; the setting below it is checked in the route.
AVATAR_BODY_LIMIT = 32 * 1024 * 1024


@router.put("/users/me/avatar", openapi_extra={BODY_LIMIT_KEY: AVATAR_BODY_LIMIT})
async def upload_avatar(
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or GIF")],
    viewer: Viewer,
    rt: RuntimeDep,
    session: WriteSession,
) -> Me:
    """Replace the avatar. The image is checked by its content and re-encoded in three sizes."""
    data = await file.read(rt.settings.avatar_max_bytes + 1)
    user = await service.replace_avatar(
        session, rt.storage, viewer.user_id, data, max_bytes=rt.settings.avatar_max_bytes
    )
    return me_view(rt.media, user)


@router.delete("/users/me/avatar")
async def delete_avatar(viewer: Viewer, rt: RuntimeDep, session: WriteSession) -> Me:
    return me_view(rt.media, await service.remove_avatar(session, viewer.user_id))


@router.get("/users/{user_ref}")
async def get_profile(
    user_ref: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession
) -> Profile:
    """A profile by id or by `@username`, with how the viewer stands towards it."""
    user, relation = await social.visible_user(
        session, viewer.user_id if viewer else None, user_ref
    )
    return Profile(**profile_fields(rt.media, user, relation))
