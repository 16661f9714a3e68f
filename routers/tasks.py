"""Tasks: what a member of staff has been given to do, and its completion."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import StaffOrDSLContext, UnitOfWorkDep
from api.errors import problem_responses
from models.task import TaskComplete, TaskPage, TaskPublic, TaskStatus
from services import tasks
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get(
    "",
    summary="List tasks",
    description=(
        "A member of staff: the tasks given to them (their title, due date and status; "
        "never the case, its pupil or the completion note), and a 403 for `assigned_to` "
        "someone else. DSLs and deputy DSLs: every task of the school, with its case and "
        "pupil, filtered by `assigned_to` when given. `status`: `open` or `completed`. "
        "Soonest due first; keyset pages."
    ),
    response_model=TaskPage,
    responses=problem_responses(401, 403, 422),
)
async def list_tasks(
    context: StaffOrDSLContext,
    uow: UnitOfWorkDep,
    assigned_to: uuid.UUID | None = None,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> TaskPage:
    page = await uow.run(
        lambda session: tasks.list_tasks(
            session, context, assigned_to=assigned_to, status=status, limit=limit, cursor=cursor
        )
    )
    return TaskPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/{task_id}",
    summary="Read a task",
    description=(
        "Its assignee (title, due date and status; never the case), or a DSL or deputy DSL "
        "of the school (with its case and pupil); anyone else gets a 404, as if it did not "
        "exist. Reading it is recorded in the audit log."
    ),
    response_model=TaskPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_task(
    task_id: uuid.UUID, context: StaffOrDSLContext, uow: UnitOfWorkDep
) -> TaskPublic:
    return await uow.run(lambda session: tasks.get_task(session, context, task_id=task_id))


@router.post(
    "/{task_id}/complete",
    summary="Complete a task, with a note",
    description=(
        "Its assignee, or a DSL or deputy DSL of the school; anyone else gets a 404, as if "
        "it did not exist. A task completed already is a 409. Answers the task as it now is."
    ),
    response_model=TaskPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def complete_task(
    task_id: uuid.UUID, body: TaskComplete, context: StaffOrDSLContext, uow: UnitOfWorkDep
) -> TaskPublic:
    return await uow.run(
        lambda session: tasks.complete_task(session, context, task_id=task_id, completion=body)
    )
