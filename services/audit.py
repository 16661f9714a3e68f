"""The audit log: append in the caller's transaction, read, and verify the hash chain."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from models.audit import GENESIS_HASH, AuditChainHead, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit log records them: ids and role only."""

    type: str  # "user", "service" or "system"
    id: uuid.UUID | None
    role: str | None
    school_id: uuid.UUID


def _canonical(event: AuditEvent) -> bytes:
    fields = {
        "school_id": str(event.school_id),
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor_type": event.actor_type,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_role": event.actor_role,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": str(event.entity_id) if event.entity_id else None,
        "pupil_id": str(event.pupil_id) if event.pupil_id else None,
        "request_id": event.request_id,
        "run_id": str(event.run_id) if event.run_id else None,
        "outcome": event.outcome,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def start_chain(session: Session, *, school_id: uuid.UUID) -> None:
    """Create a school's empty chain (done once, when the school is created)."""
    session.add(AuditChainHead(school_id=school_id, seq=0, hash=GENESIS_HASH))


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    pupil_id: uuid.UUID | None = None,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
    outcome: str = "success",
) -> AuditEvent:
    """Append one event to the acting school's chain, in the caller's transaction.

    The chain head row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
    transactions already hold the write lock from ``BEGIN IMMEDIATE``) so concurrent
    appends are serialised and sequence numbers never repeat or skip."""
    head = session.exec(
        select(AuditChainHead).where(AuditChainHead.school_id == actor.school_id).with_for_update()
    ).one()
    event = AuditEvent(
        school_id=actor.school_id,
        seq=head.seq + 1,
        occurred_at=now,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        pupil_id=pupil_id,
        request_id=request_id,
        run_id=run_id,
        outcome=outcome,
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_hash(event)
    head.seq = event.seq
    head.hash = event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event
