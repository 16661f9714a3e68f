"""The categories a concern is recorded under: public, like the guidance."""

from __future__ import annotations

from fastapi import APIRouter, Response

from models.category import Category
from routers.guidance import CACHING, IfNoneMatch, cached_answer
from services.categories import CATEGORIES_REPRESENTATION

router = APIRouter(prefix="/categories", tags=["categories"])


@router.get(
    "",
    summary="The categories of concern",
    description=(
        "The categories of abuse and neglect and the specific safeguarding issues a school "
        "records a concern under, each with a stable kebab-case `id` (it never changes "
        "meaning once published), a short `name` to show and its `group`: "
        "`abuse-and-neglect`, `specific-issue` or `other`. A concern takes 1 to 5 of the "
        "ids (`categories`); `GET /concerns?category=` and `GET /reports/categories` use "
        "them too."
    ),
    response_model=list[Category],
    responses=CACHING,
)
async def list_categories(if_none_match: IfNoneMatch = None) -> Response:
    return cached_answer(if_none_match, CATEGORIES_REPRESENTATION)
