"""Sync runs: a walk through one source's roster (``full``) or a group of batches
(``delta``), opened, fed batches, and completed.

``complete_run`` of a full run marks the run source's active pupils that no batch of the
run carried (stale and rejected records count as carried) as left, refusing (409) when
that is more than 10 % of them unless forced. A newer full run of the same source
abandons an older open one, so a crashed walk can never be completed after a newer one
began. Staff are never swept: a broken page walk must not lock people out.

Each operation comes twice: ``start_run`` / ``complete_run`` for a request (the caller's
role is checked by ``services.access``), and ``start_run_as`` / ``complete_run_as`` for an
actor already trusted (the file import's system actor).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from core.errors import Conflict, NotFound
from models.mis import MISKind, MISRecord, SyncRun, SyncRunKind, SyncRunStatus
from models.pupil import Pupil, PupilStatus
from services import audit
from services.access import require_mis_sync
from services.audit import Actor, AuditEntry
from services.context import RequestContext
from services.mis.outcomes import BatchOutcome
from services.mis.records import plan_with_values, record_events
from services.mis.validation import invalid
from services.school_calendar import school_date

# A full run may mark at most this share of its source's active pupils as left unless forced.
SWEEP_LIMIT_PERCENT = 10
# Bound parameters per IN (...) list: well inside every driver's limit.
_IDS_PER_STATEMENT = 1000


def open_run_for_batch(
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
        raise invalid("run_id must name an open sync run of your school.", loc)
    return run


def add_counts(run: SyncRun | None, kind: str, outcome: BatchOutcome) -> None:
    """Add a batch's counts to its run's (``kind`` is ``pupils`` or ``staff``)."""
    if run is None:
        return
    counts = {k: dict(v) for k, v in (run.counts or {}).items()}
    totals = counts.setdefault(kind, {})
    for result, number in outcome.counts.items():
        totals[result] = totals.get(result, 0) + number
    run.counts = counts  # a new object, so the JSON column is written


def start_run_as(
    session: Session,
    actor: Actor,
    *,
    kind: SyncRunKind,
    source: str,
    now: datetime,
    request_id: str | None = None,
) -> SyncRun:
    """Open a sync run of the actor's school, for an actor already trusted. A full run
    abandons any earlier open full run of the same source (``mis.sync_run_abandoned``).
    Records ``mis.sync_run_started``."""
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
            audit.record(
                session,
                actor=actor,
                action="mis.sync_run_abandoned",
                now=now,
                entity_type="sync_run",
                entity_id=old.id,
                request_id=request_id,
                run_id=old.id,
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
    audit.record(
        session,
        actor=actor,
        action="mis.sync_run_started",
        now=now,
        entity_type="sync_run",
        entity_id=run.id,
        request_id=request_id,
        run_id=run.id,
    )
    return run


def start_run(
    session: Session, context: RequestContext, *, kind: SyncRunKind, source: str
) -> SyncRun:
    """``start_run_as`` for the school's MIS service account or admin (403 otherwise)."""
    require_mis_sync(context.principal)
    return start_run_as(
        session,
        context.actor,
        kind=kind,
        source=source,
        now=context.now,
        request_id=context.request_id,
    )


def get_run(session: Session, context: RequestContext, *, run_id: uuid.UUID) -> SyncRun:
    """A sync run of the caller's school (404 for any other), for the school's MIS service
    account or admin (403 otherwise). Records nothing: a run holds counts and pupil ids."""
    require_mis_sync(context.principal)
    run = session.exec(
        select(SyncRun).where(
            SyncRun.id == run_id, SyncRun.school_id == context.principal.school_id
        )
    ).one_or_none()
    if run is None:
        raise NotFound("There is no sync run with that id.")
    return run


def complete_run_as(
    session: Session,
    actor: Actor,
    *,
    run_id: uuid.UUID,
    force: bool,
    now: datetime,
    request_id: str | None = None,
) -> SyncRun:
    """Complete a run of the actor's school (404 for any other), for an actor already
    trusted.

    A full run marks its source's active pupils that none of its batches carried as left
    (today), unless that is more than 10 % of them and ``force`` is not set: then 409
    (``sweep-limit-exceeded``) and nothing changes. A delta run sweeps nothing. Completing
    a completed run again answers it as it is (safe to retry); an abandoned run is a 409.
    Records ``mis.pupil_left`` per pupil and ``mis.sync_run_completed``."""
    plan_with_values(session)
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
        today = school_date(now)
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
    record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return run


def complete_run(
    session: Session, context: RequestContext, *, run_id: uuid.UUID, force: bool
) -> SyncRun:
    """``complete_run_as`` for the school's MIS service account or admin (403 otherwise)."""
    require_mis_sync(context.principal)
    return complete_run_as(
        session,
        context.actor,
        run_id=run_id,
        force=force,
        now=context.now,
        request_id=context.request_id,
    )
