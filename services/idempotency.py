"""Idempotency keys: the same create sent twice gets its first answer, not a second record.

The decision is the database's, never a read-then-write: the first request inserts the
(user, key) row inside a savepoint, and every concurrent duplicate fails on the unique
constraint. On PostgreSQL a duplicate insert waits until the first transaction ends, then
fails (and reads the committed answer) or, if the first rolled back, succeeds. On SQLite
every transaction holds the write lock from its start, so duplicates simply queue.

Keys are per user, and a key's answer is kept for the window the caller gives
(``CONCERNLOG_IDEMPOTENCY_HOURS``, ADR 0051): long enough for a phone's offline queue.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput
from models.concern import IdempotencyKey

DEFAULT_WINDOW = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class Key:
    """A client's ``Idempotency-Key`` and how long its first answer stands."""

    value: str
    window: timedelta = DEFAULT_WINDOW


@dataclass(frozen=True)
class StoredAnswer:
    """The answer the first request with this key got."""

    status: int
    body: Any


def request_hash(payload: Any) -> str:
    """SHA-256 of the canonical JSON of the validated request (sorted keys, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _insert(session: Session, row: IdempotencyKey) -> bool:
    """Insert ``row`` in a savepoint; False if (user, key) is already taken."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def claim(
    session: Session, *, user_id: uuid.UUID, key: Key, request_hash: str, now: datetime
) -> IdempotencyKey | StoredAnswer:
    """Claim ``key`` for this request (the row to ``complete`` once answered), or return the
    answer stored by the request that claimed it first.

    Raises ``InvalidInput`` (422) when the key was used with a different request body, and
    ``Conflict`` (409) in the one case where no answer can be read yet."""
    row = IdempotencyKey(
        user_id=user_id,
        key=key.value,
        request_hash=request_hash,
        created_at=now,
        expires_at=now + key.window,
    )
    if _insert(session, row):
        return row
    existing = _stored(session, user_id=user_id, key=key.value)
    if existing is not None and existing.expires_at <= now:
        # An expired key is free again. Deleting just that row (never a range) keeps
        # concurrent requests from locking rows in different orders; of two requests
        # reviving the same key, the second's insert fails and it answers as a replay.
        session.execute(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.id) == existing.id, col(IdempotencyKey.expires_at) <= now
            )
        )
        session.expunge(existing)
        if _insert(session, row):
            return row
        existing = _stored(session, user_id=user_id, key=key.value)
    if existing is None or existing.response_status is None or existing.response_body is None:
        # Only reachable if the first holder's row vanished between our insert and read.
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.")
    if existing.request_hash != request_hash:
        raise InvalidInput(
            "This Idempotency-Key was already used with a different request body. Use a new "
            "key for a new request.",
            error_type="idempotency_key_reused",
            extra={
                "errors": [
                    {
                        "loc": ["header", "Idempotency-Key"],
                        "msg": "already used with a different request body",
                        "type": "idempotency_key_reused",
                    }
                ]
            },
        )
    return StoredAnswer(status=existing.response_status, body=json.loads(existing.response_body))


def _stored(session: Session, *, user_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    return session.exec(
        select(IdempotencyKey)
        .where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key)
        .execution_options(populate_existing=True)
    ).one_or_none()


def complete(session: Session, row: IdempotencyKey, *, status: int, body: Any) -> None:
    """Store the answer on the claimed row, in the same transaction as what it answers."""
    row.response_status = status
    row.response_body = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    session.add(row)
    session.flush()


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete every expired key (their stored answers copy concern content). For a
    scheduled job; returns how many were deleted. Records nothing: it removes only cached
    answers, never a record."""
    result = session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= now))
    return int(getattr(result, "rowcount", 0) or 0)
