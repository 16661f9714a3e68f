"""A referral without an outcome in time: the school's setting, and the worker's sweep that
raises, once, a task for the case's owner.

The sweep runs in the worker's pass (``services.alerts.worker``), before tasks come due
are raised: the task it sets is due today, so the same pass raises its ``task.due`` alert
to the owner (ids and dates only). Once per referral: the task's id is written on the
referral in the same transaction, and only a referral without one is looked at. A
referral on a closed case raises none. Times come from the caller (the worker's clock).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from models.base import new_id
from models.case import Case, CaseStatus
from models.referral import (
    AGENCY_NAMES,
    DEFAULT_OUTCOME_DAYS,
    Referral,
    ReferralAgency,
    ReferralOutcome,
    ReferralSettings,
    ReferralSettingsBody,
    ReferralSettingsPublic,
)
from models.task import CaseTask, TaskStatus
from services import access, audit
from services.actor import Actor
from services.context import RequestContext
from services.school_calendar import school_date

_REFERRALS: sa.Table = Referral.__table__  # type: ignore[attr-defined]
_OUTCOMES: sa.Table = ReferralOutcome.__table__  # type: ignore[attr-defined]
_SETTINGS: sa.Table = ReferralSettings.__table__  # type: ignore[attr-defined]
_CASES: sa.Table = Case.__table__  # type: ignore[attr-defined]
_TASKS: sa.Table = CaseTask.__table__  # type: ignore[attr-defined]

# Referrals chased per statement; a pass chases them all.
BATCH = 200
# Who set the task, as the task row keeps it (docs/adr/0101).
SET_BY_NAME = "concernlog (referral without an outcome)"


def outcome_days(session: Session) -> dict[uuid.UUID, int]:
    """Every school that changed its setting, with its days (the rest have the default)."""
    rows = session.connection().execute(
        sa.select(_SETTINGS.c.school_id, _SETTINGS.c.outcome_due_days)
    )
    return {school_id: days for school_id, days in rows}


def get_referral_settings(session: Session, context: RequestContext) -> ReferralSettingsPublic:
    """The caller's school's referral settings. DSLs and deputy DSLs."""
    access.require_profile_reader(context.principal)
    row = session.get(ReferralSettings, context.principal.school_id)
    return ReferralSettingsPublic(
        outcome_due_days=row.outcome_due_days if row else DEFAULT_OUTCOME_DAYS
    )


def put_referral_settings(
    session: Session, context: RequestContext, *, body: ReferralSettingsBody
) -> ReferralSettingsPublic:
    """Replace the caller's school's referral settings. DSLs and deputy DSLs; the next
    sweep uses them. Audits ``referral_settings.update``."""
    principal = context.principal
    access.require_profile_reader(principal)
    row = session.get(ReferralSettings, principal.school_id)
    if row is None:
        row = ReferralSettings(school_id=principal.school_id, updated_at=context.now)
    row.outcome_due_days = body.outcome_due_days
    row.updated_at = context.now
    row.updated_by = principal.id
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=context.actor,
        action="referral_settings.update",
        now=context.now,
        entity_type="referral_settings",
        entity_id=principal.school_id,
        request_id=context.request_id,
    )
    return ReferralSettingsPublic(outcome_due_days=row.outcome_due_days)


def _waiting(cutoff: datetime) -> Any:
    """Referrals made at or before ``cutoff`` on an open case, with no outcome and no task
    raised yet, oldest made first, a batch at a time."""
    return (
        sa.select(
            _REFERRALS.c.id,
            _REFERRALS.c.school_id,
            _REFERRALS.c.case_id,
            _REFERRALS.c.pupil_id,
            _REFERRALS.c.agency,
            _REFERRALS.c.reference,
            _REFERRALS.c.made_at,
            _REFERRALS.c.recorded_by,
            sa.func.coalesce(_CASES.c.assigned_to, _CASES.c.opened_by).label("owner"),
        )
        .join_from(_REFERRALS, _CASES, _CASES.c.id == _REFERRALS.c.case_id)
        .where(
            _REFERRALS.c.outcome_task_id.is_(None),
            _REFERRALS.c.made_at <= cutoff,
            _CASES.c.status == CaseStatus.open.value,
            ~sa.exists().where(_OUTCOMES.c.referral_id == _REFERRALS.c.id),
        )
        .order_by(_REFERRALS.c.made_at, _REFERRALS.c.id)
        .limit(BATCH)
    )


def task_title(agency: str, made_on: str, reference: str | None) -> str:
    """What the task asks (never the child's name: the title is the task's whole text)."""
    to = AGENCY_NAMES[ReferralAgency(agency)]
    ref = f" (reference {reference})" if reference else ""
    return f"Record the outcome of the referral to {to} made on {made_on}{ref}, or chase it."


def raise_overdue(session: Session, *, now: datetime) -> int:
    """Set, once, a task due today for the owner of each open case (whoever it is given
    to, else whoever opened it) with a referral still without an outcome its school's
    ``outcome_due_days`` after it was made. Audits ``task.create`` (the system acting).
    Returns how many tasks were set."""
    custom = outcome_days(session)
    today = school_date(now)
    connection = session.connection()
    default_cutoff = now - timedelta(days=DEFAULT_OUTCOME_DAYS)
    scopes: list[tuple[datetime, sa.ColumnElement[bool]]] = [
        (default_cutoff, _REFERRALS.c.school_id.not_in(list(custom)) if custom else sa.true())
    ]
    scopes += [
        (now - timedelta(days=days), _REFERRALS.c.school_id == school_id)
        for school_id, days in custom.items()
    ]
    raised = 0
    for cutoff, scope in scopes:
        while True:
            rows = connection.execute(_waiting(cutoff).where(scope)).all()
            for row in rows:
                raised += _set_task(session, row, today=today, now=now)
            if len(rows) < BATCH:
                break
    return raised


def _set_task(session: Session, row: Any, *, today: date, now: datetime) -> int:
    connection = session.connection()
    task_id = new_id()
    connection.execute(
        sa.insert(_TASKS).values(
            id=task_id,
            case_id=row.case_id,
            school_id=row.school_id,
            pupil_id=row.pupil_id,
            title=task_title(row.agency, school_date(row.made_at).isoformat(), row.reference),
            assigned_to=row.owner,
            due_on=today,
            status=TaskStatus.open.value,
            set_by=row.recorded_by,
            set_by_name=SET_BY_NAME,
            set_at=now,
        )
    )
    claimed = connection.execute(
        sa.update(_REFERRALS)
        .where(_REFERRALS.c.id == row.id, _REFERRALS.c.outcome_task_id.is_(None))
        .values(outcome_task_id=task_id)
    )
    if claimed.rowcount != 1:  # pragma: no cover - the publisher lock makes one sweeper
        raise RuntimeError("a referral's outcome task was raised twice")
    audit.record(
        session,
        actor=Actor(type="system", id=None, role=None, school_id=row.school_id),
        action="task.create",
        now=now,
        entity_type="task",
        entity_id=task_id,
        pupil_id=row.pupil_id,
    )
    return 1
