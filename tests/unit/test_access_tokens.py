"""Access tokens: a verified token is remembered, but never past its expiry or for another key."""

from __future__ import annotations

import time

import pytest

from reelstack.accounts.security import AccessTokens
from reelstack.errors import NotAuthenticated


def test_a_remembered_token_still_expires() -> None:
    tokens = AccessTokens(b"k" * 32, ttl_seconds=1)
    token = tokens.issue("user-1", "user", "fam")
    assert tokens.decode(token).user_id == "user-1"
    assert tokens.decode(token).user_id == "user-1"  # the second answer is the remembered one
    time.sleep(1.05)  # `exp` is a whole second at most 1 s from the issue
    with pytest.raises(NotAuthenticated) as caught:
        tokens.decode(token)
    assert caught.value.code == "token_expired"


def test_a_token_of_another_key_is_refused_even_after_its_twin_was_verified() -> None:
    ours, theirs = AccessTokens(b"a" * 32, 60), AccessTokens(b"b" * 32, 60)
    forged = theirs.issue("user-1", "admin", "fam")
    ours.decode(ours.issue("user-1", "user", "fam"))
    with pytest.raises(NotAuthenticated) as caught:
        ours.decode(forged)
    assert caught.value.code == "invalid_token"
    with pytest.raises(NotAuthenticated):
        ours.decode(forged + "x")
