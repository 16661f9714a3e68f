"""A task as its reader may see it: the DSL desk sees its case, pupil and completion
note; its assignee sees the task alone (title, due date, status)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from models.task import CaseTask, TaskPublic, TaskStatus
from services import access, pupils
from services.context import RequestContext


def shape_tasks(
    session: Session, context: RequestContext, tasks: Sequence[CaseTask]
) -> list[TaskPublic]:
    """``tasks`` as the caller may see them (``access.sees_task_case``), the pupils named
    in one query whatever their number. Records nothing: the caller records its read."""
    principal = context.principal
    desk = access.sees_task_case(principal)
    names = (
        pupils.names_by_id(session, principal.school_id, (task.pupil_id for task in tasks))
        if desk and access.sees_pupil_names(principal)
        else {}
    )
    return [
        TaskPublic(
            id=task.id,
            case_id=task.case_id if desk else None,
            title=task.title,
            assigned_to=task.assigned_to,
            due_on=task.due_on,
            status=TaskStatus(task.status),
            set_at=task.set_at,
            completed_at=task.completed_at,
            note=task.note if desk else None,
            pupils=[names[task.pupil_id]] if task.pupil_id in names else None,
        )
        for task in tasks
    ]


def tasks_of_case(
    session: Session, context: RequestContext, case_id: uuid.UUID
) -> list[TaskPublic]:
    """A case's tasks, oldest set first, for the case's own representation (the DSL desk
    only: the case's reader). Records nothing: the case read records itself."""
    access.require_dsl(context.principal)
    found = session.exec(
        select(CaseTask)
        .where(
            col(CaseTask.case_id) == case_id,
            col(CaseTask.school_id) == context.principal.school_id,
        )
        .order_by(col(CaseTask.set_at), col(CaseTask.id))
    ).all()
    return shape_tasks(session, context, found)
