"""The DSL's inbox: what needs the DSL desk now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from models.inbox import Inbox
from services import inbox
from services.due import DUE_LIMIT
from services.pagination import MAX_LIMIT

router = APIRouter(prefix="/desk", tags=["desk"])


@router.get(
    "/inbox",
    summary="The DSL's inbox",
    description=(
        "Concerns in immediate danger still `new` (`urgent`), then the other `new` concerns "
        "(`new`), both oldest recorded first and shaped as the items of `GET /concerns`; "
        "open tasks due today or earlier (`tasks_due`) and open cases whose review date has "
        "come (`reviews_due`), by the school's calendar (England); files sent to the school "
        "still to be received and files it sent that are overdue (`transfers_due`); open "
        "pattern flags (`flags`, oldest first, shaped as the items of `GET /flags`: each a "
        "prompt for a human to read some concerns together, never a finding). Each"
        " list holds at most `limit` items (default 50, "
        "at most 200): the rest are a filtered `GET /concerns`, `GET /tasks` or "
        "`GET /cases` away. Reading it is recorded in the audit log."
    ),
    response_model=Inbox,
    responses=problem_responses(401, 403, 422),
)
async def get_inbox(
    context: DSLContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DUE_LIMIT,
) -> Inbox:
    return await uow.run(lambda session: inbox.get_inbox(session, context, limit=limit))
