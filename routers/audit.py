"""The audit log: who did what to which record, for the school's DSLs and admin."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditReaderContext, Timestamp, UnitOfWorkDep
from api.errors import problem_responses
from models.audit import AUDIT_EVENT_EXAMPLE, AuditEventPublic, AuditVerification
from models.user import StorableText
from services import audit, pagination

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventPage(BaseModel):
    """A page of audit events, newest first. Pass ``next_cursor`` back as ``cursor`` for
    the next page; it is null on the last one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [AUDIT_EVENT_EXAMPLE], "next_cursor": "eyJzZXEiOjQyfQ"}]
        }
    )

    items: list[AuditEventPublic]
    next_cursor: str | None = Field(description="Opaque; null when there are no more events")


_VERIFICATION_EXAMPLES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "examples": {
                    "intact": {
                        "summary": "The chain is intact",
                        "value": {"ok": True, "events_checked": 1204, "first_bad_seq": None},
                    },
                    "broken": {
                        "summary": "Event 317 was altered or removed",
                        "value": {"ok": False, "events_checked": 317, "first_bad_seq": 317},
                    },
                }
            }
        }
    }
}


@router.get(
    "",
    summary="Read the school's audit log, newest first",
    description=(
        "Every event of the caller's school, newest first, optionally filtered; each filter "
        "narrows the result. `from` is inclusive, `to` exclusive (both RFC 3339 with an "
        "offset). Audit rows hold ids and fixed action names only, never concern text or "
        "names. Reading the log is itself recorded (`audit.read`)."
    ),
    response_model=AuditEventPage,
    responses=problem_responses(401, 403, 422),
)
async def list_audit_events(
    context: AuditReaderContext,
    uow: UnitOfWorkDep,
    actor_id: Annotated[
        uuid.UUID | None, Query(description="Events by this user or service account")
    ] = None,
    action: Annotated[
        StorableText | None,
        Query(max_length=64, description="e.g. `concern.read`", examples=["concern.read"]),
    ] = None,
    entity_type: Annotated[
        StorableText | None,
        Query(max_length=40, description="e.g. `concern`", examples=["concern"]),
    ] = None,
    entity_id: Annotated[uuid.UUID | None, Query(description="Events about this record")] = None,
    pupil_id: Annotated[uuid.UUID | None, Query(description="Events involving this pupil")] = None,
    occurred_from: Annotated[
        Timestamp | None, Query(alias="from", description="Events at or after this time")
    ] = None,
    occurred_to: Annotated[
        Timestamp | None, Query(alias="to", description="Events before this time")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=pagination.MAX_LIMIT, description="Page size (at most 200)")
    ] = pagination.DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> AuditEventPage:
    page = await uow.run(
        lambda session: audit.list_events(
            session,
            context,
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            pupil_id=pupil_id,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            limit=limit,
            cursor=cursor,
        )
    )
    return AuditEventPage(
        items=page.items,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/verify",
    summary="Check that the school's audit chain is intact",
    description=(
        "Walks the school's hash chain from the first event: every event must follow the "
        "previous one without a gap in sequence numbers, link to its hash and hash to what "
        "it stores. `first_bad_seq` is the first sequence number that fails (for a removed "
        "event, the number that is missing). The check is recorded (`audit.verify`)."
    ),
    response_model=AuditVerification,
    responses={**_VERIFICATION_EXAMPLES, **problem_responses(401, 403)},
)
async def verify_audit_chain(context: AuditReaderContext, uow: UnitOfWorkDep) -> AuditVerification:
    # The walk hashes every event of the school's chain: off the event loop.
    return await uow.run(lambda session: audit.check_chain(session, context), cpu_bound=True)
