"""Links between children: entities of concern on concerns and cases, a child's links,
and the entities connecting several children (the DSL desk's)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from api.responses import answer_headers
from models.link import ConnectingEntities, EntityCreate, EntityList, EntityPublic, PupilLinks
from services import patterns

router = APIRouter(tags=["links"])

ENTITY_NOTE = (
    "DSLs and deputy DSLs. Records a person, vehicle, place or online account of concern "
    "(`kind`: `person`, `vehicle`, `place`, `online`) on {what} of the school (another "
    "school's, or none, is a 404); the {what} itself is not changed. Labels are kept as "
    "written and matched case-, accent-, space- and punctuation-blind (a vehicle's "
    "registration without spaces), so children whose records carry the same one are "
    "linked (`GET /pupils/{{id}}/links`). Answers 201 with the entity; recorded in the "
    "audit log."
)

LIST_NOTE = (
    "DSLs and deputy DSLs. The people, vehicles, places and online accounts recorded on "
    "{what} of the school (another school's, or none, is a 404), oldest first. Recorded in "
    "the audit log."
)


def _created(request: Request, made: EntityPublic) -> Answer:
    # The record's list of entities, where the new one is (``GET`` of the same path).
    return Answer(201, made, {"Location": f"{request.url.path}#{made.id}"})


@router.get(
    "/concerns/{concern_id}/entities",
    summary="The entities recorded on a concern",
    description=LIST_NOTE.format(what="a concern"),
    response_model=EntityList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_concern_entities(
    concern_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> EntityList:
    return await uow.run(
        lambda session: patterns.list_entities(session, context, concern_id=concern_id)
    )


@router.get(
    "/cases/{case_id}/entities",
    summary="The entities recorded on a case",
    description=LIST_NOTE.format(what="a case"),
    response_model=EntityList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_case_entities(
    case_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> EntityList:
    return await uow.run(lambda session: patterns.list_entities(session, context, case_id=case_id))


@router.post(
    "/concerns/{concern_id}/entities",
    summary="Record a person, vehicle, place or online account on a concern",
    description=ENTITY_NOTE.format(what="a concern"),
    status_code=201,
    response_model=EntityPublic,
    responses=problem_responses(401, 403, 404, 422) | answer_headers(201, "Location"),
)
async def create_concern_entity(
    concern_id: uuid.UUID,
    body: EntityCreate,
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: _created(
            request, patterns.create_entity(session, context, body=body, concern_id=concern_id)
        ),
    )


@router.post(
    "/cases/{case_id}/entities",
    summary="Record a person, vehicle, place or online account on a case",
    description=ENTITY_NOTE.format(what="a case"),
    status_code=201,
    response_model=EntityPublic,
    responses=problem_responses(401, 403, 404, 422) | answer_headers(201, "Location"),
)
async def create_case_entity(
    case_id: uuid.UUID,
    body: EntityCreate,
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: _created(
            request, patterns.create_entity(session, context, body=body, case_id=case_id)
        ),
    )


@router.get(
    "/pupils/{pupil_id}/links",
    summary="Children connected to this one",
    description=(
        "DSLs and deputy DSLs. The children of the school connected to this one through a "
        "shared concern (one concern about both: strength 3 each), a shared entity (the "
        "same person, vehicle, place or online account recorded on a record of each: 2 "
        "each) or the same location text on concerns about each (normalised: 1 each), "
        "strongest first, each with its evidence. Strength says which link to read "
        "first; it is not a measure of risk, and a link is a prompt for a human, never a "
        "finding. Another school's records are never read. A pupil not of the school is "
        "a 404. Recorded in the audit log as one event about this child, with each child "
        "shown in its `pupil_ids`."
    ),
    response_model=PupilLinks,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_pupil_links(
    pupil_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> PupilLinks:
    return await uow.run(
        lambda session: patterns.get_pupil_links(session, context, pupil_id=pupil_id)
    )


@router.get(
    "/entities",
    summary="Entities connecting several children",
    description=(
        "DSLs and deputy DSLs. The people, vehicles, places and online accounts recorded "
        "on the school's concerns and cases that connect `min_children` (default 3) "
        "children or more, most children first (at most 200), each with those children. "
        "A prompt for a human to look at a group together, never a finding. Recorded in "
        "the audit log as one event, with each child shown in its `pupil_ids`."
    ),
    response_model=ConnectingEntities,
    responses=problem_responses(401, 403, 422),
)
async def list_connecting_entities(
    context: DSLContext,
    uow: UnitOfWorkDep,
    min_children: Annotated[int, Query(ge=2, le=100)] = 3,
) -> ConnectingEntities:
    return await uow.run(
        lambda session: patterns.connecting_entities(session, context, min_children=min_children)
    )
