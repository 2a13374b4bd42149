from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from reelstack.accounts.schemas import UserSummary


class FollowStateOut(BaseModel):
    is_following: bool
    follow_requested: bool
    follower_count: int


class BlockStateOut(BaseModel):
    is_blocking: bool


class UserEdge(UserSummary):
    since: datetime


class UserPage(BaseModel):
    users: list[UserEdge]
    next_cursor: str | None
    has_more: bool


class FollowRequestOut(BaseModel):
    request_id: str
    user: UserSummary
    created_at: datetime


class FollowRequestPage(BaseModel):
    requests: list[FollowRequestOut]
    next_cursor: str | None
    has_more: bool
