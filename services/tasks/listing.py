"""Listing tasks: a member of staff's own, or the school's for the DSL desk; soonest due
first, keyset pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from models.task import CaseTask, TaskPublic, TaskStatus
from services import access, audit
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.tasks.shaping import shape_tasks


@dataclass(frozen=True)
class TaskListPage:
    items: list[TaskPublic]
    next_cursor: str | None


def _after(cursor: str) -> ColumnElement[bool]:
    position = decode_cursor(cursor, fields=("due_on", "id"))
    try:
        due_on = date.fromisoformat(str(position["due_on"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    return or_(
        col(CaseTask.due_on) > due_on,
        and_(col(CaseTask.due_on) == due_on, col(CaseTask.id) > after_id),
    )


def list_tasks(
    session: Session,
    context: RequestContext,
    *,
    assigned_to: uuid.UUID | None,
    status: TaskStatus | None,
    limit: int,
    cursor: str | None = None,
) -> TaskListPage:
    """Tasks the caller may see, soonest due first (then oldest set), a page at a time
    (keyset on ``due_on`` and id).

    Staff, DSLs and deputy DSLs. A member of staff lists the tasks given to them (a 403
    for ``assigned_to`` someone else); the DSL desk every task of the school, filtered by
    ``assigned_to`` when given. ``status`` filters for all. Records ``task.list``: one event
    for the page, with the children on it (ADR 0126)."""
    principal = context.principal
    whose = access.task_scope(principal, assigned_to)
    conditions: list[ColumnElement[bool]] = [col(CaseTask.school_id) == principal.school_id]
    if whose is not None:
        conditions.append(col(CaseTask.assigned_to) == whose)
    if status is not None:
        conditions.append(col(CaseTask.status) == status.value)
    if cursor is not None:
        conditions.append(_after(cursor))
    found = list(
        session.exec(
            select(CaseTask)
            .where(*conditions)
            .order_by(col(CaseTask.due_on), col(CaseTask.id))
            .limit(limit + 1)
        )
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"due_on": last.due_on.isoformat(), "id": str(last.id)})
    pupil_ids: list[uuid.UUID | None] = [*sorted({task.pupil_id for task in page})]
    audit.record_page(
        session,
        actor=context.actor,
        action="task.list",
        now=context.now,
        request_id=context.request_id,
        entity_type="task",
        entity_id=None,
        pupil_ids=pupil_ids,
    )
    return TaskListPage(items=shape_tasks(session, context, page), next_cursor=next_cursor)
