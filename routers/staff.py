"""The school's staff, for the DSL desk to give work to."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from models.user import StaffList
from services import staff

router = APIRouter(prefix="/staff", tags=["staff"])


@router.get(
    "",
    summary="The school's staff",
    description=(
        "Every person's account of the school (never a service account), by display name, "
        "with its role and whether it is active: whom to give a task (an active `staff`, "
        "`dsl` or `deputy_dsl`) or a case (an active `dsl` or `deputy_dsl`). `active` "
        "filters. One list, no pages: a school's staff is a few hundred at most."
    ),
    response_model=StaffList,
    responses=problem_responses(401, 403, 422),
)
async def list_staff(
    context: DSLContext, uow: UnitOfWorkDep, active: bool | None = None
) -> StaffList:
    found = await uow.run(lambda session: staff.list_staff(session, context, active=active))
    return StaffList(items=found)
