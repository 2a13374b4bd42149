"""Request dependencies: the runtime, the unit of work, the signed-in viewer, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.security import AccessClaims
from reelstack.errors import NotAuthenticated
from reelstack.runtime import Runtime

bearer = HTTPBearer(auto_error=False, description="The access token from /auth/login.")


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# Every dependency below takes the runtime from the request rather than through `RuntimeDep`:
# FastAPI solves each node of a route's dependency tree on every request, shared or not, and
# on the write paths those solves cost as much as the database work.


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, and that hop
    # costs more than the rest of a small request on a busy machine.
    return _runtime(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _runtime(request).unit_of_work() as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _runtime(request).unit_of_work(write=False) as session:
        yield session


# scope="function": the transaction commits before the response leaves, so a client never
# hears "created" about a row that a failed commit then lost.
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]


def _claims(request: Request, token: str | None) -> AccessClaims | None:
    """The claims of a bearer token (`AccessTokens` remembers verified ones), or None."""
    return _runtime(request).token_policy.tokens.decode(token) if token else None


def _bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, read as `HTTPBearer` reads it."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


async def optional_viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AccessClaims | None:
    """The signed-in viewer, if any."""
    return _claims(request, credentials.credentials if credentials else None)


async def required_viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AccessClaims:
    viewer = _claims(request, credentials.credentials if credentials else None)
    if viewer is None:
        raise NotAuthenticated()
    return viewer


OptionalViewer = Annotated[AccessClaims | None, Depends(optional_viewer)]
Viewer = Annotated[AccessClaims, Depends(required_viewer)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def rate_limit_request(request: Request) -> None:
    """Every API request counts against its user, or its IP address when signed out. A token
    that is not valid is refused here, as on any route that reads the viewer."""
    rt = _runtime(request)
    settings = rt.settings
    viewer = _claims(request, _bearer_token(request))
    if viewer is not None:
        await rt.limiter.hit(settings.rate_limit_authenticated, "user", viewer.user_id)
    else:
        await rt.limiter.hit(settings.rate_limit_anonymous, "ip", client_ip(request))
