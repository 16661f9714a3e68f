"""Pupils from the MIS: batch upserts and leavers.

- A new MIS pupil whose UPN and date of birth match exactly one pupil entered by hand (no
  source) is linked to that pupil instead of duplicating them (``linked_existing_pupil``),
  so concerns already logged stay on the child's file. Another pupil with the same UPN is
  only a warning (``upn_duplicate``).
- A pupil marked as left (by the leavers call, a sweep or by hand) who arrives in a later
  upsert that is not stale is active again (``pupil_restored``): the MIS says they are on
  roll.
- Leavers are never deleted: they are marked as left, and a later upsert restores them.

How each record is judged and what it records: see ``services.mis``; how a value is
checked: ``services.mis.validation``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from models.mis import LeaverResult, MISKind, SyncResult
from models.pupil import Pupil, PupilStatus
from services.access import require_mis_sync
from services.audit import Actor, AuditEntry
from services.context import RequestContext
from services.mis.outcomes import BatchOutcome, LeaversOutcome, RecordOutcome
from services.mis.pupil_writes import PupilWork, write_pupils
from services.mis.records import (
    content_hash,
    mark_seen,
    mis_records,
    plan_with_values,
    record_events,
)
from services.mis.runs import add_counts, open_run_for_batch
from services.mis.validation import (
    check_batch_size,
    check_left_on,
    raw_external_id,
    raw_key,
    validate_pupil,
)

_PUPIL_VALUE_FIELDS = (
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "upn",
    "year_group",
    "registration_group",
)


def _pupil_values(pupil: Pupil) -> dict[str, Any]:
    return {name: getattr(pupil, name) for name in _PUPIL_VALUE_FIELDS}


def _decide_pupil(work: PupilWork) -> None:
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


def upsert_pupils_as(
    session: Session,
    actor: Actor,
    *,
    records: Sequence[Any],
    now: datetime,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
    run_id_loc: Sequence[str] = ("body", "run_id"),
    extra_warnings: Mapping[int, Sequence[str]] | None = None,
) -> BatchOutcome:
    """Upsert up to 500 pupils of the actor's school, keyed by (source, external_id), in
    the caller's transaction, for an actor already trusted; one result per record, in
    order (see ``services.mis``).

    Reads what it needs in a handful of queries whatever the batch size. ``run_id`` must
    name an open run of the school (422 otherwise, at ``run_id_loc``) and every record must
    come from its source. Records ``mis.pupils_received`` and one event per change."""
    check_batch_size(records)
    school_id = actor.school_id
    plan_with_values(session)
    run = open_run_for_batch(session, school_id=school_id, run_id=run_id, loc=run_id_loc)

    outcomes: list[RecordOutcome] = []
    candidates: list[PupilWork] = []
    seen_keys: set[tuple[str, str]] = set()
    rejected_keys: list[tuple[str, str]] = []
    for index, raw in enumerate(records):
        outcome = RecordOutcome(
            index=index, external_id=raw_external_id(raw), result=SyncResult.rejected
        )
        outcome.warnings.extend((extra_warnings or {}).get(index, ()))
        outcomes.append(outcome)
        record, values, warnings, reason = validate_pupil(raw, now)
        outcome.warnings.extend(warnings)
        key = (record.source, record.external_id) if record else raw_key(raw)
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
            PupilWork(
                outcome=outcome,
                record=record,
                values=values,
                content_hash=content_hash(values),
                mis_record=None,
                pupil=None,
            )
        )

    keys = [(w.record.source, w.record.external_id) for w in candidates]
    stored = mis_records(
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

    write_pupils(session, candidates, school_id=school_id, run=run, now=now)
    if run is not None:
        for key in rejected_keys:
            if key in stored:
                mark_seen(stored[key], run)
                session.add(stored[key])

    batch = BatchOutcome(run_id=run.id if run else None, results=outcomes)
    add_counts(run, "pupils", batch)
    events = [
        AuditEntry("mis.pupils_received", "sync_run" if run else None, run.id if run else None)
    ]
    events.extend(
        AuditEntry(action, "pupil", work.pupil_id, work.pupil_id)
        for work in candidates
        for action in work.audit_actions
    )
    record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return batch


def upsert_pupils(
    session: Session,
    context: RequestContext,
    *,
    records: Sequence[Any],
    run_id: uuid.UUID | None = None,
    run_id_loc: Sequence[str] = ("body", "run_id"),
    extra_warnings: Mapping[int, Sequence[str]] | None = None,
) -> BatchOutcome:
    """``upsert_pupils_as`` for the school's MIS service account or admin (403 otherwise)."""
    require_mis_sync(context.principal)
    return upsert_pupils_as(
        session,
        context.actor,
        records=records,
        now=context.now,
        request_id=context.request_id,
        run_id=run_id,
        run_id_loc=run_id_loc,
        extra_warnings=extra_warnings,
    )


def mark_pupils_left_as(
    session: Session,
    actor: Actor,
    *,
    source: str,
    external_ids: Sequence[str],
    now: datetime,
    left_on: date | None = None,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
) -> LeaversOutcome:
    """Mark the school's pupils of ``source`` with these external ids as left on
    ``left_on`` (today by default; never in the future: 422), for an actor already
    trusted. Never deletes anything; a later upsert restores them. Records
    ``mis.pupil_left`` for each pupil marked."""
    day = check_left_on(left_on, now)
    plan_with_values(session)
    run = open_run_for_batch(session, school_id=actor.school_id, run_id=run_id)
    ids = [external_id.strip() for external_id in external_ids]
    stored = mis_records(
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
    record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return LeaversOutcome(results=results)


def mark_pupils_left(
    session: Session,
    context: RequestContext,
    *,
    source: str,
    external_ids: Sequence[str],
    left_on: date | None,
    run_id: uuid.UUID | None = None,
) -> LeaversOutcome:
    """``mark_pupils_left_as`` for the school's MIS service account or admin (403
    otherwise)."""
    require_mis_sync(context.principal)
    return mark_pupils_left_as(
        session,
        context.actor,
        source=source,
        external_ids=external_ids,
        left_on=left_on,
        now=context.now,
        request_id=context.request_id,
        run_id=run_id,
    )
