"""Idempotency keys: the same create sent twice gets its first answer, not a second record.

One mechanism for every POST that creates a record (``once``; the HTTP side is
``api.idempotency``, see docs/adr/0062-one-idempotency-mechanism-for-every-create.md).

The decision is the database's, never a read-then-write: the first request inserts the
(caller, key) row inside a savepoint, and every concurrent duplicate fails on the unique
constraint. On PostgreSQL a duplicate insert waits until the first transaction ends, then
fails (and reads the committed answer) or, if the first rolled back, succeeds. On SQLite
every transaction holds the write lock from its start, so duplicates simply queue.

Keys are per caller (a user or a service account), and a key's answer is kept for the
window the caller gives (``CONCERNLOG_IDEMPOTENCY_HOURS``, ADR 0051). What the table keeps
shows nothing to whoever reads the database: the request is an HMAC fingerprint (a body
may hold an initial password) and the answer is sealed (it may hold a client secret shown
once, and it copies concern content), both with keys derived from the server's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core import signing
from core.errors import Conflict, InvalidInput
from models.concern import IdempotencyKey
from services import audit
from services.context import RequestContext

DEFAULT_WINDOW = timedelta(hours=72)
REPLAYED = "replayed"

_FINGERPRINT_LABEL = b"concernlog idempotency request fingerprint v1"
_SEAL_LABEL = b"concernlog idempotency stored answer v1"


@dataclass(frozen=True, slots=True)
class Key:
    """A client's ``Idempotency-Key`` and how long its first answer stands."""

    value: str
    window: timedelta = DEFAULT_WINDOW


@dataclass(frozen=True, slots=True)
class Secrets:
    """The keys that fingerprint requests and seal stored answers, derived from the server's
    secret (``CONCERNLOG_SECRET_KEY``), which is never in the database."""

    fingerprint: bytes
    seal: bytes

    @classmethod
    def from_secret(cls, secret: str) -> Secrets:
        raw = secret.encode("utf-8")
        return cls(
            fingerprint=hmac.new(raw, _FINGERPRINT_LABEL, hashlib.sha256).digest(),
            seal=hmac.new(raw, _SEAL_LABEL, hashlib.sha256).digest(),
        )


@dataclass(frozen=True)
class Answer:
    """What a create answers: its status, its body (the model it shows) and its headers
    (``Location``, ``ETag``...). Kept, as sent, for the key's window."""

    status: int
    body: BaseModel
    headers: Mapping[str, str] = field(default_factory=dict)

    def json_body(self) -> Any:
        return self.body.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class StoredAnswer:
    """The answer the first request with this key got, read back for a replay."""

    status: int
    body: Any
    headers: dict[str, str]
    # What the first request recorded in the audit log; a replay records it again, with
    # the outcome ``replayed``.
    audited: list[audit.AuditEntry]


def fingerprint(secrets: Secrets, request: Any) -> str:
    """HMAC-SHA256 of the canonical JSON of the validated request (sorted keys, no spaces):
    the same request gives the same fingerprint, and nobody without the server's secret can
    test a guess of what it held (an initial password) against it."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secrets.fingerprint, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def once(
    session: Session,
    context: RequestContext,
    *,
    key: Key,
    request_fingerprint: str,
    secrets: Secrets,
    create: Callable[[], Answer],
) -> Answer | StoredAnswer:
    """``create()``'s answer, once per (caller, key): the first request with the key runs
    it and keeps its answer (in the same transaction); a repeat of the same request within
    the key's window gets that answer back and records nothing but the first request's
    audit events again, with the outcome ``replayed``. The same key with another request is
    a 422 (``idempotency_key_reused``); 409 in the one case where no answer can be read.

    A create that fails rolls the key back with it: the key is not used up."""
    claimed = claim(
        session,
        caller_id=context.principal.id,
        key=key,
        request_hash=request_fingerprint,
        now=context.now,
        secrets=secrets,
    )
    if isinstance(claimed, StoredAnswer):
        audit.record_many(
            session,
            actor=context.actor,
            now=context.now,
            request_id=context.request_id,
            entries=[
                audit.AuditEntry(
                    action=entry.action,
                    entity_type=entry.entity_type,
                    entity_id=entry.entity_id,
                    pupil_id=entry.pupil_id,
                    outcome=REPLAYED,
                )
                for entry in claimed.audited
            ],
        )
        return claimed
    with audit.capturing(session) as recorded:
        answer = create()
    complete(session, claimed, answer=answer, audited=recorded, secrets=secrets)
    return answer


def _insert(session: Session, row: IdempotencyKey) -> bool:
    """Insert ``row`` in a savepoint; False if (caller, key) is already taken."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def claim(
    session: Session,
    *,
    caller_id: uuid.UUID,
    key: Key,
    request_hash: str,
    now: datetime,
    secrets: Secrets,
) -> IdempotencyKey | StoredAnswer:
    """Claim ``key`` for this request (the row to ``complete`` once answered), or return the
    answer stored by the request that claimed it first.

    Raises ``InvalidInput`` (422) when the key was used with a different request, and
    ``Conflict`` (409) in the one case where no answer can be read yet."""
    row = IdempotencyKey(
        caller_id=caller_id,
        key=key.value,
        request_hash=request_hash,
        created_at=now,
        expires_at=now + key.window,
    )
    if _insert(session, row):
        return row
    existing = _stored(session, caller_id=caller_id, key=key.value)
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
        existing = _stored(session, caller_id=caller_id, key=key.value)
    if existing is None or existing.response_status is None or existing.response_body is None:
        # Only reachable if the first holder's row vanished between our insert and read.
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.")
    if not hmac.compare_digest(existing.request_hash, request_hash):
        raise InvalidInput(
            "This Idempotency-Key was already used with a different request. Use a new key "
            "for a new request.",
            error_type="idempotency_key_reused",
            extra={
                "errors": [
                    {
                        "loc": ["header", "Idempotency-Key"],
                        "msg": "already used with a different request",
                        "type": "idempotency_key_reused",
                    }
                ]
            },
        )
    stored = signing.unseal(secrets.seal, existing.response_body, context=_row_context(existing))
    if stored is None:
        # Sealed with another server secret, or altered: it cannot be shown.
        raise Conflict(
            "The first answer to this Idempotency-Key cannot be read back. Read the record "
            "before sending it again with a new key."
        )
    kept = json.loads(stored)
    return StoredAnswer(
        status=existing.response_status,
        body=kept["body"],
        headers=kept["headers"],
        audited=[
            audit.AuditEntry(
                action=action,
                entity_type=entity_type,
                entity_id=uuid.UUID(entity_id) if entity_id else None,
                pupil_id=uuid.UUID(pupil_id) if pupil_id else None,
            )
            for action, entity_type, entity_id, pupil_id in kept["audited"]
        ],
    )


def _stored(session: Session, *, caller_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    return session.exec(
        select(IdempotencyKey)
        .where(col(IdempotencyKey.caller_id) == caller_id, col(IdempotencyKey.key) == key)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _row_context(row: IdempotencyKey) -> bytes:
    # A sealed answer opens only on its own row: moved to another caller's key, it is noise.
    return f"{row.caller_id}\n{row.key}".encode()


def complete(
    session: Session,
    row: IdempotencyKey,
    *,
    answer: Answer,
    audited: list[audit.AuditEntry],
    secrets: Secrets,
) -> None:
    """Store the answer on the claimed row, sealed, in the same transaction as what it
    answers, with the audit events the request recorded (ids and actions only)."""
    kept = {
        "body": answer.json_body(),
        "headers": dict(answer.headers),
        "audited": [
            [
                entry.action,
                entry.entity_type,
                str(entry.entity_id) if entry.entity_id else None,
                str(entry.pupil_id) if entry.pupil_id else None,
            ]
            for entry in audited
        ],
    }
    plain = json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    row.response_status = answer.status
    row.response_body = signing.seal(secrets.seal, plain, context=_row_context(row))
    session.add(row)
    session.flush()


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete every expired key (their stored answers copy concern content). For a
    scheduled job; returns how many were deleted. Records nothing: it removes only cached
    answers, never a record."""
    result = session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= now))
    return int(getattr(result, "rowcount", 0) or 0)
