"""Writing a decided batch of pupils: changes to rows we hold go through the ORM, new rows
are inserted together, all in one savepoint, retried record by record if the database
refuses it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, SQLModel

from models.base import new_id
from models.mis import MISKind, MISPupilRecord, MISRecord, SyncResult, SyncRun, SyncRunKind
from models.pupil import Pupil, PupilStatus, name_key
from services.mis.outcomes import RecordOutcome
from services.mis.records import mark_seen, refused_write_reason


@dataclass
class PupilWork:
    """One valid pushed pupil on its way through a batch: what we held, what was decided
    (``outcome``, ``audit_actions``), and the pupil it ended up as."""

    outcome: RecordOutcome
    record: MISPupilRecord
    values: dict[str, Any]
    content_hash: str
    # What we held before this batch (never replaced, so a retry starts from it).
    mis_record: MISRecord | None
    pupil: Pupil | None
    link: Pupil | None = None
    restore: bool = False
    audit_actions: list[str] = field(default_factory=list)
    # The pupil the record ended up as, once written.
    pupil_id: uuid.UUID | None = None


def _insert_rows(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert many rows with one executemany (psycopg 3 pipelines it; SQLite runs it in
    process): faster than multi-row VALUES, which PostgreSQL must plan afresh under
    ``records.plan_with_values``."""
    if rows:
        session.execute(insert(table), rows)


@dataclass
class _Inserts:
    """New rows of a batch, inserted together, table by table (``_insert_rows``): for a
    batch of records, building ORM objects costs more than the inserts themselves."""

    pupils: list[dict[str, Any]] = field(default_factory=list)
    mis_records: list[dict[str, Any]] = field(default_factory=list)

    def execute(self, session: Session) -> None:
        _insert_rows(session, Pupil, self.pupils)
        _insert_rows(session, MISRecord, self.mis_records)


def _new_mis_record(
    work: PupilWork,
    *,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    run: SyncRun | None,
    now: datetime,
) -> dict[str, Any]:
    full = run is not None and run.kind == SyncRunKind.full.value
    return {
        "id": new_id(),
        "school_id": school_id,
        "kind": MISKind.pupil.value,
        "source": work.record.source,
        "external_id": work.record.external_id,
        "entity_id": pupil_id,
        "source_updated_at": work.record.source_updated_at,
        "content_hash": work.content_hash,
        "last_run_id": run.id if run is not None else None,
        "last_full_run_id": run.id if full and run is not None else None,
        "created_at": now,
        "updated_at": now,
    }


def _new_pupil(work: PupilWork, *, school_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    values = work.values
    return {
        "id": new_id(),
        "school_id": school_id,
        "source": work.record.source,
        "external_id": work.record.external_id,
        "status": PupilStatus.active.value,
        "left_on": None,
        **values,
        # A Core insert skips the ORM hook that keeps the search keys: set them here, the
        # same way Pupil.refresh_name_keys does.
        "given_name_key": name_key(values["given_name"]) or "",
        "family_name_key": name_key(values["family_name"]) or "",
        "preferred_name_key": name_key(values["preferred_name"]),
        "created_at": now,
        "updated_at": now,
    }


def _apply_pupil(
    work: PupilWork,
    inserts: _Inserts,
    *,
    school_id: uuid.UUID,
    run: SyncRun | None,
    now: datetime,
) -> None:
    """Write one decided record: changes to rows we hold go through the ORM, new rows into
    ``inserts``. Sets ``work.pupil_id``."""
    result = work.outcome.result
    record = work.record
    stored = work.mis_record
    if result in (SyncResult.stale, SyncResult.unchanged):
        if stored is None:  # an unchanged pupil of this source without bookkeeping: adopt
            assert work.pupil is not None
            inserts.mis_records.append(
                _new_mis_record(work, school_id=school_id, pupil_id=work.pupil.id, run=run, now=now)
            )
            return
        if result == SyncResult.unchanged and record.source_updated_at > stored.source_updated_at:
            stored.source_updated_at = record.source_updated_at
        mark_seen(stored, run)
        return

    pupil = work.pupil or work.link
    if pupil is None:
        row = _new_pupil(work, school_id=school_id, now=now)
        inserts.pupils.append(row)
        work.pupil_id = row["id"]
    else:
        for name, value in work.values.items():
            setattr(pupil, name, value)
        pupil.source, pupil.external_id = record.source, record.external_id
        if work.restore:
            pupil.status, pupil.left_on = PupilStatus.active.value, None
        pupil.updated_at = now
        work.pupil_id = pupil.id

    assert work.pupil_id is not None
    if stored is None:
        inserts.mis_records.append(
            _new_mis_record(work, school_id=school_id, pupil_id=work.pupil_id, run=run, now=now)
        )
    else:
        stored.entity_id = work.pupil_id
        stored.source_updated_at = record.source_updated_at
        stored.content_hash = work.content_hash
        stored.updated_at = now
        mark_seen(stored, run)


def write_pupils(
    session: Session,
    works: list[PupilWork],
    *,
    school_id: uuid.UUID,
    run: SyncRun | None,
    now: datetime,
) -> None:
    """Write the batch: first in one savepoint (fast); if the database refuses it (a
    concurrent sync wrote one of the same records first), again with one savepoint per
    record, so that only the clashing records are rejected. A rolled-back savepoint expires
    the rows it changed, so each retry starts from what the database holds."""
    try:
        with session.begin_nested():
            inserts = _Inserts()
            for work in works:
                _apply_pupil(work, inserts, school_id=school_id, run=run, now=now)
            inserts.execute(session)
            session.flush()
        return
    except (IntegrityError, DataError):
        pass
    for work in works:
        try:
            with session.begin_nested():
                inserts = _Inserts()
                _apply_pupil(work, inserts, school_id=school_id, run=run, now=now)
                inserts.execute(session)
                session.flush()
        except (IntegrityError, DataError) as exc:
            work.outcome.result = SyncResult.rejected
            work.outcome.reason = refused_write_reason(exc)
            work.outcome.warnings = []
            work.audit_actions = []
            work.pupil_id = None
