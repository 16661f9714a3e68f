"""Reports for the school's DSLs: counts only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import DSLContext, Timestamp, UnitOfWorkDep
from api.errors import problem_responses
from models.report import (
    CategoryGrouping,
    CategoryReport,
    IndicatorGrouping,
    IndicatorReport,
    SummaryReport,
)
from services import reports

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/indicators",
    summary="Concerns by indicator, month or year group",
    description=(
        "DSLs and deputy DSLs. Concerns observed in the period (`from` inclusive, `to` "
        "exclusive, both optional), grouped by `indicator`, `month` (calendar months in "
        "UTC, `YYYY-MM`) or `year_group` (the pupils' year group now). Each group gives "
        "its number of concerns (each concern once) and, per indicator, the concerns that "
        "show it: a concern with three indicators counts once under each."
    ),
    response_model=IndicatorReport,
    responses=problem_responses(401, 403, 422),
)
async def indicator_report(
    context: DSLContext,
    uow: UnitOfWorkDep,
    observed_from: Annotated[Timestamp | None, Query(alias="from")] = None,
    observed_to: Annotated[Timestamp | None, Query(alias="to")] = None,
    group_by: IndicatorGrouping = IndicatorGrouping.indicator,
) -> IndicatorReport:
    return await uow.run(
        lambda session: reports.indicator_report(
            session,
            context,
            group_by=group_by,
            observed_from=observed_from,
            observed_to=observed_to,
        )
    )


@router.get(
    "/categories",
    summary="Concerns by category, month or year group",
    description=(
        "DSLs and deputy DSLs. Concerns observed in the period (`from` inclusive, `to` "
        "exclusive, both optional), grouped by `category` (with its name as `label`), "
        "`month` (calendar months in UTC, `YYYY-MM`) or `year_group` (the pupils' year "
        "group now). Each group gives its number of concerns (each concern once) and, per "
        "category id (`GET /categories`), the concerns recorded under it: a concern under "
        "two categories counts once under each."
    ),
    response_model=CategoryReport,
    responses=problem_responses(401, 403, 422),
)
async def category_report(
    context: DSLContext,
    uow: UnitOfWorkDep,
    observed_from: Annotated[Timestamp | None, Query(alias="from")] = None,
    observed_to: Annotated[Timestamp | None, Query(alias="to")] = None,
    group_by: CategoryGrouping = CategoryGrouping.category,
) -> CategoryReport:
    return await uow.run(
        lambda session: reports.category_report(
            session,
            context,
            group_by=group_by,
            observed_from=observed_from,
            observed_to=observed_to,
        )
    )


@router.get(
    "/summary",
    summary="Where the school's safeguarding work stands",
    description=(
        "DSLs and deputy DSLs. Open cases by level; concerns by triage status; concerns "
        "still `new` more than 24 hours after they were recorded; and concerns observed "
        "this calendar month against last (months in UTC)."
    ),
    response_model=SummaryReport,
    responses=problem_responses(401, 403),
)
async def summary_report(context: DSLContext, uow: UnitOfWorkDep) -> SummaryReport:
    return await uow.run(lambda session: reports.summary_report(session, context))
