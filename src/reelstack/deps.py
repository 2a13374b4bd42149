"""Request dependencies: the runtime, the unit of work, the signed-in viewer, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.security import AccessClaims
from reelstack.errors import NotAuthenticated
from reelstack.runtime import Runtime

bearer = HTTPBearer(auto_error=False, description="The access token from /auth/login.")


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, and that hop
    # costs more than the rest of a small request on a busy machine.
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def _write_session(rt: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with rt.unit_of_work() as session:
        yield session


async def _read_session(rt: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with rt.unit_of_work(write=False) as session:
        yield session


# scope="function": the transaction commits before the response leaves, so a client never
# hears "created" about a row that a failed commit then lost.
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]


async def optional_viewer(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AccessClaims | None:
    """The signed-in viewer, if any; decoded once per request (FastAPI caches dependencies)."""
    return rt.token_policy.tokens.decode(credentials.credentials) if credentials else None


async def required_viewer(
    viewer: Annotated[AccessClaims | None, Depends(optional_viewer)],
) -> AccessClaims:
    if viewer is None:
        raise NotAuthenticated()
    return viewer


OptionalViewer = Annotated[AccessClaims | None, Depends(optional_viewer)]
Viewer = Annotated[AccessClaims, Depends(required_viewer)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def rate_limit_request(request: Request, rt: RuntimeDep, viewer: OptionalViewer) -> None:
    """Every API request counts against its user, or its IP address when signed out."""
    settings = rt.settings
    if viewer is not None:
        await rt.limiter.hit(settings.rate_limit_authenticated, "user", viewer.user_id)
    else:
        await rt.limiter.hit(settings.rate_limit_anonymous, "ip", client_ip(request))
