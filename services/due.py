"""What is due: the one place that decides which tasks and which case reviews have come
due in a school on a day. The inbox lists them; the alerts ("task due", "review due") are
raised from the same answers, so the two can never disagree.

A day is a calendar day in England (``services.school_calendar``); the caller gives it,
from its clock (``core.clock``): a request's ``now``, or a worker's. Both answers come
from an index (``ix_case_task_school_id_status_due_on``, the partial
``ix_safeguarding_case_school_id_review_on_open``), soonest due first, bounded by
``limit``. Neither records anything: whoever shows or sends them records its own audit.
The worker raises ``task.due`` and ``review.due`` from the same conditions
(``task_is_due``, ``review_is_due``; ``services.alerts.scheduling.raise_due``), once per
task and due date, once per case and review date; and ``transfer.overdue`` once per
transfer not received by its ``due_by`` (``transfer_is_overdue``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, or_, text
from sqlmodel import Session, col, select

from models.case import OPEN_ONLY, Case
from models.task import CaseTask, TaskStatus
from models.transfer import PupilTransfer
from services.school_calendar import school_date

# The inbox's bound on each of its lists (the rest are a page of GET /tasks or GET /cases
# away); a worker raising alerts walks them a bounded batch at a time in the same way.
DUE_LIMIT = 50


def due_day(now: datetime) -> date:
    """The day whose due work is due at ``now``: today in England."""
    return school_date(now)


def task_is_due(on: date) -> ColumnElement[bool]:
    """The condition a ``case_task`` row meets when it is due on ``on``: open, due on or
    before that day. The inbox and the ``task.due`` alerts both ask it."""
    return and_(col(CaseTask.status) == TaskStatus.open.value, col(CaseTask.due_on) <= on)


def review_is_due(on: date) -> ColumnElement[bool]:
    """The condition a ``safeguarding_case`` row meets when its review is due on ``on``:
    open, its review date on or before that day. The inbox and ``review.due`` ask it."""
    # Spelt as the partial index's condition, so that both databases use it.
    return and_(text(f"safeguarding_case.{OPEN_ONLY}"), col(Case.review_on) <= on)


def tasks_due(
    session: Session, *, school_id: uuid.UUID, on: date, limit: int = DUE_LIMIT
) -> list[CaseTask]:
    """Open tasks of the school due on or before ``on``, soonest due first (then the
    oldest set), at most ``limit``."""
    return list(
        session.exec(
            select(CaseTask)
            .where(col(CaseTask.school_id) == school_id, task_is_due(on))
            .order_by(col(CaseTask.due_on), col(CaseTask.id))
            .limit(limit)
        )
    )


def reviews_due(
    session: Session, *, school_id: uuid.UUID, on: date, limit: int = DUE_LIMIT
) -> list[Case]:
    """Open cases of the school whose review date is on or before ``on``, soonest first
    (then the oldest opened), at most ``limit``."""
    return list(
        session.exec(
            select(Case)
            .where(col(Case.school_id) == school_id, review_is_due(on))
            .order_by(col(Case.review_on), col(Case.id))
            .limit(limit)
        )
    )


def transfer_is_overdue(on: date) -> ColumnElement[bool]:
    """The condition a ``pupil_transfer`` row meets when it is overdue on ``on``: not
    received, its ``due_by`` (the last of its 5 school days) before that day. The status
    shown (``overdue``), the inbox and ``transfer.overdue`` all ask it."""
    return and_(col(PupilTransfer.received_at).is_(None), col(PupilTransfer.due_by) < on)


def transfers_due(
    session: Session, *, school_id: uuid.UUID, on: date, limit: int = DUE_LIMIT
) -> list[PupilTransfer]:
    """What the school's DSL desk must do about transfers on ``on``: files sent to it (on
    this service, or imported) still to be received, and files it sent that are overdue;
    soonest due first, at most ``limit``."""
    incoming = and_(
        col(PupilTransfer.to_school_id) == school_id, col(PupilTransfer.received_at).is_(None)
    )
    overdue = and_(col(PupilTransfer.from_school_id) == school_id, transfer_is_overdue(on))
    return list(
        session.exec(
            select(PupilTransfer)
            .where(or_(incoming, overdue))
            .order_by(col(PupilTransfer.due_by), col(PupilTransfer.id))
            .limit(limit)
        )
    )
