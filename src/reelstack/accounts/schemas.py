from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

USERNAME_PATTERN = re.compile(r"^[a-z0-9_.]{3,30}$")
RESERVED_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "system",
        "support",
        "help",
        "api",
        "www",
        "reelstack",
        "moderator",
        "staff",
        "security",
        "null",
        "undefined",
        "settings",
        "login",
        "logout",
    }
)


def _check_username(value: str) -> str:
    value = value.strip().lower()
    if not USERNAME_PATTERN.fullmatch(value):
        raise ValueError("use 3 to 30 characters: letters a-z, digits, '_' and '.'")
    if value.startswith(".") or value.endswith(".") or ".." in value:
        raise ValueError("a dot cannot start or end a username or follow another dot")
    if value in RESERVED_USERNAMES:
        raise ValueError("this username is reserved")
    return value


Username = Annotated[str, Field(max_length=64), AfterValidator(_check_username)]
Password = Annotated[str, Field(min_length=8, max_length=256)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Bio = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: EmailStr
    password: Password
    display_name: DisplayName | None = None


class LoginRequest(BaseModel):
    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class LogoutRequest(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int


class UserStats(BaseModel):
    followers: int
    following: int
    videos: int
    total_likes: int


class AvatarUrls(BaseModel):
    small: str
    medium: str
    large: str


class UserSummary(BaseModel):
    """A user as they appear in lists: followers, comments, search results."""

    user_id: str
    username: str
    display_name: str
    avatar_url: str | None
    is_verified: bool
    is_following: bool = False


class Profile(BaseModel):
    user_id: str
    username: str
    display_name: str
    bio: str
    avatar_url: str | None
    avatar_urls: AvatarUrls | None
    is_verified: bool
    is_private: bool
    stats: UserStats
    is_following: bool = False
    is_followed_by: bool = False
    follow_requested: bool = Field(False, description="The viewer asked to follow and waits.")
    is_blocking: bool = Field(False, description="The viewer blocks this user.")
    created_at: datetime


class Me(Profile):
    email: str
    role: str


class RegisterResponse(TokenPair):
    user: Me


class UpdateMeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username | None = None
    display_name: DisplayName | None = None
    bio: Bio | None = None
    is_private: bool | None = None


class ChangePasswordRequest(BaseModel):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password
