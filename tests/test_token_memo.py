"""The memo of verified tokens (``core.tokens.VerifiedTokens``): it saves verifying a
token's signature again, and nothing else. Times are checked on every use, an altered
token is another string, and a memo belongs to the keys that verified it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from core.tokens import (
    InvalidToken,
    KeyRing,
    VerifiedTokens,
    create_access_token,
    decode_access_token,
)

SCHOOL = uuid.UUID("00000000-0000-4000-8000-00000000000a")


@pytest.fixture
def issued() -> datetime:
    """Now, when the test runs: python-jose also checks ``exp`` against the wall clock when
    it verifies, so a time taken once at collection would expire on a long (or parallel)
    run."""
    return datetime.now(UTC).replace(microsecond=0)


def _keys(secret: str = "memo-secret-" + "m" * 32) -> KeyRing:
    return KeyRing(Settings(env="test", secret_key=secret, database_url="sqlite://"))


def _token(keys: KeyRing, issued: datetime, *, minutes: int = 15) -> str:
    return create_access_token(
        keys,
        subject=uuid.uuid4(),
        role="staff",
        school_id=SCHOOL,
        token_version=1,
        subject_type="user",
        now=issued,
        lifetime=timedelta(minutes=minutes),
    )


def test_a_verified_token_is_remembered_and_still_expires(issued: datetime) -> None:
    keys = _keys()
    token = _token(keys, issued)
    first = decode_access_token(keys, token, now=issued + timedelta(minutes=1))
    assert keys.verified.get(token) is not None
    assert decode_access_token(keys, token, now=issued + timedelta(minutes=14)) == first
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(keys, token, now=issued + timedelta(minutes=15))
    with pytest.raises(InvalidToken, match="not yet valid"):
        decode_access_token(keys, token, now=issued - timedelta(minutes=1))


def test_an_altered_token_is_verified_and_refused(issued: datetime) -> None:
    keys = _keys()
    token = _token(keys, issued)
    decode_access_token(keys, token, now=issued)
    header, payload, signature = token.split(".")
    other_ending = "AA" if signature[-2:] != "AA" else "BB"
    altered = ".".join((header, payload, signature[:-2] + other_ending))
    with pytest.raises(InvalidToken):
        decode_access_token(keys, altered, now=issued)
    assert keys.verified.get(altered) is None


def test_refused_tokens_are_not_remembered(issued: datetime) -> None:
    keys = _keys()
    stranger = _token(_keys("another-secret-" + "x" * 32), issued)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            decode_access_token(keys, stranger, now=issued)
    assert len(keys.verified) == 0


def test_the_memo_belongs_to_the_keys_that_verified(issued: datetime) -> None:
    keys = _keys()
    token = _token(keys, issued)
    decode_access_token(keys, token, now=issued)
    with pytest.raises(InvalidToken):
        decode_access_token(_keys("rotated-secret-" + "r" * 32), token, now=issued)


def test_the_memo_is_bounded_and_drops_the_oldest_first(issued: datetime) -> None:
    keys = _keys()
    keys.verified = VerifiedTokens(capacity=3)
    tokens = [_token(keys, issued) for _ in range(4)]
    for token in tokens:
        decode_access_token(keys, token, now=issued)
    assert len(keys.verified) == 3
    assert keys.verified.get(tokens[0]) is None
    assert all(keys.verified.get(token) is not None for token in tokens[1:])
    # A dropped token is verified again, not refused.
    assert decode_access_token(keys, tokens[0], now=issued).role == "staff"
