"""Setting a task on a case (the one place a task is created and given to someone), and
completing one."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound
from models.case import Case, CaseStatus
from models.task import CaseTask, TaskComplete, TaskCreate, TaskPublic, TaskStatus
from models.user import Role, User
from services import access, alerts, audit
from services.concerns import people_by_id
from services.context import RequestContext
from services.school_calendar import school_date
from services.tasks.shaping import shape_tasks


def _record(session: Session, context: RequestContext, *, action: str, task: CaseTask) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="task",
        entity_id=task.id,
        pupil_id=task.pupil_id,
        request_id=context.request_id,
    )


def _open_case(session: Session, context: RequestContext, case_id: uuid.UUID) -> Case:
    """The case of the caller's school (404 otherwise), open (409 otherwise)."""
    case = session.exec(
        select(Case).where(
            col(Case.id) == case_id, col(Case.school_id) == context.principal.school_id
        )
    ).one_or_none()
    if case is None:
        raise NotFound("There is no case with that id.")
    if case.status != CaseStatus.open:
        raise Conflict(
            "The case is closed. Reopen it (POST /cases/{id}/reopen, with a reason) before "
            "setting it a task.",
            slug="case-closed",
        )
    return case


def _assignee(session: Session, context: RequestContext, user_id: uuid.UUID) -> User:
    """A member of staff of the caller's school who may be given a task: 404 for someone
    of another school (or nobody), as for any record that is not the school's; 422 for
    an account that is not active or cannot read its tasks (an admin)."""
    user = session.exec(
        select(User).where(
            col(User.id) == user_id, col(User.school_id) == context.principal.school_id
        )
    ).one_or_none()
    if user is None:
        raise NotFound("There is no member of staff of your school with that id (assigned_to).")
    if not user.active:
        raise InvalidInput(
            "assigned_to is not an active member of staff: their account is deactivated.",
            loc=("assigned_to",),
            error_type="inactive_user",
        )
    if Role(user.role) not in access.TASK_ASSIGNEES:
        raise InvalidInput(
            "assigned_to must be a member of staff, a DSL or a deputy DSL: an admin's "
            "account never reads case work.",
            loc=("assigned_to",),
            error_type="not_a_task_assignee",
        )
    return user


def set_task(
    session: Session, context: RequestContext, *, case_id: uuid.UUID, task: TaskCreate
) -> TaskPublic:
    """Set a task on an open case of the school for a member of staff, due by a date: the
    one place a task is created and given to someone.

    DSLs and deputy DSLs. 404 for a case of another school (or none) and for an assignee
    who is not of the school; 409 for a closed case; 422 for an assignee whose account is
    deactivated or is an admin's, and for a due date before today (in England). Does not
    change the case (no ``If-Match``): a task is a row of its own. Records ``task.create``
    with the case's pupil."""
    access.require_dsl(context.principal)
    case = _open_case(session, context, case_id)
    assignee = _assignee(session, context, task.assigned_to)
    today = school_date(context.now)
    if task.due_on < today:
        raise InvalidInput(
            f"due_on is in the past: it must be today ({today.isoformat()}) or later.",
            loc=("due_on",),
            error_type="date_in_past",
        )
    record = CaseTask(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        title=task.title,
        assigned_to=assignee.id,
        due_on=task.due_on,
        status=TaskStatus.open.value,
        set_by=context.principal.id,
        set_by_name=_my_name(session, context),
        set_at=context.now,
    )
    session.add(record)
    session.flush()
    _record(session, context, action="task.create", task=record)
    # The assignee is told that a task is theirs: ids and the due date, never the title.
    alerts.emit(
        session,
        school_id=record.school_id,
        event_type=alerts.TASK_ASSIGNED,
        data={
            "task_id": record.id,
            "case_id": record.case_id,
            "assigned_to": record.assigned_to,
            "due_on": record.due_on,
        },
        now=context.now,
    )
    (public,) = shape_tasks(session, context, [record])
    return public


def _my_name(session: Session, context: RequestContext) -> str:
    """The caller's display name as it is now, which the task row keeps (docs/adr/0056)."""
    principal = context.principal
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    return me.display_name


def _task_for(
    session: Session, context: RequestContext, task_id: uuid.UUID, *, for_update: bool
) -> CaseTask:
    """The task, when the caller may see it (its assignee, or the DSL desk); 404 for any
    other, as if it did not exist; 403 for a role that never reads tasks."""
    principal = context.principal
    access.require_task_reader(principal)
    query = select(CaseTask).where(
        col(CaseTask.id) == task_id, col(CaseTask.school_id) == principal.school_id
    )
    task = session.exec(query.with_for_update() if for_update else query).one_or_none()
    if task is None or not access.may_see_task(
        principal, school_id=task.school_id, assigned_to=task.assigned_to
    ):
        raise NotFound("There is no task with that id.")
    return task


def get_task(session: Session, context: RequestContext, *, task_id: uuid.UUID) -> TaskPublic:
    """One task as its reader may see it (its assignee: title, due date and status; the
    DSL desk: with its case and pupil). 404 for anyone else. Records ``task.read`` with
    the case's pupil."""
    task = _task_for(session, context, task_id, for_update=False)
    _record(session, context, action="task.read", task=task)
    (public,) = shape_tasks(session, context, [task])
    return public


def complete_task(
    session: Session, context: RequestContext, *, task_id: uuid.UUID, completion: TaskComplete
) -> TaskPublic:
    """Complete a task with a note: its assignee, or a DSL or deputy DSL of its school
    (404 for anyone else, as if it did not exist; 403 for a role that never reads tasks).
    409 when it is completed already. Records ``task.complete`` with the case's pupil."""
    principal = context.principal
    task = _task_for(session, context, task_id, for_update=True)
    if task.status == TaskStatus.completed:
        raise Conflict("The task is completed already.", slug="task-completed")
    task.status = TaskStatus.completed.value
    task.completed_by = principal.id
    task.completed_by_name = _my_name(session, context)
    task.completed_at = context.now
    task.note = completion.note
    session.add(task)
    session.flush()
    _record(session, context, action="task.complete", task=task)
    (public,) = shape_tasks(session, context, [task])
    return public
