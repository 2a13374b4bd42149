"""Password hashing (argon2id), access tokens (JWT) and opaque refresh tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from reelstack.errors import AppError, NotAuthenticated

ACCESS_TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name
ACCESS_TOKEN_AUDIENCE = "reelstack:api"  # noqa: S105 - a claim value


class Passwords:
    """argon2id hashing, run off the event loop: one hash costs tens of milliseconds of CPU."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Verifying against this when the account does not exist makes both cases cost the same.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        ok = await asyncio.to_thread(check)
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    family_id: str


# Tokens verified recently, kept so a client's next request skips the signature check.
VERIFIED_TOKENS_KEPT = 4096


class AccessTokens:
    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._key = hashlib.sha256(b"reelstack-access-token\x00" + secret).digest()
        self.ttl_seconds = ttl_seconds
        # token -> (claims, exp): a token's claims never change, so one verified already needs
        # only its expiry checked again (as PyJWT does: expired once `exp <= now`). The key
        # is the whole token, so only a token that passed the signature check is ever found.
        self._verified: dict[str, tuple[AccessClaims, int]] = {}

    def issue(self, user_id: str, role: str, family_id: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user_id,
            "role": role,
            "fam": family_id,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": secrets.token_urlsafe(8),
        }
        return jwt.encode(claims, self._key, algorithm=ACCESS_TOKEN_ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            claims_seen, expires = known
            if time.time() < expires:
                return claims_seen
            del self._verified[token]
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ACCESS_TOKEN_ALGORITHM],
                audience=ACCESS_TOKEN_AUDIENCE,
                options={"require": ["sub", "exp", "iat", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated(
                "The access token has expired; refresh it.", code="token_expired"
            ) from None
        except jwt.PyJWTError:
            raise NotAuthenticated("The access token is not valid.", code="invalid_token") from None
        decoded = AccessClaims(
            str(claims["sub"]), str(claims.get("role", "user")), str(claims.get("fam", ""))
        )
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (decoded, int(claims["exp"]))
        return decoded


def new_refresh_token() -> tuple[str, str]:
    """The token to hand out and the hash to store."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshTokenReused(AppError):
    status, code = 401, "refresh_token_reused"
    keep_changes = True  # the revocation of the family must survive the error response
