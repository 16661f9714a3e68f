"""Triage of a concern by a DSL: status, risk level, assignee, each change with a reason."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import DSLConcernContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from db.unit_of_work import UnitOfWork
from models.concern import ConcernPublic
from models.triage import TriageChange
from routers._shaping import IfMatch
from services import triage

router = APIRouter(prefix="/concerns", tags=["triage"])

TRIAGE_DESCRIPTION = """\
DSLs and deputy DSLs. Send only what changes, always with a `reason`; each changed field
is recorded as its own triage event (who, when, from, to, why) and shows in the pupil's
chronology. The concern itself is never edited. Answers the concern as it now is, with
its new `ETag`.

**Status moves** (anything else is a 409 `invalid-transition`, naming the allowed moves):

| from | to |
|---|---|
| `new` | `acknowledged`, `in_progress`, `no_further_action` |
| `acknowledged` | `in_progress`, `closed`, `no_further_action` |
| `in_progress` | `closed`, `no_further_action` |
| `closed`, `no_further_action` | `in_progress` (reopened on new information) |

Nothing goes back to `new`, and closing needs the concern to have been acknowledged.

`risk_level` is one of `low`, `medium`, `high`, `critical`; `assigned_to` must be an
active DSL or deputy DSL of the school (else 422), `null` to unassign. A request that
changes nothing is a 422.

**Concurrency**: `If-Match` with the ETag from `GET /concerns/{id}` is required (428
without it); if another DSL changed the triage since, the answer is 412 and nothing is
written. The update is a compare-and-set on the version, so of two DSLs racing exactly
one wins.
"""


@router.post(
    "/{concern_id}/triage",
    summary="Triage a concern",
    description=TRIAGE_DESCRIPTION,
    response_model=ConcernPublic,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def triage_concern(
    concern_id: uuid.UUID,
    body: TriageChange,
    context: DSLConcernContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    def triaged(session: UnitOfWork) -> Answer:
        changed = triage.triage_concern(
            session, context, concern_id=concern_id, change=body, if_match=if_match
        )
        return Answer(200, changed.concern, {"ETag": changed.etag})

    return await once.run(uow, context, body, triaged)
