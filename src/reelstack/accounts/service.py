"""Account use cases: registration, sign-in, token rotation, profile edits, counters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.avatars import render_avatar
from reelstack.accounts.models import RefreshToken, Role, User
from reelstack.accounts.schemas import RegisterRequest, TokenPair, UpdateMeRequest
from reelstack.accounts.security import (
    AccessTokens,
    Passwords,
    RefreshTokenReused,
    hash_refresh_token,
    new_refresh_token,
)
from reelstack.db import BOUNDED, enqueue_after_commit, fetch_bounded, utcnow
from reelstack.errors import Conflict, NotAuthenticated, NotFound, PayloadTooLarge, Unprocessable
from reelstack.events import UserRegistered
from reelstack.infra.events import publish
from reelstack.infra.ids import looks_like_id, new_id
from reelstack.infra.ratelimit import RateLimiter
from reelstack.infra.storage import Storage


@dataclass(frozen=True)
class TokenPolicy:
    tokens: AccessTokens
    refresh_ttl_seconds: int


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def _username_taken(session: AsyncSession, username: str) -> bool:
    return (await session.scalar(select(User.id).where(User.username == username))) is not None


async def register(
    session: AsyncSession, passwords: Passwords, data: RegisterRequest, *, role: Role = Role.USER
) -> User:
    # Hash before the first query: on SQLite that query takes the write lock, and argon2's
    # tens of milliseconds must not stall every other writer.
    return await _insert_user(session, data, await passwords.hash(data.password), role)


async def _insert_user(
    session: AsyncSession, data: RegisterRequest, password_hash: str, role: Role
) -> User:
    email = normalize_email(str(data.email))
    if await _username_taken(session, data.username):
        raise Conflict("That username is taken.", code="username_taken")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("An account with that email exists.", code="email_taken")
    user = User(
        id=new_id(),
        username=data.username,
        email=email,
        password_hash=password_hash,
        display_name=data.display_name or data.username,
        bio="",
        role=role.value,
        follower_count=0,
        following_count=0,
        video_count=0,
        total_likes=0,
        is_verified=False,
        is_private=False,
        is_active=True,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        # Two sign-ups raced for the same name; the loser gets the same answer as above.
        raise Conflict("That username or email is taken.", code="username_taken") from None
    publish(session, UserRegistered(user_id=user.id))
    return user


INVALID_CREDENTIALS = "Wrong username, email or password."


async def _user_for_login(session: AsyncSession, login: str) -> User | None:
    login = login.strip().lower()
    column = User.email if "@" in login else User.username
    user: User | None = await session.scalar(select(User).where(column == login))
    return user


@dataclass(frozen=True)
class LoginGuard:
    """The per-account budget of failed sign-ins."""

    limiter: RateLimiter
    rule: str


async def login(
    read: AsyncSession,
    write: AsyncSession,
    passwords: Passwords,
    policy: TokenPolicy,
    guard: LoginGuard,
    login: str,
    password: str,
) -> TokenPair:
    """Sign in. The password is checked outside any write transaction. Every attempt counts
    against the account (an email and a username are the same account) before argon2 runs, so
    parallel guesses cannot exceed the budget; a success clears it, so the owner signing in
    never spends what an attacker is burning. An unknown login and a wrong password take the
    same time and get the same answer."""
    invalid = NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials", headers={})
    user = await _user_for_login(read, login)
    account = user.id if user is not None else login.strip().lower()
    await guard.limiter.hit(guard.rule, "login-account", account)
    valid = await passwords.verify(user.password_hash if user is not None else None, password)
    if user is None or not valid or not user.is_active:
        raise invalid
    verified_hash = user.password_hash
    rehashed = await passwords.hash(password) if passwords.needs_rehash(verified_hash) else None
    # The row as it is now, locked: a password change or deactivation that committed while we
    # verified wins, and a rehash can never write back the old password over a new one.
    current = await write.scalar(
        select(User)
        .where(User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if current is None or not current.is_active or current.password_hash != verified_hash:
        raise invalid
    if rehashed is not None:
        current.password_hash = rehashed
    await guard.limiter.forgive(guard.rule, "login-account", account)
    return await issue_tokens(write, policy, current)


async def issue_tokens(
    session: AsyncSession, policy: TokenPolicy, user: User, family_id: str | None = None
) -> TokenPair:
    """A new access token and a new refresh token in `family_id` (a new family at sign-in)."""
    family_id = family_id or new_id()
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            id=new_id(),
            user_id=user.id,
            family_id=family_id,
            token_hash=token_hash,
            expires_at=utcnow() + timedelta(seconds=policy.refresh_ttl_seconds),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=policy.tokens.issue(user.id, user.role, family_id),
        refresh_token=token,
        expires_in=policy.tokens.ttl_seconds,
        refresh_expires_in=policy.refresh_ttl_seconds,
    )


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def rotate_refresh_token(session: AsyncSession, policy: TokenPolicy, token: str) -> TokenPair:
    """Trade a refresh token for a new pair. A token used twice means it was stolen: the whole
    family is revoked, so neither the thief nor the owner can go on with it."""
    invalid = NotAuthenticated(
        "The refresh token is not valid; sign in again.", code="invalid_refresh_token"
    )
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    if row is None or row.revoked_at is not None:
        raise invalid
    now = utcnow()
    if row.expires_at <= now:
        raise NotAuthenticated(
            "The refresh token has expired; sign in again.", code="refresh_token_expired"
        )
    # Claim the token atomically: of two concurrent uses, exactly one wins.
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(rotated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_family(session, row.family_id)
        raise RefreshTokenReused(
            "This refresh token was already used; every session of this sign-in is revoked."
        )
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise invalid
    return await issue_tokens(session, policy, user, row.family_id)


async def purge_expired_refresh_tokens(session: AsyncSession) -> int:
    """Expired tokens can never be used again; rotated but unexpired ones are kept, since
    presenting one of them is how a stolen token is noticed."""
    result = await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def logout(
    session: AsyncSession, *, refresh_token: str | None, family_id: str | None
) -> None:
    if refresh_token:
        family_id = await session.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_refresh_token(refresh_token)
            )
        )
    if family_id:
        await revoke_family(session, family_id)


async def change_password(
    read: AsyncSession,
    write: AsyncSession,
    passwords: Passwords,
    user_id: str,
    current: str,
    new: str,
    keep_family: str,
) -> None:
    """Set a new password; every other signed-in device has to sign in again. Both argon2 runs
    happen before the write transaction starts."""
    old_hash = (await get_user(read, user_id)).password_hash
    if not await passwords.verify(old_hash, current):
        raise Unprocessable("The current password is wrong.", code="invalid_credentials")
    new_hash = await passwords.hash(new)
    changed = await write.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == old_hash)
        .values(password_hash=new_hash)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The password was changed meanwhile; try again.", code="password_changed")
    await revoke_sessions(write, user_id, except_family=keep_family)


async def revoke_sessions(
    session: AsyncSession, user_id: str, *, except_family: str | None = None
) -> None:
    """Revoke every refresh token of the user, but for one sign-in if named."""
    query = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if except_family is not None:
        query = query.where(RefreshToken.family_id != except_family)
    await session.execute(query.values(revoked_at=utcnow()))


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("No such user.", code="user_not_found")
    return user


# What a comment or a card shows of its author (`media.views.CardOwner`), by id, active only.
AUTHOR = (
    select(User.id, User.username, User.display_name, User.avatar_key, User.is_verified)
    .where(User.id == bindparam("user_id"), User.is_active.is_(True))
    .execution_options(**BOUNDED)
)


async def get_author(session: AsyncSession, user_id: str) -> Any:
    """`get_user`'s answer as the columns an author is shown with, without loading the user."""
    rows = await fetch_bounded(session, AUTHOR, {"user_id": user_id})
    if not rows:
        raise NotFound("No such user.", code="user_not_found")
    return rows[0]


async def find_user(session: AsyncSession, ref: str) -> User:
    """A user by id or by `@username`."""
    if ref.startswith("@"):
        user = await session.scalar(select(User).where(User.username == ref[1:].lower()))
    elif looks_like_id(ref):
        user = await session.get(User, ref)
    else:
        user = None
    if user is None or not user.is_active:
        raise NotFound("No such user.", code="user_not_found")
    return user


async def get_users(session: AsyncSession, user_ids: list[str]) -> dict[str, User]:
    """Users by id in one query, for hydrating lists."""
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(user_ids), User.is_active))
    return {u.id: u for u in rows}


async def adjust_counts(
    session: AsyncSession,
    user_id: str,
    *,
    followers: int = 0,
    following: int = 0,
    videos: int = 0,
    likes: int = 0,
) -> None:
    """Atomic increments in the caller's transaction: no read-modify-write, no lost update."""
    values = {}
    if followers:
        values["follower_count"] = User.follower_count + followers
    if following:
        values["following_count"] = User.following_count + following
    if videos:
        values["video_count"] = User.video_count + videos
    if likes:
        values["total_likes"] = User.total_likes + likes
    if values:
        await session.execute(update(User).where(User.id == user_id).values(**values))


IN_LIST_CHUNK = 1000  # PostgreSQL's driver takes at most 32767 parameters per statement


async def adjust_counts_of(session: AsyncSession, user_ids: list[str], *, following: int) -> None:
    """The same atomic increment for many users, a thousand per statement."""
    if not following:
        return
    for start in range(0, len(user_ids), IN_LIST_CHUNK):
        await session.execute(
            update(User)
            .where(User.id.in_(user_ids[start : start + IN_LIST_CHUNK]))
            .values(following_count=User.following_count + following)
        )


async def lock_users(
    session: AsyncSession, user_ids: list[str], *, also: Select[str] | None = None
) -> None:
    """Row locks on these users (and on the ids `also` selects), always taken in id order so
    two transactions never wait on each other in a cycle. The rows are reloaded, so what the
    caller reads after the lock is current. SQLite serialises writers and ignores FOR UPDATE."""
    wanted: ColumnElement[bool] = User.id.in_(sorted(set(user_ids)))
    if also is not None:
        wanted = or_(wanted, User.id.in_(also.scalar_subquery()))
    await session.execute(
        select(User)
        .where(wanted)
        .order_by(User.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def repair_follow_counts(
    session: AsyncSession,
    stored: dict[str, tuple[int, int]],
    recomputed: dict[str, tuple[int, int]],
) -> int:
    """Write recomputed counts, but only where the stored ones are still what the recount saw:
    an increment that committed meanwhile is not overwritten (the next run settles it)."""
    repaired = 0
    for user_id, (followers, following) in recomputed.items():
        seen_followers, seen_following = stored[user_id]
        result = await session.execute(
            update(User)
            .where(
                User.id == user_id,
                User.follower_count == seen_followers,
                User.following_count == seen_following,
            )
            .values(follower_count=followers, following_count=following)
        )
        repaired += result.rowcount  # type: ignore[attr-defined]
    return repaired


async def follow_counts_page(
    session: AsyncSession, after_id: str, limit: int
) -> dict[str, tuple[int, int]]:
    """Stored (followers, following) of the next `limit` users by id, for the recount job."""
    rows = await session.execute(
        select(User.id, User.follower_count, User.following_count)
        .where(User.id > after_id)
        .order_by(User.id)
        .limit(limit)
    )
    return {uid: (fc, fg) for uid, fc, fg in rows}


async def update_me(
    session: AsyncSession, user_id: str, data: UpdateMeRequest
) -> tuple[User, bool]:
    """Apply a profile edit; the flag says the account just turned public."""
    user = await get_user(session, user_id)
    if data.username is not None and data.username != user.username:
        if await _username_taken(session, data.username):
            raise Conflict("That username is taken.", code="username_taken")
        user.username = data.username
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.bio is not None:
        user.bio = data.bio
    became_public = data.is_private is False and user.is_private
    if data.is_private is not None:
        user.is_private = data.is_private
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("That username is taken.", code="username_taken") from None
    return user, became_public


async def _set_avatar_key(session: AsyncSession, user_id: str, key: str | None) -> User:
    user = await get_user(session, user_id)
    previous, user.avatar_key = user.avatar_key, key
    if previous:
        # The old files go only once the new key is committed; a rollback keeps them.
        enqueue_after_commit(session, "accounts.delete_avatar_files", {"key_prefix": previous})
    return user


async def replace_avatar(
    session: AsyncSession, storage: Storage, user_id: str, data: bytes, *, max_bytes: int
) -> User:
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"Avatars are limited to {max_bytes} bytes.", code="avatar_too_large")
    renditions = await asyncio.to_thread(render_avatar, data)
    key = f"avatars/{user_id}/{new_id()}"
    for size, blob in renditions.items():
        await storage.put_bytes(f"{key}/{size}.webp", blob, "image/webp")
    return await _set_avatar_key(session, user_id, key)


async def remove_avatar(session: AsyncSession, user_id: str) -> User:
    return await _set_avatar_key(session, user_id, None)


async def create_admin(session: AsyncSession, passwords: Passwords, data: RegisterRequest) -> User:
    """Make an admin, or promote the existing account with this username and give it this
    password (so the command also recovers a lost admin password)."""
    password_hash = await passwords.hash(data.password)
    existing = await session.scalar(select(User).where(User.username == data.username))
    if existing is not None:
        existing.role = Role.ADMIN.value
        existing.is_active = True
        existing.password_hash = password_hash
        await revoke_sessions(session, existing.id)  # whoever held the old password is out
        return existing
    return await _insert_user(session, data, password_hash, Role.ADMIN)


async def follower_count(session: AsyncSession, user_id: str) -> int:
    """The count as committed rows see it, never a stale copy from the identity map."""
    return int(await session.scalar(select(User.follower_count).where(User.id == user_id)) or 0)
