"""Which concerns a list shows: filters, text search, sort order and the cursor.

Text search: see ``models.concern``. PostgreSQL matches ``websearch_to_tsquery('english',
q)`` (stemmed words, "quoted phrases", ``or``, ``-word``) against the description and
each addendum's text; SQLite matches every word of ``q`` as the start of a word of the
same texts, ignoring case and accents.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, literal_column, or_
from sqlalchemy import union as sql_union
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from core.errors import InvalidInput
from models.category import CATEGORY_IDS, ConcernCategory
from models.concern import (
    SEARCH_TERM_MAX,
    TSVECTOR_ADDENDUM_TEXT,
    TSVECTOR_DESCRIPTION,
    Addendum,
    Concern,
    ConcernIndicator,
    ConcernPupil,
    ConcernSearchTerm,
    ConcernSort,
    search_terms,
)
from models.pupil import Pupil, name_words
from models.triage import ConcernTriage, RiskLevel, TriageStatus
from services import access
from services.concerns.links import concern_is_about
from services.concerns.statements import CONCERN_ROWS, INSERT_SEARCH_TERMS
from services.pagination import decode_cursor, invalid_cursor
from services.principal import Principal

MAX_SEARCH_WORDS = 10
# Sorts a list may ask for: a field, descending with a leading "-".
SORTS = tuple(sort.value for sort in ConcernSort)
DEFAULT_SORT = ConcernSort.recorded_desc.value
# Above every other code point: "term >= w AND term < w || MAX_CHAR" is "starts with w".
_MAX_CHAR = "\U0010ffff"


@dataclass(frozen=True)
class ConcernFilters:
    """``GET /concerns`` filters; every one given must match (a tuple: any of its values).

    ``risk_levels`` and ``assigned_to`` are the DSLs' own assessment: staff may not
    filter on them (403), so a filter can never tell them what the DSL decided."""

    pupil_id: uuid.UUID | None = None
    indicators: tuple[str, ...] = ()
    statuses: tuple[TriageStatus, ...] = ()
    observed_from: datetime | None = None  # inclusive
    observed_to: datetime | None = None  # exclusive
    recorded_by: uuid.UUID | None = None
    text: str | None = None
    immediate_danger: bool | None = None
    risk_levels: tuple[RiskLevel, ...] = ()
    assigned_to: uuid.UUID | None = None
    year_group: str | None = None
    categories: tuple[str, ...] = ()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def index_text(
    session: Session, *, school_id: uuid.UUID, concern_id: uuid.UUID, text_: str
) -> None:
    """Add the words of ``text_`` to SQLite's search index for the concern (PostgreSQL
    indexes the columns themselves)."""
    if _dialect(session) != "sqlite":
        return
    rows = [
        {"school_id": school_id, "term": term, "concern_id": concern_id}
        for term in sorted(search_terms(text_))
    ]
    if rows:
        INSERT_SEARCH_TERMS.insert_many(session, rows)


def _ts_query(text_: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column("'english'::regconfig"), text_)


def _text_condition(session: Session, principal: Principal, text_: str) -> ColumnElement[bool]:
    if _dialect(session) == "postgresql":
        query = _ts_query(text_)
        in_description = select(Concern.id).where(
            col(Concern.school_id) == principal.school_id,
            literal_column(TSVECTOR_DESCRIPTION).bool_op("@@")(query),
        )
        in_addenda = select(Addendum.concern_id).where(
            col(Addendum.school_id) == principal.school_id,
            literal_column(TSVECTOR_ADDENDUM_TEXT).bool_op("@@")(query),
        )
        return col(Concern.id).in_(sql_union(in_description, in_addenda))
    words = [word[:SEARCH_TERM_MAX] for word in name_words(text_)][:MAX_SEARCH_WORDS]
    if not words:
        return false()
    return and_(
        *(
            col(Concern.id).in_(
                select(ConcernSearchTerm.concern_id).where(
                    col(ConcernSearchTerm.school_id) == principal.school_id,
                    col(ConcernSearchTerm.term) >= word,
                    col(ConcernSearchTerm.term) < word + _MAX_CHAR,
                )
            )
            for word in words
        )
    )


def _filter_conditions(
    session: Session, principal: Principal, filters: ConcernFilters
) -> list[ColumnElement[bool]]:
    access.require_assessment_filter(
        principal, filtered=bool(filters.risk_levels) or filters.assigned_to is not None
    )
    school = principal.school_id
    statuses = [status.value for status in filters.statuses]
    conditions: list[ColumnElement[bool]] = []
    if filters.pupil_id is not None:
        # A concern marked entered in error follows its mark (``links``).
        conditions.append(concern_is_about(col(Concern.id), school, filters.pupil_id))
    if filters.indicators:
        # The period is repeated on concern_indicator (which copies observed_at) so that
        # "these signs, in this period" is one range scan of its index; written as IN, not
        # EXISTS, so that SQLite drives the query from that (short) scan instead of testing
        # each of the school's concerns in the period (docs/adr/0039).
        shown = [
            col(ConcernIndicator.school_id) == school,
            col(ConcernIndicator.indicator_id).in_(filters.indicators),
        ]
        if filters.observed_from is not None:
            shown.append(col(ConcernIndicator.observed_at) >= filters.observed_from)
        if filters.observed_to is not None:
            shown.append(col(ConcernIndicator.observed_at) < filters.observed_to)
        with_signs = select(ConcernIndicator.concern_id)
        if filters.statuses:
            # The status is checked here too, from the triage index by concern and status,
            # so that only the concerns still in it (a few of those with the signs) have
            # their own row read (migration 07, docs/adr/0039).
            # (An alias of its own: never correlated with the outer query's triage row.)
            triage = aliased(ConcernTriage, name="triage_of_sign")
            with_signs = with_signs.join(
                triage, col(triage.concern_id) == col(ConcernIndicator.concern_id)
            )
            shown.append(col(triage.status).in_(statuses))
        conditions.append(col(Concern.id).in_(with_signs.where(*shown)))
    if filters.categories:
        conditions.append(_category_condition(school, filters))
    if filters.statuses:
        conditions.append(col(ConcernTriage.status).in_(statuses))
    if filters.observed_from is not None:
        conditions.append(col(Concern.observed_at) >= filters.observed_from)
    if filters.observed_to is not None:
        conditions.append(col(Concern.observed_at) < filters.observed_to)
    if filters.recorded_by is not None:
        conditions.append(col(Concern.recorded_by) == filters.recorded_by)
    if filters.text:
        conditions.append(_text_condition(session, principal, filters.text))
    if filters.immediate_danger is not None:
        conditions.append(col(Concern.immediate_danger) == filters.immediate_danger)
    if filters.risk_levels:
        conditions.append(col(ConcernTriage.risk_level).in_([r.value for r in filters.risk_levels]))
    if filters.assigned_to is not None:
        conditions.append(col(ConcernTriage.assigned_to) == filters.assigned_to)
    if filters.year_group is not None:
        # The year group the pupil is in now (the school's MIS keeps no history of it).
        in_year = select(Pupil.id).where(
            col(Pupil.school_id) == school, col(Pupil.year_group) == filters.year_group
        )
        conditions.append(
            exists().where(
                col(ConcernPupil.concern_id) == Concern.id,
                col(ConcernPupil.school_id) == school,
                col(ConcernPupil.pupil_id).in_(in_year),
            )
        )
    return conditions


def _category_condition(school: uuid.UUID, filters: ConcernFilters) -> ColumnElement[bool]:
    """Concerns of any of the categories: as for signs, from ``concern_category``'s index
    by school, category and period (a 422 naming the valid ids for an unknown one)."""
    unknown = [(i, c) for i, c in enumerate(filters.categories) if c not in CATEGORY_IDS]
    if unknown:
        detail = (
            f"Unknown category {', '.join(repr(c) for _, c in unknown)}. "
            f"Valid categories: {', '.join(CATEGORY_IDS)}."
        )
        raise InvalidInput(
            detail,
            extra={
                "errors": [
                    {"loc": ["query", "category", i], "msg": detail, "type": "unknown_category"}
                    for i, _ in unknown
                ],
                "valid_categories": list(CATEGORY_IDS),
            },
        )
    of_kind = [
        col(ConcernCategory.school_id) == school,
        col(ConcernCategory.category_id).in_(filters.categories),
    ]
    if filters.observed_from is not None:
        of_kind.append(col(ConcernCategory.observed_at) >= filters.observed_from)
    if filters.observed_to is not None:
        of_kind.append(col(ConcernCategory.observed_at) < filters.observed_to)
    return col(Concern.id).in_(select(ConcernCategory.concern_id).where(*of_kind))


def _sort_column(sort: str) -> Any:
    return (
        col(Concern.observed_at) if sort.lstrip("-") == "observed_at" else col(Concern.recorded_at)
    )


def _after(cursor: str, sort: str) -> ColumnElement[bool]:
    """Rows after the cursor's position, in ``sort`` order. A cursor remembers the sort it
    was made with; one made with another sort is refused (422) rather than misread."""
    position = decode_cursor(cursor, fields=("sort", "at", "id"))
    if position["sort"] != sort:
        raise invalid_cursor()
    try:
        at = datetime.fromisoformat(str(position["at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if at.tzinfo is None:
        raise invalid_cursor()
    key = _sort_column(sort)
    if sort.startswith("-"):
        return or_(key < at, and_(key == at, col(Concern.id) < after_id))
    return or_(key > at, and_(key == at, col(Concern.id) > after_id))


def concern_query(
    session: Session,
    *,
    principal: Principal,
    filters: ConcernFilters,
    sort: str = DEFAULT_SORT,
    cursor: str | None = None,
    limit: int,
) -> Any:
    """The statement ``list_concerns`` runs for one page (one row more than ``limit``, to
    tell whether another page follows). Public so that its plan can be tested."""
    if sort not in SORTS:
        raise InvalidInput(
            f"sort must be one of {', '.join(SORTS)}.", loc=("sort",), error_type="value_error"
        )
    conditions = access.concern_scope(principal) + _filter_conditions(session, principal, filters)
    if cursor is not None:
        conditions.append(_after(cursor, sort))
    key = _sort_column(sort)
    order = (
        (key.desc(), col(Concern.id).desc())
        if sort.startswith("-")
        else (key.asc(), col(Concern.id).asc())
    )
    return CONCERN_ROWS.where(*conditions).order_by(*order).limit(limit + 1)
