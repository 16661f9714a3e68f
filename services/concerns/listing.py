"""Lists of concerns: a page of ``GET /concerns``, and a given set (a case's)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from models.concern import ConcernPublic
from services import access, audit
from services.concerns.search import DEFAULT_SORT, ConcernFilters, concern_query
from services.concerns.shaping import shape_rows
from services.concerns.statements import CONCERN_ROWS, CONCERNS
from services.context import RequestContext
from services.pagination import encode_cursor


@dataclass(frozen=True)
class ConcernListPage:
    items: list[ConcernPublic]
    next_cursor: str | None


def list_concerns(
    session: Session,
    context: RequestContext,
    *,
    filters: ConcernFilters,
    limit: int,
    sort: str = DEFAULT_SORT,
    cursor: str | None = None,
) -> ConcernListPage:
    """The concerns the caller may see that match ``filters``, in ``sort`` order (newest
    recorded first by default), a page at a time. Pages are keyset-based on the sort key
    and id, and a cursor carries the sort it was made with, so concerns recorded while
    paging never shift or repeat a later page.

    DSLs and deputy DSLs: the whole school's; staff: their own only (and never filtered
    by risk level or assignee: 403); admins and MIS accounts: 403. Records
    ``concern.list``: one event for the page, with the children on it (ADR 0126)."""
    statement = concern_query(
        session,
        principal=context.principal,
        filters=filters,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    # Core rows on the session's connection, in its transaction: the ORM's execute path
    # adds nothing for a statement that loads no ORM objects.
    found = session.connection().execute(statement).all()
    page = found[:limit]
    items = shape_rows(session, context, page)
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        at = last.observed_at if sort.lstrip("-") == "observed_at" else last.recorded_at
        next_cursor = encode_cursor({"sort": sort, "at": at.isoformat(), "id": str(last.id)})
    seen = sorted({pupil_id for item in items for pupil_id in item.pupil_ids})
    audit.record_page(
        session,
        actor=context.actor,
        action="concern.list",
        now=context.now,
        request_id=context.request_id,
        entity_type="concern",
        entity_id=None,
        pupil_ids=seen,  # an empty page: one event, about no child
    )
    return ConcernListPage(items=items, next_cursor=next_cursor)


def shape_concerns_by_id(
    session: Session, context: RequestContext, *, concern_ids: Sequence[uuid.UUID]
) -> list[ConcernPublic]:
    """The concerns of ``concern_ids`` that the caller may see, shaped as the API shows
    them, in the order given (403 for a role that sees no concerns). Records nothing: the
    caller records its own read."""
    if not concern_ids:
        return []
    found = {
        row.id: row
        for row in session.execute(
            CONCERN_ROWS.where(
                CONCERNS.c.id.in_(concern_ids), *access.concern_scope(context.principal)
            )
        )
    }
    rows = [found[concern_id] for concern_id in concern_ids if concern_id in found]
    return shape_rows(session, context, rows)
