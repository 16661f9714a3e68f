"""MIS sync: idempotent upserts of pupils and staff, leavers, and sync runs with a sweep.

Who may call: the school's ``mis`` service account and its ``admin`` (the public functions
check it); the command line imports through ``sync_pupils`` as a system actor. Every query
is scoped to one school.

How a pushed record is judged (``mis_record`` holds what the MIS last told us):

- ``rejected``: it does not validate (each record on its own, so the rest of the batch goes
  on), its source is not its run's, it repeats an earlier record of the batch, or, rarely,
  it could not be saved because a concurrent sync wrote the same record first.
- ``stale``: its ``source_updated_at`` is older than the one we hold. Nothing changes.
- ``unchanged``: the same content hash as last time, not older, and (for a pupil) not marked
  as left since. Only our bookkeeping moves (the newer time, the run that saw it).
- ``updated`` or ``created`` otherwise.

Pupils:

- A UPN is checked with python-stdnum (``stdnum.gb.upn``). A wrong check letter
  (``upn_check_letter_invalid``) or a temporary UPN (``upn_temporary``) is a warning and the
  UPN is kept. A malformed one (wrong length or characters) is a warning
  ``upn_invalid_format`` and is *not* stored: a child is never left out of the pupil search
  because of an optional identifier. The LA code is not checked against stdnum's list,
  which dates from 2011 and lacks authorities created since (940 and 941, the
  Northamptonshires, for one); that would flag real UPNs.
- The optional fields (``preferred_name``, ``year_group``, ``registration_group``) follow
  the same rule: a bad value is dropped with a warning ``<field>_invalid``.
- A new MIS pupil whose UPN and date of birth match exactly one pupil entered by hand (no
  source) is linked to that pupil instead of duplicating them (``linked_existing_pupil``),
  so concerns already logged stay on the child's file. Another pupil with the same UPN is
  only a warning (``upn_duplicate``).
- A pupil marked as left (by the leavers call, a sweep or by hand) who arrives in a later
  upsert that is not stale is active again (``pupil_restored``): the MIS says they are on
  roll.

Staff:

- Accounts are created with role ``staff`` and no password: they cannot sign in until an
  admin sets one. A role is never changed. A new MIS record whose email belongs to an
  existing account of the school that no other MIS record claims is linked to it
  (``linked_existing_account``), names updated, role and password untouched. An email of
  an account in another school, or claimed by another MIS record, is ``rejected``.
- Deactivation (a ``leaving_date`` before today, or the staff leavers call) bumps the
  account's token version and revokes its refresh tokens: its tokens stop working at once.
  The last active admin of a school is never deactivated by a sync
  (``last_admin_not_deactivated``). A sync never reactivates an account: reactivating is an
  admin's decision (``account_inactive`` says it is still off).

Runs: ``complete_run`` of a full run marks the run source's active pupils that no batch of
the run carried (stale and rejected records count as carried) as left, refusing (409) when
that is more than 10 % of them unless forced. A newer full run of the same source abandons
an older open one, so a crashed walk can never be completed after a newer one began. Staff
are never swept: a broken page walk must not lock people out.

Audit: ``mis.sync_run_started``, ``mis.sync_run_abandoned``, ``mis.sync_run_completed``,
``mis.pupils_received`` / ``mis.staff_received`` (one per batch), ``mis.pupil_created``,
``mis.pupil_updated``, ``mis.pupil_linked``, ``mis.pupil_restored``, ``mis.pupil_left``,
``mis.staff_created``, ``mis.staff_updated``, ``mis.staff_linked``,
``mis.staff_deactivated``; each tagged with the run id when there is one. Ids only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import func, insert, text, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, SQLModel, col, select
from stdnum import exceptions as stdnum_errors
from stdnum.gb import upn as stdnum_upn

from core.errors import Conflict, InvalidInput, NotFound
from models.base import new_id
from models.mis import (
    EXTERNAL_ID_MAX,
    MAX_BATCH,
    LeaverResult,
    MISKind,
    MISPupilRecord,
    MISRecord,
    MISStaffRecord,
    SyncResult,
    SyncRun,
    SyncRunKind,
    SyncRunStatus,
    is_clean_text,
)
from models.pupil import Pupil, PupilStatus, name_key
from models.user import Role, User
from services import audit
from services.access import require_mis_sync
from services.audit import Actor, AuditEntry
from services.auth import revoke_all_refresh_tokens
from services.principal import Principal

# A full run may mark at most this share of its source's active pupils as left unless forced.
SWEEP_LIMIT_PERCENT = 10
# MIS clocks drift; a record dated further ahead than this would make every later real
# change look stale, so it is refused.
FUTURE_SKEW = timedelta(hours=1)
DISPLAY_NAME_MAX = 200
# Bound parameters per IN (...) list: well inside every driver's limit.
_IDS_PER_STATEMENT = 1000

_UPN_CHECK_LETTERS = frozenset("ABCDEFGHJKLMNPQRTUVWXYZ")
_OPTIONAL_PUPIL_FIELDS = {"preferred_name": 100, "year_group": 20, "registration_group": 40}
_PUPIL_VALUE_FIELDS = (
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "upn",
    "year_group",
    "registration_group",
)
_CONCURRENT_WRITE = (
    "could not be saved: another sync wrote the same record at the same time; send it again"
)
_REFUSED_VALUE = "could not be saved: the database refused one of its values"


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_LONDON = _zone("Europe/London")


def school_today(now: datetime) -> date:
    """Today's date in England (leaving dates and dates of birth are English dates)."""
    return now.astimezone(_LONDON or UTC).date()


# --- results -----------------------------------------------------------------------------------


@dataclass
class RecordOutcome:
    index: int
    external_id: str | None
    result: SyncResult
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None


@dataclass
class BatchOutcome:
    run_id: uuid.UUID | None
    results: list[RecordOutcome]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.result.value for r in self.results)
        return {result.value: found.get(result.value, 0) for result in SyncResult}


@dataclass
class LeaversOutcome:
    results: list[tuple[str, LeaverResult]]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(result.value for _, result in self.results))


# --- shared helpers ---------------------------------------------------------------------------


def _invalid(detail: str, loc: Sequence[str | int]) -> InvalidInput:
    return InvalidInput(
        detail, extra={"errors": [{"loc": list(loc), "msg": detail, "type": "value_error"}]}
    )


def _reason(exc: ValidationError) -> str:
    # Location and message only: pydantic's "input" would echo names back.
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _content_hash(values: Mapping[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _raw_key(raw: Any) -> tuple[str, str] | None:
    """The (source, external_id) a record names, read before validation so that even a
    rejected record can count as seen by its run (only when both are storable text)."""
    if not isinstance(raw, Mapping):
        return None
    source, external_id = raw.get("source"), raw.get("external_id")
    if not isinstance(source, str) or not isinstance(external_id, str):
        return None
    if not (is_clean_text(source) and is_clean_text(external_id)):
        return None
    return source.strip().lower(), external_id.strip()


def _raw_external_id(raw: Any) -> str | None:
    """The external id to echo in a record's result: None unless it is clean text."""
    if isinstance(raw, Mapping) and isinstance(raw.get("external_id"), str):
        external_id = str(raw["external_id"]).strip()[:EXTERNAL_ID_MAX]
        return external_id if external_id and is_clean_text(external_id) else None
    return None


def _insert_rows(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert many rows with one executemany (psycopg 3 pipelines it; SQLite runs it in
    process). Measured faster than multi-row VALUES, which PostgreSQL must plan afresh
    under ``_plan_with_values``."""
    if rows:
        session.execute(insert(table), rows)


def _plan_with_values(session: Session) -> None:
    """On PostgreSQL, plan this transaction's queries for their actual values.

    The driver prepares a statement once it has run a few times, and PostgreSQL may then
    reuse a generic plan; for "external_id IN (500 values)" on a table whose statistics lag
    behind a bulk load, that plan compares every row with every value (100+ ms a lookup
    instead of 1). ``SET LOCAL`` ends with the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _open_run_for_batch(
    session: Session,
    *,
    school_id: uuid.UUID,
    run_id: uuid.UUID | None,
    loc: Sequence[str] = ("body", "run_id"),
) -> SyncRun | None:
    """The open run a batch belongs to, locked so that batches of one run and its
    completion never interleave; 422 for anything else."""
    if run_id is None:
        return None
    run = session.exec(
        select(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.school_id == school_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if run is None or run.status != SyncRunStatus.open.value:
        raise _invalid("run_id must name an open sync run of your school.", loc)
    return run


def _add_counts(run: SyncRun | None, kind: str, outcome: BatchOutcome) -> None:
    if run is None:
        return
    counts = {k: dict(v) for k, v in (run.counts or {}).items()}
    totals = counts.setdefault(kind, {})
    for result, number in outcome.counts.items():
        totals[result] = totals.get(result, 0) + number
    run.counts = counts  # a new object, so the JSON column is written


def _mis_records(
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


def _mark_seen(mis_record: MISRecord, run: SyncRun | None) -> None:
    if run is None:
        return
    mis_record.last_run_id = run.id
    if run.kind == SyncRunKind.full.value:
        mis_record.last_full_run_id = run.id


def _record_event(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    request_id: str | None,
    run: SyncRun | None,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
    pupil_id: uuid.UUID | None = None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        now=now,
        entity_type=entity_type,
        entity_id=entity_id,
        pupil_id=pupil_id,
        request_id=request_id,
        run_id=run.id if run is not None else None,
    )


def _record_events(
    session: Session,
    *,
    actor: Actor,
    events: Sequence[AuditEntry],
    now: datetime,
    request_id: str | None,
    run: SyncRun | None,
) -> None:
    """A batch's events, appended together (one lock of the chain head, one INSERT):
    one by one, they were two thirds of the time of a 10,000-pupil import."""
    audit.record_many(
        session,
        actor=actor,
        now=now,
        entries=events,
        request_id=request_id,
        run_id=run.id if run is not None else None,
    )


# --- UPNs --------------------------------------------------------------------------------------


def check_upn(raw: str | None) -> tuple[str | None, list[str]]:
    """The UPN to store (or None) and the warnings it earns. See the module docstring."""
    if raw is None:
        return None, []
    number = stdnum_upn.compact(raw)
    if not number:
        return None, []
    try:
        stdnum_upn.validate(number)
        check_letter_ok = True
    except stdnum_errors.InvalidComponent:
        # An LA code stdnum does not know: judge the check letter ourselves.
        check_letter_ok = stdnum_upn.calc_check_digit(number[1:]) == number[0]
    except stdnum_errors.InvalidChecksum:
        check_letter_ok = False
    except stdnum_errors.ValidationError:
        return None, ["upn_invalid_format"]
    if number[0] not in _UPN_CHECK_LETTERS:
        return None, ["upn_invalid_format"]
    warnings = [] if check_letter_ok else ["upn_check_letter_invalid"]
    if number[-1].isalpha():
        warnings.append("upn_temporary")
    return number, warnings


# --- validating one record ---------------------------------------------------------------------


def _future_timestamp_reason(record: MISPupilRecord | MISStaffRecord, now: datetime) -> str | None:
    if record.source_updated_at > now + FUTURE_SKEW:
        return "source_updated_at: is more than an hour in the future"
    return None


def _validate_pupil(
    raw: Any, now: datetime
) -> tuple[MISPupilRecord | None, dict[str, Any], list[str], str | None]:
    """(record, values to store, warnings, rejection reason) for one pushed pupil."""
    if not isinstance(raw, Mapping):
        return None, {}, [], "record: must be a JSON object"
    data = dict(raw)
    warnings: list[str] = []
    for name, max_length in _OPTIONAL_PUPIL_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and name != "preferred_name":
            value = str(value)  # a year group sent as a number
        if not isinstance(value, str):
            data[name] = None
            warnings.append(f"{name}_invalid")
            continue
        cleaned = " ".join(value.split())
        if len(cleaned) > max_length:
            data[name] = None
            warnings.append(f"{name}_invalid")
        else:
            data[name] = cleaned or None
    if data.get("upn") is not None and not isinstance(data["upn"], str):
        data["upn"] = None
        warnings.append("upn_invalid_format")
    try:
        record = MISPupilRecord.model_validate(data)
    except ValidationError as exc:
        return None, {}, warnings, _reason(exc)
    if record.date_of_birth > school_today(now):
        return None, {}, warnings, "date_of_birth: is in the future"
    future = _future_timestamp_reason(record, now)
    if future:
        return None, {}, warnings, future
    upn, upn_warnings = check_upn(record.upn)
    warnings.extend(upn_warnings)
    values = {
        "given_name": record.given_name,
        "family_name": record.family_name,
        "preferred_name": record.preferred_name,
        "date_of_birth": record.date_of_birth,
        "upn": upn,
        "year_group": record.year_group,
        "registration_group": record.registration_group,
    }
    return record, values, warnings, None


# --- pupils ----------------------------------------------------------------------------------


@dataclass
class _PupilWork:
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


def _pupil_values(pupil: Pupil) -> dict[str, Any]:
    return {name: getattr(pupil, name) for name in _PUPIL_VALUE_FIELDS}


def _decide_pupil(work: _PupilWork) -> None:
    """Set the work's result and audit actions from what we hold."""
    outcome, stored = work.outcome, work.mis_record
    pupil = work.pupil
    if stored is not None and work.record.source_updated_at < stored.source_updated_at:
        outcome.result = SyncResult.stale
        return
    if pupil is None:
        if work.link is not None:
            outcome.result = SyncResult.updated
            outcome.warnings.append("linked_existing_pupil")
            work.restore = work.link.status != PupilStatus.active.value
            work.audit_actions = ["mis.pupil_linked"]
        else:
            outcome.result = SyncResult.created
            work.audit_actions = ["mis.pupil_created"]
    else:
        work.restore = pupil.status != PupilStatus.active.value
        if stored is not None:
            same = stored.content_hash == work.content_hash
        else:  # a pupil of this source without bookkeeping: compare the row itself
            same = _pupil_values(pupil) == work.values
        if same and not work.restore:
            outcome.result = SyncResult.unchanged
            return
        outcome.result = SyncResult.updated
        work.audit_actions = [] if same else ["mis.pupil_updated"]
    if work.restore:
        outcome.warnings.append("pupil_restored")
        work.audit_actions.append("mis.pupil_restored")


@dataclass
class _Inserts:
    """New rows of a batch, written with one multi-row INSERT per table: building ORM
    objects costs more than the inserts themselves at 500 records a batch."""

    pupils: list[dict[str, Any]] = field(default_factory=list)
    mis_records: list[dict[str, Any]] = field(default_factory=list)

    def execute(self, session: Session) -> None:
        _insert_rows(session, Pupil, self.pupils)
        _insert_rows(session, MISRecord, self.mis_records)


def _new_mis_record(
    work: _PupilWork,
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


def _new_pupil(work: _PupilWork, *, school_id: uuid.UUID, now: datetime) -> dict[str, Any]:
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
    work: _PupilWork,
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
        _mark_seen(stored, run)
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
        _mark_seen(stored, run)


def _apply_all(
    session: Session,
    works: list[_PupilWork],
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
            work.outcome.reason = (
                _CONCURRENT_WRITE if isinstance(exc, IntegrityError) else _REFUSED_VALUE
            )
            work.outcome.warnings = []
            work.audit_actions = []
            work.pupil_id = None


def _pupils_by_key(
    session: Session, *, school_id: uuid.UUID, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Pupil]:
    by_source: dict[str, set[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, set()).add(external_id)
    found: dict[tuple[str, str], Pupil] = {}
    for source, external_ids in by_source.items():
        for pupil in session.exec(
            select(Pupil).where(
                Pupil.school_id == school_id,
                Pupil.source == source,
                col(Pupil.external_id).in_(external_ids),
            )
        ):
            assert pupil.source is not None and pupil.external_id is not None
            found[(pupil.source, pupil.external_id)] = pupil
    return found


def _pupils_by_id(
    session: Session, *, school_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Pupil]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {
        pupil.id: pupil
        for pupil in session.exec(
            select(Pupil).where(Pupil.school_id == school_id, col(Pupil.id).in_(wanted))
        )
    }


def _pupils_by_upn(
    session: Session, *, school_id: uuid.UUID, upns: Iterable[str]
) -> dict[str, list[Pupil]]:
    wanted = set(upns)
    found: dict[str, list[Pupil]] = {}
    if not wanted:
        return found
    for pupil in session.exec(
        select(Pupil).where(Pupil.school_id == school_id, col(Pupil.upn).in_(wanted))
    ):
        assert pupil.upn is not None
        found.setdefault(pupil.upn, []).append(pupil)
    return found


def sync_pupils(
    session: Session,
    *,
    actor: Actor,
    records: Sequence[Any],
    now: datetime,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
    run_id_loc: Sequence[str] = ("body", "run_id"),
    extra_warnings: Mapping[int, Sequence[str]] | None = None,
) -> BatchOutcome:
    """Upsert up to 500 pupils of the actor's school, keyed by (source, external_id), in
    the caller's transaction; one result per record, in order (see the module docstring).

    Reads what it needs in a handful of queries whatever the batch size. ``run_id`` must
    name an open run of the school (422 otherwise, at ``run_id_loc``) and every record must
    come from its source. Records ``mis.pupils_received`` and one event per change."""
    if len(records) > MAX_BATCH:
        raise _invalid(f"At most {MAX_BATCH} records per batch.", ("body", "records"))
    school_id = actor.school_id
    _plan_with_values(session)
    run = _open_run_for_batch(session, school_id=school_id, run_id=run_id, loc=run_id_loc)

    outcomes: list[RecordOutcome] = []
    candidates: list[_PupilWork] = []
    seen_keys: set[tuple[str, str]] = set()
    rejected_keys: list[tuple[str, str]] = []
    for index, raw in enumerate(records):
        outcome = RecordOutcome(
            index=index, external_id=_raw_external_id(raw), result=SyncResult.rejected
        )
        outcome.warnings.extend((extra_warnings or {}).get(index, ()))
        outcomes.append(outcome)
        record, values, warnings, reason = _validate_pupil(raw, now)
        outcome.warnings.extend(warnings)
        key = (record.source, record.external_id) if record else _raw_key(raw)
        if record is not None and run is not None and record.source != run.source:
            reason = f"source: this run's records come from {run.source!r}"
        if record is not None and key in seen_keys:
            reason = "external_id: repeats an earlier record of this batch"
        if record is None or reason is not None:
            outcome.reason = reason
            if key is not None and (run is None or key[0] == run.source):
                rejected_keys.append(key)
            continue
        assert key is not None
        seen_keys.add(key)
        outcome.external_id = record.external_id
        candidates.append(
            _PupilWork(
                outcome=outcome,
                record=record,
                values=values,
                content_hash=_content_hash(values),
                mis_record=None,
                pupil=None,
            )
        )

    keys = [(w.record.source, w.record.external_id) for w in candidates]
    stored = _mis_records(
        session, school_id=school_id, kind=MISKind.pupil, keys=[*keys, *rejected_keys]
    )
    pupils = _pupils_by_key(session, school_id=school_id, keys=keys)
    # A record's pupil is normally found by its key; by id only if the two have parted.
    found_ids = {pupil.id for pupil in pupils.values()}
    held = [stored[k].entity_id for k in keys if k in stored]
    pupils_by_id = _pupils_by_id(
        session, school_id=school_id, ids=[i for i in held if i not in found_ids]
    )
    by_upn = _pupils_by_upn(
        session, school_id=school_id, upns=[w.values["upn"] for w in candidates if w.values["upn"]]
    )

    upns_in_batch: set[str] = set()
    linked: set[uuid.UUID] = set()
    for work in candidates:
        key = (work.record.source, work.record.external_id)
        work.mis_record = stored.get(key)
        work.pupil = pupils.get(key)
        if work.mis_record is not None and (
            work.pupil is None or work.pupil.id != work.mis_record.entity_id
        ):
            work.pupil = pupils_by_id.get(work.mis_record.entity_id) or work.pupil
        upn = work.values["upn"]
        if upn:
            own = work.pupil.id if work.pupil is not None else None
            others = [p for p in by_upn.get(upn, []) if p.id != own]
            if work.pupil is None and work.mis_record is None:
                matches = [
                    p
                    for p in others
                    if p.source is None
                    and p.date_of_birth == work.values["date_of_birth"]
                    and p.id not in linked
                ]
                if len(matches) == 1 and len(others) == 1:
                    work.link = matches[0]
                    linked.add(matches[0].id)
                    others = []
            if others or upn in upns_in_batch:
                work.outcome.warnings.append("upn_duplicate")
            upns_in_batch.add(upn)
        _decide_pupil(work)

    _apply_all(session, candidates, school_id=school_id, run=run, now=now)
    if run is not None:
        for key in rejected_keys:
            if key in stored:
                _mark_seen(stored[key], run)
                session.add(stored[key])

    batch = BatchOutcome(run_id=run.id if run else None, results=outcomes)
    _add_counts(run, "pupils", batch)
    events = [
        AuditEntry("mis.pupils_received", "sync_run" if run else None, run.id if run else None)
    ]
    events.extend(
        AuditEntry(action, "pupil", work.pupil_id, work.pupil_id)
        for work in candidates
        for action in work.audit_actions
    )
    _record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return batch


def upsert_pupils(
    session: Session,
    *,
    principal: Principal,
    records: Sequence[Any],
    now: datetime,
    request_id: str | None,
    run_id: uuid.UUID | None = None,
    run_id_loc: Sequence[str] = ("body", "run_id"),
    extra_warnings: Mapping[int, Sequence[str]] | None = None,
) -> BatchOutcome:
    """``sync_pupils`` for the school's MIS service account or admin."""
    require_mis_sync(principal)
    return sync_pupils(
        session,
        actor=principal.actor,
        records=records,
        now=now,
        request_id=request_id,
        run_id=run_id,
        run_id_loc=run_id_loc,
        extra_warnings=extra_warnings,
    )


def _check_left_on(left_on: date | None, now: datetime) -> date:
    today = school_today(now)
    if left_on is None:
        return today
    if left_on > today:
        raise _invalid("left_on: must not be in the future.", ("body", "left_on"))
    return left_on


def mark_pupils_left(
    session: Session,
    *,
    actor: Actor,
    source: str,
    external_ids: Sequence[str],
    now: datetime,
    left_on: date | None = None,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
) -> LeaversOutcome:
    """Mark the school's pupils of ``source`` with these external ids as left on
    ``left_on`` (today by default; never in the future: 422). Never deletes anything; a
    later upsert restores them. Records ``mis.pupil_left`` for each pupil marked."""
    day = _check_left_on(left_on, now)
    _plan_with_values(session)
    run = _open_run_for_batch(session, school_id=actor.school_id, run_id=run_id)
    ids = [external_id.strip() for external_id in external_ids]
    stored = _mis_records(
        session, school_id=actor.school_id, kind=MISKind.pupil, keys=[(source, i) for i in ids]
    )
    pupils = _pupils_by_id(
        session, school_id=actor.school_id, ids=[r.entity_id for r in stored.values()]
    )
    results: list[tuple[str, LeaverResult]] = []
    events: list[AuditEntry] = []
    for external_id in ids:
        mis_record = stored.get((source, external_id))
        pupil = pupils.get(mis_record.entity_id) if mis_record is not None else None
        if pupil is None:
            results.append((external_id, LeaverResult.not_found))
            continue
        if pupil.status == PupilStatus.left.value:
            results.append((external_id, LeaverResult.already_left))
            continue
        pupil.status, pupil.left_on, pupil.updated_at = PupilStatus.left.value, day, now
        session.add(pupil)
        results.append((external_id, LeaverResult.left))
        events.append(AuditEntry("mis.pupil_left", "pupil", pupil.id, pupil.id))
    _record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return LeaversOutcome(results=results)


def pupil_leavers(
    session: Session,
    *,
    principal: Principal,
    source: str,
    external_ids: Sequence[str],
    left_on: date | None,
    now: datetime,
    request_id: str | None,
    run_id: uuid.UUID | None = None,
) -> LeaversOutcome:
    """``mark_pupils_left`` for the school's MIS service account or admin."""
    require_mis_sync(principal)
    return mark_pupils_left(
        session,
        actor=principal.actor,
        source=source,
        external_ids=external_ids,
        left_on=left_on,
        now=now,
        request_id=request_id,
        run_id=run_id,
    )


# --- staff -----------------------------------------------------------------------------------


def _display_name(record: MISStaffRecord) -> str:
    return f"{record.given_name} {record.family_name}"[:DISPLAY_NAME_MAX]


def _active_admins_besides(session: Session, user: User) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(User)
            .where(
                User.school_id == user.school_id,
                User.role == Role.admin.value,
                col(User.active).is_(True),
                User.id != user.id,
            )
        ).one()
    )


def _deactivate(session: Session, user: User, *, now: datetime) -> bool:
    """Deactivate a user and end their tokens at once. False (and nothing done) when they
    are the school's last active admin."""
    if user.role == Role.admin.value and _active_admins_besides(session, user) == 0:
        return False
    user.active = False
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=now)
    return True


def _validate_staff(raw: Any, now: datetime) -> tuple[MISStaffRecord | None, str | None]:
    if not isinstance(raw, Mapping):
        return None, "record: must be a JSON object"
    try:
        record = MISStaffRecord.model_validate(dict(raw))
    except ValidationError as exc:
        return None, _reason(exc)
    return record, _future_timestamp_reason(record, now)


def _staff_hash(record: MISStaffRecord) -> str:
    return _content_hash(
        {
            "email": str(record.email).lower(),
            "given_name": record.given_name,
            "family_name": record.family_name,
            "leaving_date": record.leaving_date,
        }
    )


@dataclass
class _StaffChange:
    user: User
    actions: list[str]


def _sync_one_staff(
    session: Session,
    *,
    record: MISStaffRecord,
    outcome: RecordOutcome,
    stored: MISRecord | None,
    school_id: uuid.UUID,
    run: SyncRun | None,
    now: datetime,
) -> _StaffChange | None:
    """Decide and write one staff record (in the caller's savepoint)."""
    email = str(record.email).lower()
    content_hash = _staff_hash(record)
    leaving = record.leaving_date is not None and record.leaving_date < school_today(now)
    actions: list[str] = []

    if stored is not None:
        user = session.get(User, stored.entity_id)
        if user is None or user.school_id != school_id:
            outcome.reason = "external_id: its account no longer exists"
            return None
        if record.source_updated_at < stored.source_updated_at:
            outcome.result = SyncResult.stale
            _mark_seen(stored, run)
            session.add(stored)
            return None
        if stored.content_hash != content_hash:
            if email != user.email:
                clash = session.exec(select(User.id).where(User.email == email)).first()
                if clash is not None:
                    outcome.reason = "email: belongs to another account"
                    return None
                user.email = email
            user.display_name = _display_name(record)
            user.updated_at = now
            session.add(user)
            actions.append("mis.staff_updated")
        stored.content_hash = content_hash
        stored.source_updated_at = max(stored.source_updated_at, record.source_updated_at)
        stored.updated_at = now
    else:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is not None:
            if user.school_id != school_id:
                outcome.reason = "email: belongs to an account that cannot be linked"
                return None
            claimed = session.exec(
                select(MISRecord.id).where(
                    MISRecord.school_id == school_id,
                    MISRecord.kind == MISKind.staff.value,
                    MISRecord.entity_id == user.id,
                )
            ).first()
            if claimed is not None:
                outcome.reason = "email: its account is linked to another MIS record"
                return None
            user.display_name = _display_name(record)
            user.updated_at = now
            session.add(user)
            outcome.warnings.append("linked_existing_account")
            actions.append("mis.staff_linked")
        else:
            user = User(
                school_id=school_id,
                email=email,
                display_name=_display_name(record),
                role=Role.staff.value,
                password_hash=None,
                created_at=now,
                updated_at=now,
            )
            session.add(user)
            actions.append("mis.staff_created")
        stored = MISRecord(
            school_id=school_id,
            kind=MISKind.staff.value,
            source=record.source,
            external_id=record.external_id,
            entity_id=user.id,
            source_updated_at=record.source_updated_at,
            content_hash=content_hash,
            created_at=now,
            updated_at=now,
        )
    _mark_seen(stored, run)
    session.add(stored)

    if leaving and user.active:
        session.flush()  # the new account must exist before its tokens are revoked
        if _deactivate(session, user, now=now):
            outcome.warnings.append("account_deactivated")
            actions.append("mis.staff_deactivated")
        else:
            outcome.warnings.append("last_admin_not_deactivated")
    elif not user.active and not leaving:
        outcome.warnings.append("account_inactive")

    if "mis.staff_created" in actions:
        outcome.result = SyncResult.created
    elif actions:
        outcome.result = SyncResult.updated
    else:
        outcome.result = SyncResult.unchanged
    return _StaffChange(user=user, actions=actions)


def sync_staff(
    session: Session,
    *,
    actor: Actor,
    records: Sequence[Any],
    now: datetime,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
) -> BatchOutcome:
    """Upsert up to 500 staff accounts of the actor's school, keyed by (source,
    external_id); one result per record, in order (see the module docstring). Records
    ``mis.staff_received`` and one event per change."""
    if len(records) > MAX_BATCH:
        raise _invalid(f"At most {MAX_BATCH} records per batch.", ("body", "records"))
    school_id = actor.school_id
    _plan_with_values(session)
    run = _open_run_for_batch(session, school_id=school_id, run_id=run_id)
    validated: list[tuple[RecordOutcome, MISStaffRecord | None]] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(records):
        outcome = RecordOutcome(
            index=index, external_id=_raw_external_id(raw), result=SyncResult.rejected
        )
        record, reason = _validate_staff(raw, now)
        if record is not None and run is not None and record.source != run.source:
            reason = f"source: this run's records come from {run.source!r}"
        if record is not None and (record.source, record.external_id) in seen:
            reason = "external_id: repeats an earlier record of this batch"
        if record is None or reason is not None:
            outcome.reason = reason
            validated.append((outcome, None))
            continue
        seen.add((record.source, record.external_id))
        outcome.external_id = record.external_id
        validated.append((outcome, record))

    stored = _mis_records(session, school_id=school_id, kind=MISKind.staff, keys=seen)
    changes: list[_StaffChange] = []
    for outcome, record in validated:
        if record is None:
            continue
        try:
            with session.begin_nested():
                change = _sync_one_staff(
                    session,
                    record=record,
                    outcome=outcome,
                    stored=stored.get((record.source, record.external_id)),
                    school_id=school_id,
                    run=run,
                    now=now,
                )
                session.flush()
        except (IntegrityError, DataError) as exc:
            outcome.result, outcome.warnings = SyncResult.rejected, []
            outcome.reason = (
                _CONCURRENT_WRITE if isinstance(exc, IntegrityError) else _REFUSED_VALUE
            )
            continue
        if change is not None:
            changes.append(change)

    outcome_all = BatchOutcome(run_id=run.id if run else None, results=[o for o, _ in validated])
    _add_counts(run, "staff", outcome_all)
    events = [
        AuditEntry("mis.staff_received", "sync_run" if run else None, run.id if run else None)
    ]
    events.extend(
        AuditEntry(action, "user", change.user.id)
        for change in changes
        for action in change.actions
    )
    _record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return outcome_all


def upsert_staff(
    session: Session,
    *,
    principal: Principal,
    records: Sequence[Any],
    now: datetime,
    request_id: str | None,
    run_id: uuid.UUID | None = None,
) -> BatchOutcome:
    """``sync_staff`` for the school's MIS service account or admin."""
    require_mis_sync(principal)
    return sync_staff(
        session,
        actor=principal.actor,
        records=records,
        now=now,
        request_id=request_id,
        run_id=run_id,
    )


def staff_leavers(
    session: Session,
    *,
    principal: Principal,
    source: str,
    external_ids: Sequence[str],
    left_on: date | None,
    now: datetime,
    request_id: str | None,
    run_id: uuid.UUID | None = None,
) -> LeaversOutcome:
    """Deactivate the school's staff accounts that ``source`` knows by these ids, at once:
    their access tokens stop working on the next request and their refresh tokens are
    revoked. ``left_on`` may not be in the future (422). The school's last active admin is
    kept active (``last_admin_kept``) so that no one is left to manage accounts. Records
    ``mis.staff_deactivated``."""
    require_mis_sync(principal)
    _check_left_on(left_on, now)
    _plan_with_values(session)
    run = _open_run_for_batch(session, school_id=principal.school_id, run_id=run_id)
    ids = [external_id.strip() for external_id in external_ids]
    stored = _mis_records(
        session, school_id=principal.school_id, kind=MISKind.staff, keys=[(source, i) for i in ids]
    )
    results: list[tuple[str, LeaverResult]] = []
    events: list[AuditEntry] = []
    for external_id in ids:
        mis_record = stored.get((source, external_id))
        user = session.get(User, mis_record.entity_id) if mis_record is not None else None
        if user is None or user.school_id != principal.school_id:
            results.append((external_id, LeaverResult.not_found))
            continue
        if not user.active:
            results.append((external_id, LeaverResult.already_inactive))
            continue
        if not _deactivate(session, user, now=now):
            results.append((external_id, LeaverResult.last_admin_kept))
            continue
        results.append((external_id, LeaverResult.deactivated))
        events.append(AuditEntry("mis.staff_deactivated", "user", user.id))
    _record_events(
        session, actor=principal.actor, events=events, now=now, request_id=request_id, run=run
    )
    return LeaversOutcome(results=results)


# --- sync runs -------------------------------------------------------------------------------


def open_run(
    session: Session,
    *,
    actor: Actor,
    kind: SyncRunKind,
    source: str,
    now: datetime,
    request_id: str | None = None,
) -> SyncRun:
    """Open a sync run of the actor's school. A full run abandons any earlier open full
    run of the same source (``mis.sync_run_abandoned``). Records ``mis.sync_run_started``."""
    if kind == SyncRunKind.full:
        earlier = session.exec(
            select(SyncRun)
            .where(
                SyncRun.school_id == actor.school_id,
                SyncRun.source == source,
                SyncRun.kind == SyncRunKind.full.value,
                SyncRun.status == SyncRunStatus.open.value,
            )
            .with_for_update()
        ).all()
        for old in earlier:
            old.status = SyncRunStatus.abandoned.value
            old.completed_at = now
            session.add(old)
            _record_event(
                session,
                actor=actor,
                action="mis.sync_run_abandoned",
                now=now,
                request_id=request_id,
                run=old,
                entity_type="sync_run",
                entity_id=old.id,
            )
    run = SyncRun(
        school_id=actor.school_id,
        kind=kind.value,
        source=source,
        status=SyncRunStatus.open.value,
        started_by_type=actor.type,
        started_by_id=actor.id,
        created_at=now,
        counts={},
    )
    session.add(run)
    session.flush()
    _record_event(
        session,
        actor=actor,
        action="mis.sync_run_started",
        now=now,
        request_id=request_id,
        run=run,
        entity_type="sync_run",
        entity_id=run.id,
    )
    return run


def start_run(
    session: Session,
    *,
    principal: Principal,
    kind: SyncRunKind,
    source: str,
    now: datetime,
    request_id: str | None,
) -> SyncRun:
    """``open_run`` for the school's MIS service account or admin."""
    require_mis_sync(principal)
    return open_run(
        session, actor=principal.actor, kind=kind, source=source, now=now, request_id=request_id
    )


def get_run(session: Session, *, principal: Principal, run_id: uuid.UUID) -> SyncRun:
    """A sync run of the caller's school (404 for any other)."""
    require_mis_sync(principal)
    run = session.exec(
        select(SyncRun).where(SyncRun.id == run_id, SyncRun.school_id == principal.school_id)
    ).one_or_none()
    if run is None:
        raise NotFound("There is no sync run with that id.")
    return run


def finish_run(
    session: Session,
    *,
    actor: Actor,
    run_id: uuid.UUID,
    force: bool,
    now: datetime,
    request_id: str | None = None,
) -> SyncRun:
    """Complete a run of the actor's school (404 for any other).

    A full run marks its source's active pupils that none of its batches carried as left
    (today), unless that is more than 10 % of them and ``force`` is not set: then 409
    (``sweep-limit-exceeded``) and nothing changes. A delta run sweeps nothing. Completing
    a completed run again answers it as it is (safe to retry); an abandoned run is a 409.
    Records ``mis.pupil_left`` per pupil and ``mis.sync_run_completed``."""
    _plan_with_values(session)
    run = session.exec(
        select(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.school_id == actor.school_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if run is None:
        raise NotFound("There is no sync run with that id.")
    if run.status == SyncRunStatus.completed.value:
        return run
    if run.status == SyncRunStatus.abandoned.value:
        raise Conflict(
            "This run was abandoned when a newer full run of the same source began; complete "
            "that one instead.",
            slug="sync-run-abandoned",
        )

    active_query = select(Pupil.id).where(
        Pupil.school_id == actor.school_id,
        Pupil.source == run.source,
        Pupil.status == PupilStatus.active.value,
    )
    active = int(session.exec(select(func.count()).select_from(active_query.subquery())).one())
    to_leave: list[uuid.UUID] = []
    forced = False
    if run.kind == SyncRunKind.full.value:
        seen = select(MISRecord.entity_id).where(
            MISRecord.school_id == actor.school_id,
            MISRecord.kind == MISKind.pupil.value,
            MISRecord.last_full_run_id == run.id,
        )
        to_leave = list(
            session.exec(active_query.where(col(Pupil.id).not_in(seen)).order_by(col(Pupil.id)))
        )
        over_limit = len(to_leave) * 100 > active * SWEEP_LIMIT_PERCENT
        if over_limit and not force:
            raise Conflict(
                f"Completing this full run would mark {len(to_leave)} of the {active} active "
                f"pupils from {run.source!r} as left, more than {SWEEP_LIMIT_PERCENT} %. If "
                "the MIS really no longer has them, complete it again with force: true.",
                slug="sweep-limit-exceeded",
                extra={
                    "would_mark_left": len(to_leave),
                    "active": active,
                    "limit_percent": SWEEP_LIMIT_PERCENT,
                },
            )
        today = school_today(now)
        for start in range(0, len(to_leave), _IDS_PER_STATEMENT):
            session.execute(
                update(Pupil)
                .where(col(Pupil.id).in_(to_leave[start : start + _IDS_PER_STATEMENT]))
                .values(status=PupilStatus.left.value, left_on=today, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        forced = over_limit
    run.status = SyncRunStatus.completed.value
    run.completed_at = now
    run.forced = forced
    run.sweep = {
        "active_before": active,
        "marked_left": len(to_leave),
        "pupil_ids": [str(pupil_id) for pupil_id in to_leave],
    }
    session.add(run)
    events = [AuditEntry("mis.pupil_left", "pupil", pupil_id, pupil_id) for pupil_id in to_leave]
    events.append(AuditEntry("mis.sync_run_completed", "sync_run", run.id))
    _record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return run


def complete_run(
    session: Session,
    *,
    principal: Principal,
    run_id: uuid.UUID,
    force: bool,
    now: datetime,
    request_id: str | None,
) -> SyncRun:
    """``finish_run`` for the school's MIS service account or admin."""
    require_mis_sync(principal)
    return finish_run(
        session, actor=principal.actor, run_id=run_id, force=force, now=now, request_id=request_id
    )
