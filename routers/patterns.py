"""Pattern flags and the school's pattern rules (the DSL desk's). Flags are raised by the
worker, never by a request (``services.patterns``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from models.pattern import (
    PROMPT_NOTE,
    FlagAcknowledge,
    FlagPage,
    FlagPublic,
    FlagStatus,
    PatternSettingsBody,
    PatternSettingsPublic,
)
from services import patterns
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(tags=["patterns"])

RULES = """\
The rules, over a rolling window of `window_days` (default 90) by when concerns were
observed, each of which can be switched off:

- `distinct-signs`: `min_indicators` (default 3) or more distinct indicators noticed by
  `min_staff` (default 2) or more members of staff about one pupil;
- `high-weight`: any indicator the school marks as high-weight (none by default);
- `rising`: `min_concerns` (default 3) or more concerns about one pupil in the window,
  and more than in the window before it, which had at least one (a pupil's first
  concerns are the other rules' to catch).

Rules are evaluated by the worker for the pupils of each concern logged, shortly after
it is logged; a change to them applies to the next pupil looked at.
"""

FLAGS_DESCRIPTION = (
    f"DSLs and deputy DSLs. {PROMPT_NOTE}\n\n"
    "The school's flags, oldest raised first, of `status` (`open` or `acknowledged`) and "
    "`pupil_id` when given; keyset pages. Each explains itself: which signs (in the "
    "guidance's wording), who noticed each (by the name they wrote it under), when, and "
    "on which concerns (`evidence`). When a rule first fires for a pupil a flag is "
    "raised and the DSL desk is alerted (`flag.raised`: no name, rule or sign in it); an "
    "acknowledged flag is not raised again for the same evidence, and new evidence "
    "reopens it (alerted again). Reading flags is recorded in the audit log.\n\n" + RULES
)


@router.get(
    "/flags",
    summary="Pattern flags: prompts for a DSL, never findings",
    description=FLAGS_DESCRIPTION,
    response_model=FlagPage,
    responses=problem_responses(401, 403, 422),
)
async def list_flags(
    context: DSLContext,
    uow: UnitOfWorkDep,
    status: FlagStatus | None = None,
    pupil_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> FlagPage:
    return await uow.run(
        lambda session: patterns.list_flags(
            session, context, status=status, pupil_id=pupil_id, limit=limit, cursor=cursor
        )
    )


@router.post(
    "/flags/{flag_id}/acknowledge",
    summary="Acknowledge a pattern flag, with a reason",
    description=(
        f"DSLs and deputy DSLs. {PROMPT_NOTE} Acknowledging says a DSL has looked (for "
        'example "already known, on a child protection plan"): the flag is not raised '
        "again for the evidence it has now, and new evidence reopens it. No concern is "
        "changed. Another school's flag is a 404; an acknowledged one a 409 "
        "(`flag-acknowledged`). Recorded in the audit log."
    ),
    response_model=FlagPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def acknowledge_flag(
    flag_id: uuid.UUID,
    body: FlagAcknowledge,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: Answer(
            200, patterns.acknowledge_flag(session, context, flag_id=flag_id, body=body)
        ),
    )


SETTINGS_DESCRIPTION = (
    "DSLs and deputy DSLs: the school's pattern rules. Thresholds are a school's choice; "
    f"a flag they raise is a prompt for a human, never a decision.\n\n{RULES}\n"
    "`PUT` replaces them all (a value out of range is a 422 naming the field) and is "
    "audited (`pattern_settings.update`)."
)


@router.get(
    "/pattern-settings",
    summary="The school's pattern rules",
    description=SETTINGS_DESCRIPTION,
    response_model=PatternSettingsPublic,
    responses=problem_responses(401, 403),
)
async def get_pattern_settings(context: DSLContext, uow: UnitOfWorkDep) -> PatternSettingsPublic:
    return await uow.run(lambda session: patterns.get_pattern_settings(session, context))


@router.put(
    "/pattern-settings",
    summary="Change the school's pattern rules",
    description=SETTINGS_DESCRIPTION,
    response_model=PatternSettingsPublic,
    responses=problem_responses(401, 403, 422),
)
async def put_pattern_settings(
    body: PatternSettingsBody, context: DSLContext, uow: UnitOfWorkDep
) -> PatternSettingsPublic:
    return await uow.run(lambda session: patterns.put_pattern_settings(session, context, body=body))
