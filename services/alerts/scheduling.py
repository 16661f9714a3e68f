"""What alerts a concern raises when it is logged, and what the worker raises on a
schedule: reminders of an urgent concern nobody has triaged, the daily digest of
concerns still ``new``, tasks and reviews come due (``raise_due``) and transfers overdue
(``raise_overdue_transfers``). Times come from
the caller (a request's ``now``, the worker's clock), never from the wall clock here.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from db.prepared import Prepared
from models.alert import ESCALATE_MINUTES_RANGE, AlertDigest, AlertDueNotice, AlertEscalation
from models.case import Case
from models.school import School
from models.task import CaseTask
from models.transfer import PupilTransfer
from models.triage import ConcernTriage, TriageStatus
from services.alerts.events import (
    CONCERN_CREATED,
    CONCERN_URGENT,
    CONCERNS_UNACKNOWLEDGED,
    REVIEW_DUE,
    TASK_DUE,
    TRANSFER_OVERDUE,
    emit,
    event_row,
    insert_events,
)
from services.alerts.settings import settings_of
from services.due import due_day, review_is_due, task_is_due, transfer_is_overdue
from services.school_calendar import SCHOOL_ZONE

ESCALATIONS: sa.Table = AlertEscalation.__table__  # type: ignore[attr-defined]
DIGESTS: sa.Table = AlertDigest.__table__  # type: ignore[attr-defined]
TRIAGE: sa.Table = ConcernTriage.__table__  # type: ignore[attr-defined]
SCHOOLS: sa.Table = School.__table__  # type: ignore[attr-defined]
NOTICES: sa.Table = AlertDueNotice.__table__  # type: ignore[attr-defined]
TASKS: sa.Table = CaseTask.__table__  # type: ignore[attr-defined]
CASES: sa.Table = Case.__table__  # type: ignore[attr-defined]
TRANSFERS: sa.Table = PupilTransfer.__table__  # type: ignore[attr-defined]

# Escalations looked at per pass, and the most concern ids a digest event lists.
ESCALATION_BATCH = 200
# Tasks (and reviews) come due raised per statement; a pass raises them all.
DUE_BATCH = 200
DIGEST_IDS = 100

_INSERT_ESCALATION = Prepared(sa.insert(ESCALATIONS))
# The soonest any school's first reminder can be due.
_FIRST_LOOK = timedelta(minutes=ESCALATE_MINUTES_RANGE[0])


def concern_logged(
    session: Session,
    *,
    school_id: uuid.UUID,
    concern_id: uuid.UUID,
    recorded_at: datetime,
    urgent: bool,
) -> None:
    """The alerts of a concern just logged, in its transaction (inside the caller's
    ``sent_together``: no round trip of their own on PostgreSQL): ``concern.created``;
    for an immediate-danger concern also ``concern.urgent`` (emailed at once) and its
    escalation, so it is chased until a DSL triages it."""
    rows = [
        event_row(
            school_id=school_id,
            event_type=CONCERN_CREATED,
            data={"concern_id": concern_id, "urgent": urgent, "recorded_at": recorded_at},
            now=recorded_at,
        )
    ]
    if urgent:
        rows.append(
            event_row(
                school_id=school_id,
                event_type=CONCERN_URGENT,
                data={"concern_id": concern_id, "recorded_at": recorded_at, "reminder": 0},
                now=recorded_at,
            )
        )
    insert_events(session, rows)
    if urgent:
        _INSERT_ESCALATION.run(
            session,
            {
                "concern_id": concern_id,
                "school_id": school_id,
                "next_at": recorded_at + _FIRST_LOOK,
                "last_sent_at": recorded_at,
                "reminders": 0,
            },
        )


_DUE_ESCALATIONS = (
    sa.select(
        ESCALATIONS.c.concern_id,
        ESCALATIONS.c.school_id,
        ESCALATIONS.c.last_sent_at,
        ESCALATIONS.c.reminders,
        TRIAGE.c.status,
        TRIAGE.c.recorded_at,
    )
    .join_from(ESCALATIONS, TRIAGE, TRIAGE.c.concern_id == ESCALATIONS.c.concern_id)
    .where(ESCALATIONS.c.next_at <= sa.bindparam("now"))
    .order_by(ESCALATIONS.c.next_at)
    .limit(ESCALATION_BATCH)
)


def escalate(session: Session, *, now: datetime) -> int:
    """Chase urgent concerns still ``new``: each whose school's ``escalate_after_minutes``
    have passed since every DSL and deputy was last told is raised again
    (``concern.urgent`` with the next ``reminder``); one a DSL has triaged is chased no
    more. Returns how many reminders were raised."""
    connection = session.connection()
    due = connection.execute(_DUE_ESCALATIONS, {"now": now}).all()
    if not due:
        return 0
    minutes = settings_of(session, {row.school_id for row in due})
    raised = 0
    for row in due:
        key = ESCALATIONS.c.concern_id == row.concern_id
        if row.status != TriageStatus.new.value:
            connection.execute(sa.delete(ESCALATIONS).where(key))
            continue
        interval = timedelta(minutes=minutes[row.school_id].escalate_after_minutes)
        reminder_at = row.last_sent_at + interval
        if reminder_at > now:
            connection.execute(sa.update(ESCALATIONS).where(key).values(next_at=reminder_at))
            continue
        emit(
            session,
            school_id=row.school_id,
            event_type=CONCERN_URGENT,
            data={
                "concern_id": row.concern_id,
                "recorded_at": row.recorded_at,
                "reminder": row.reminders + 1,
            },
            now=now,
        )
        connection.execute(
            sa.update(ESCALATIONS)
            .where(key)
            .values(next_at=now + interval, last_sent_at=now, reminders=row.reminders + 1)
        )
        raised += 1
    return raised


def digest_due_since(now: datetime, digest_hour: int) -> datetime | None:
    """When today's digest became due (``digest_hour`` o'clock, UK time), or None before."""
    local = now.astimezone(SCHOOL_ZONE)
    if local.hour < digest_hour:
        return None
    return local.replace(hour=digest_hour, minute=0, second=0, microsecond=0)


def digests(session: Session, *, now: datetime, digest_hour: int) -> int:
    """Each school's daily digest, once a day from ``digest_hour`` (UK time): the
    concerns still ``new`` more than the school's ``unacknowledged_after_hours`` after
    they were logged, as one ``concerns.unacknowledged`` event (none when there are
    none). Returns how many digests were raised."""
    if digest_due_since(now, digest_hour) is None:
        return 0
    today = now.astimezone(SCHOOL_ZONE).date()
    connection = session.connection()
    considered = sa.select(DIGESTS.c.school_id).where(DIGESTS.c.digest_on == today)
    schools = connection.execute(
        sa.select(SCHOOLS.c.id).where(SCHOOLS.c.id.not_in(considered)).order_by(SCHOOLS.c.id)
    ).scalars()
    school_ids = list(schools)
    if not school_ids:
        return 0
    hours = settings_of(session, school_ids)
    raised = 0
    digest_rows: list[dict[str, Any]] = []
    for school_id in school_ids:
        older_than = hours[school_id].unacknowledged_after_hours
        waiting = (
            TRIAGE.c.school_id == school_id,
            TRIAGE.c.status == TriageStatus.new.value,
            TRIAGE.c.recorded_at <= now - timedelta(hours=older_than),
        )
        count, oldest = connection.execute(
            sa.select(sa.func.count(), sa.func.min(TRIAGE.c.recorded_at)).where(*waiting)
        ).one()
        event_id = None
        if count:
            concern_ids = connection.execute(
                sa.select(TRIAGE.c.concern_id)
                .where(*waiting)
                .order_by(TRIAGE.c.recorded_at, TRIAGE.c.concern_id)
                .limit(DIGEST_IDS)
            ).scalars()
            event_id = emit(
                session,
                school_id=school_id,
                event_type=CONCERNS_UNACKNOWLEDGED,
                data={
                    "count": count,
                    "concern_ids": list(concern_ids),
                    "oldest_recorded_at": oldest,
                    "older_than_hours": older_than,
                },
                now=now,
            )
            raised += 1
        digest_rows.append(
            {"school_id": school_id, "digest_on": today, "event_id": event_id, "considered_at": now}
        )
    connection.execute(sa.insert(DIGESTS), digest_rows)
    return raised


def _not_noticed(
    kind: str, subject: sa.ColumnElement[uuid.UUID], on: sa.ColumnElement[date]
) -> sa.ColumnElement[bool]:
    """No notice yet of ``subject`` for the date ``on``."""
    return ~sa.exists().where(
        NOTICES.c.kind == kind, NOTICES.c.subject_id == subject, NOTICES.c.due_on == on
    )


def raise_due(session: Session, *, now: datetime) -> int:
    """Tasks and case reviews come due (``services.due``: the inbox's own conditions) on
    today's date in England, each raised once for its date: ``task.due`` to the task's
    assignee, ``review.due`` to the DSL desk (ids and dates only, never a title). A date
    moved later is a new date, raised when it comes. Returns how many were raised."""
    today = due_day(now)
    connection = session.connection()
    raised = 0
    tasks = (
        sa.select(
            TASKS.c.id, TASKS.c.school_id, TASKS.c.case_id, TASKS.c.assigned_to, TASKS.c.due_on
        )
        .where(task_is_due(today), _not_noticed("task", TASKS.c.id, TASKS.c.due_on))
        .order_by(TASKS.c.due_on, TASKS.c.id)
        .limit(DUE_BATCH)
    )
    reviews = (
        sa.select(CASES.c.id, CASES.c.school_id, CASES.c.review_on)
        .where(review_is_due(today), _not_noticed("review", CASES.c.id, CASES.c.review_on))
        .order_by(CASES.c.review_on, CASES.c.id)
        .limit(DUE_BATCH)
    )
    while True:
        notices: list[dict[str, Any]] = []
        for task in connection.execute(tasks).all():
            data = {
                "task_id": task.id,
                "case_id": task.case_id,
                "assigned_to": task.assigned_to,
                "due_on": task.due_on,
            }
            event_id = emit(
                session, school_id=task.school_id, event_type=TASK_DUE, data=data, now=now
            )
            notices.append(_notice("task", task.id, task.due_on, task.school_id, event_id, now))
        for case in connection.execute(reviews).all():
            data = {"case_id": case.id, "review_on": case.review_on}
            event_id = emit(
                session, school_id=case.school_id, event_type=REVIEW_DUE, data=data, now=now
            )
            notices.append(
                _notice("review", case.id, case.review_on, case.school_id, event_id, now)
            )
        if not notices:
            return raised
        connection.execute(sa.insert(NOTICES), notices)
        raised += len(notices)


def _notice(
    kind: str,
    subject_id: uuid.UUID,
    on: date,
    school_id: uuid.UUID,
    event_id: uuid.UUID,
    now: datetime,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject_id": subject_id,
        "due_on": on,
        "school_id": school_id,
        "event_id": event_id,
        "raised_at": now,
    }


def raise_overdue_transfers(session: Session, *, now: datetime) -> int:
    """Files sent by a school of this service and not received by their ``due_by``
    (``services.due.transfer_is_overdue``, today in England): ``transfer.overdue`` to the
    sending school's DSL desk, once per transfer (the event's id is kept on the transfer;
    its due date never moves). Ids and the date only. Returns how many were raised."""
    today = due_day(now)
    connection = session.connection()
    overdue = (
        sa.select(TRANSFERS.c.id, TRANSFERS.c.from_school_id, TRANSFERS.c.due_by)
        .where(
            transfer_is_overdue(today),
            TRANSFERS.c.from_school_id.is_not(None),
            TRANSFERS.c.overdue_event_id.is_(None),
        )
        .order_by(TRANSFERS.c.due_by, TRANSFERS.c.id)
        .limit(DUE_BATCH)
    )
    raised = 0
    while True:
        found = connection.execute(overdue).all()
        if not found:
            return raised
        for transfer in found:
            event_id = emit(
                session,
                school_id=transfer.from_school_id,
                event_type=TRANSFER_OVERDUE,
                data={"transfer_id": transfer.id, "due_by": transfer.due_by},
                now=now,
            )
            connection.execute(
                sa.update(TRANSFERS)
                .where(TRANSFERS.c.id == transfer.id)
                .values(overdue_event_id=event_id)
            )
        raised += len(found)
