"""Our bookkeeping of what the MIS told us: ``mis_record`` rows, content hashes, which
run saw a record, and the audit events of a batch.

``mis_record`` holds, per (source, external_id), the pupil or account it became, the
source's change time and a hash of the content we stored: a record is ``stale`` when
older than what we hold and ``unchanged`` when its hash is the same.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from models.mis import MISKind, MISRecord, SyncRun, SyncRunKind
from services import audit
from services.audit import Actor, AuditEntry

_CONCURRENT_WRITE = (
    "could not be saved: another sync wrote the same record at the same time; send it again"
)
_REFUSED_VALUE = "could not be saved: the database refused one of its values"


def content_hash(values: Mapping[str, Any]) -> str:
    """A stable hash of the values we store for a record (key order does not matter)."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def refused_write_reason(exc: IntegrityError | DataError) -> str:
    """The rejection reason of a record whose savepoint the database refused."""
    return _CONCURRENT_WRITE if isinstance(exc, IntegrityError) else _REFUSED_VALUE


def plan_with_values(session: Session) -> None:
    """On PostgreSQL, plan this transaction's queries for their actual values.

    The driver prepares a statement once it has run a few times, and PostgreSQL may then
    reuse a generic plan; for "external_id IN (500 values)" on a table whose statistics lag
    behind a bulk load, that plan compares every row with every value instead of using the
    index. ``SET LOCAL`` ends with the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def mis_records(
    session: Session, *, school_id: uuid.UUID, kind: MISKind, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], MISRecord]:
    """Our records for the given (source, external_id) keys: one query per source."""
    by_source: dict[str, set[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, set()).add(external_id)
    found: dict[tuple[str, str], MISRecord] = {}
    for source, external_ids in by_source.items():
        for row in session.exec(
            select(MISRecord).where(
                MISRecord.school_id == school_id,
                MISRecord.kind == kind.value,
                MISRecord.source == source,
                col(MISRecord.external_id).in_(external_ids),
            )
        ):
            found[(row.source, row.external_id)] = row
    return found


def mark_seen(mis_record: MISRecord, run: SyncRun | None) -> None:
    """Note that ``run`` carried the record (a full run's sweep spares what it saw)."""
    if run is None:
        return
    mis_record.last_run_id = run.id
    if run.kind == SyncRunKind.full.value:
        mis_record.last_full_run_id = run.id


def record_events(
    session: Session,
    *,
    actor: Actor,
    events: Sequence[AuditEntry],
    now: datetime,
    request_id: str | None,
    run: SyncRun | None,
) -> None:
    """A batch's events, appended together (one lock of the chain head, one INSERT), each
    tagged with the run id when there is one."""
    audit.record_many(
        session,
        actor=actor,
        now=now,
        entries=events,
        request_id=request_id,
        run_id=run.id if run is not None else None,
    )
