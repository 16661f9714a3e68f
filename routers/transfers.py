"""Transfers of a child's file to their next school (contract section 12): sending,
the sent and incoming lists, receipt, the signed bundle, importing one, and the school's
closure days. The bundle's JSON Schema and the service's public keys are public
(``public_router``, ``well_known_router``)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import AnyRoleContext, DSLContext, DSLPupilFileContext, StepUp, UnitOfWorkDep
from api.errors import problem_response, problem_responses
from api.idempotency import Answer, Idempotent
from core.bundles import TransferKeys
from core.errors import DomainError
from models.transfer import (
    SchoolCalendar,
    TransferCreate,
    TransferPage,
    TransferPublic,
    TransferReceipt,
)
from services import transfers
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(tags=["transfers"])


async def transfer_keys(request: Request) -> TransferKeys:
    """The service's transfer keys (``core.bundles``), made at start-up."""
    keys: TransferKeys = request.app.state.transfer_keys
    return keys


Keys = Annotated[TransferKeys, Depends(transfer_keys)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.post(
    "/pupils/{pupil_id}/transfers",
    summary="Send a leaver's file to their next school",
    description=(
        "DSLs and deputy DSLs. Sends the pupil's whole safeguarding file (chronology, "
        "concerns with addenda, cases with actions and decisions) to the school with "
        "`to_school_urn`, as it stands now, signed as a bundle "
        "(`GET /transfers/{id}/bundle`). `due_by` is 5 school days in England after "
        "`left_on` (today when absent): weekends, bank holidays in England and the "
        "school's own closure days (`PUT /school-calendar`) are not counted. When the "
        "receiving school is on this service its DSLs see it at once "
        "(`GET /transfers/incoming`, their inbox); otherwise hand it the bundle. Not "
        "received by `due_by`, it is `overdue` and the school's DSLs are alerted once. "
        "Recorded in the audit log."
    ),
    status_code=201,
    response_model=TransferPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def send_transfer(
    pupil_id: uuid.UUID,
    body: TransferCreate,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
    keys: Keys,
    once: Idempotent,
) -> Response:
    def created(transfer: TransferPublic) -> Answer:
        return Answer(201, transfer, {"Location": f"/api/v1/transfers/{transfer.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(
            transfers.send_transfer(session, context, pupil_id=pupil_id, transfer=body, keys=keys)
        ),
        cpu_bound=True,
    )


@router.get(
    "/transfers",
    summary="The files the school sent",
    description=(
        "DSLs and deputy DSLs: every transfer the school sent, newest first, with its "
        "status (`sent`, `received` with when and by whom, `overdue`). Keyset pages."
    ),
    response_model=TransferPage,
    responses=problem_responses(401, 403, 422),
)
async def list_sent(
    context: DSLContext, uow: UnitOfWorkDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> TransferPage:
    page = await uow.run(
        lambda session: transfers.list_sent(session, context, limit=limit, cursor=cursor)
    )
    return TransferPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/transfers/incoming",
    summary="The files sent to the school",
    description=(
        "DSLs and deputy DSLs: every transfer sent to the school on this service or "
        "imported from a bundle, newest first, naming the child as the sending school does "
        "(`child`) so that you can find your own record of them; confirm receipt with "
        "`POST /transfers/{id}/receipt`. Keyset pages."
    ),
    response_model=TransferPage,
    responses=problem_responses(401, 403, 422),
)
async def list_incoming(
    context: DSLContext, uow: UnitOfWorkDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> TransferPage:
    page = await uow.run(
        lambda session: transfers.list_incoming(session, context, limit=limit, cursor=cursor)
    )
    return TransferPage(items=page.items, next_cursor=page.next_cursor)


class UnsupportedBundleType(DomainError):
    """A bundle sent as anything but itself (JSON, a form): a 415 that says what to send."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"

    def __init__(self) -> None:
        super().__init__("Send the bundle itself, as Content-Type: application/jose.")


class BundleText(BaseModel):
    """An imported bundle, as its idempotency key's request is fingerprinted."""

    bundle: str


_JOSE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A transfer bundle: a compact JWS (docs/transfer-bundle.md)",
        "content": {
            "application/jose": {
                "schema": {"type": "string"},
                "example": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9.eyJmb3JtYXQiOiIuLi4ifQ.c2ln",
            }
        },
    }
}


@router.post(
    "/transfers/import",
    summary="Import a bundle from another service",
    description=(
        "DSLs and deputy DSLs of the school the bundle is addressed to. The body is the "
        "bundle itself (`Content-Type: application/jose`, else 415). Its signature must "
        "hold under a key this service trusts (its own, and the operator's list: "
        "`CONCERNLOG_TRANSFER_TRUSTED_KEYS_FILE`), its payload must meet "
        "`GET /transfers/schema.json`, and it must be addressed to your school's URN; "
        "otherwise a 422 whose problem type names what failed (`bundle-malformed`, "
        "`bundle-untrusted-key`, `bundle-bad-signature`, `bundle-invalid`, "
        "`bundle-wrong-addressee`) and nothing is written. It becomes an incoming "
        "transfer (201); the same bundle again answers that transfer (200)."
    ),
    status_code=201,
    response_model=TransferPublic,
    responses={200: {"model": TransferPublic}, **problem_responses(401, 403, 415, 422)},
    openapi_extra=_JOSE_BODY,
)
async def import_bundle(
    request: Request, context: DSLContext, uow: UnitOfWorkDep, keys: Keys, once: Idempotent
) -> Response:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != transfers.JOSE:
        raise UnsupportedBundleType()
    try:
        token = (await request.body()).decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""

    def imported(answer: tuple[TransferPublic, bool]) -> Answer:
        transfer, created = answer
        location = f"/api/v1/transfers/{transfer.id}"
        return Answer(201 if created else 200, transfer, {"Location": location})

    return await once.run(
        uow,
        context,
        BundleText(bundle=token),
        lambda session: imported(transfers.import_bundle(session, context, token=token, keys=keys)),
        cpu_bound=True,
    )


async def _import_is_a_post(request: Request, _context: AnyRoleContext) -> JSONResponse:
    # Without it, a GET of /transfers/import would reach GET /transfers/{transfer_id} (and
    # its 422 for an id that is no UUID) rather than the 405 every other method gets.
    return problem_response(
        405,
        f"{request.method} is not allowed here: POST a bundle to import it.",
        slug="method-not-allowed",
        headers={"Allow": "POST"},
    )


router.add_api_route(
    "/transfers/import",
    _import_is_a_post,
    methods=["GET"],
    name="get_import_not_allowed",
    include_in_schema=False,
    response_class=JSONResponse,
)


@router.get(
    "/transfers/{transfer_id}",
    summary="One transfer",
    description=(
        "DSLs and deputy DSLs of the sending or the receiving school: its status (`sent`, "
        "`received` with `received_at` and `received_by`, `overdue`). Anyone else: 404."
    ),
    response_model=TransferPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_transfer(
    transfer_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> TransferPublic:
    return await uow.run(
        lambda session: transfers.get_transfer(session, context, transfer_id=transfer_id)
    )


@router.post(
    "/transfers/{transfer_id}/receipt",
    summary="Confirm receipt of a file, linking it to your pupil",
    description=(
        "DSLs and deputy DSLs of the receiving school. `pupil_id` is your own record of "
        "the child (422 if it is not of your school): the file's entries appear in that "
        "pupil's chronology as `received` entries, read-only. The sender then sees it "
        "`received`, when and by whom. A transfer received already is a 409."
    ),
    response_model=TransferPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def confirm_receipt(
    transfer_id: uuid.UUID,
    body: TransferReceipt,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: Answer(
            200,
            transfers.confirm_receipt(session, context, transfer_id=transfer_id, receipt=body),
        ),
    )


@router.get(
    "/transfers/{transfer_id}/bundle",
    summary="The transfer's signed bundle",
    description=(
        "DSLs and deputy DSLs of the sending or the receiving school: the file as it was "
        "sent, a compact JWS (`application/jose`) signed with ES256 by a key published at "
        "`/.well-known/jwks.json`; its payload's JSON Schema is "
        "`GET /transfers/schema.json` (docs/transfer-bundle.md). For a school on another "
        "service: it imports it at `POST /transfers/import`. Recorded in the audit log."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The bundle, as a download",
            "content": {"application/jose": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def get_bundle(
    transfer_id: uuid.UUID, context: DSLContext, _fresh: StepUp, uow: UnitOfWorkDep
) -> Response:
    found = await uow.run(
        lambda session: transfers.get_bundle(session, context, transfer_id=transfer_id)
    )
    return Response(
        content=found.token,
        media_type=transfers.JOSE,
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )


@router.get(
    "/school-calendar",
    summary="The school's closure days",
    description=(
        "DSLs and deputy DSLs: the weekdays the school is closed though they are no bank "
        "holiday (INSET days, its own holidays). A transfer's 5 school days skip them."
    ),
    response_model=SchoolCalendar,
    responses=problem_responses(401, 403),
)
async def get_school_calendar(context: DSLContext, uow: UnitOfWorkDep) -> SchoolCalendar:
    return await uow.run(lambda session: transfers.get_calendar(session, context))


@router.put(
    "/school-calendar",
    summary="Set the school's closure days",
    description=(
        "DSLs and deputy DSLs: replaces the list (at most 400 days). Transfers sent from "
        "now on count it; a due date already given stays as it was."
    ),
    response_model=SchoolCalendar,
    responses=problem_responses(401, 403, 422),
)
async def put_school_calendar(
    body: SchoolCalendar, context: DSLContext, uow: UnitOfWorkDep
) -> SchoolCalendar:
    return await uow.run(lambda session: transfers.put_calendar(session, context, calendar=body))


# --- public: the schema and the keys --------------------------------------------------------

public_router = APIRouter(tags=["transfers"])
_SCHEMA = json.dumps(transfers.bundle_schema(), separators=(",", ":")).encode("utf-8")


@public_router.get(
    "/transfers/schema.json",
    summary="The JSON Schema of a transfer bundle's payload",
    description=(
        "Public. JSON Schema (draft 2020-12) of the payload of a transfer bundle "
        "(`GET /transfers/{id}/bundle`): any school system can check and read a bundle "
        "with it. The format is described in docs/transfer-bundle.md."
    ),
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/schema+json": {
                    "schema": {"type": "object"},
                    "example": {"title": "TransferBundle", "type": "object"},
                }
            }
        }
    },
)
async def get_bundle_schema() -> Response:
    return Response(content=_SCHEMA, media_type="application/schema+json")


well_known_router = APIRouter(tags=["transfers"])


@well_known_router.get(
    "/.well-known/jwks.json",
    summary="The keys that sign this service's transfer bundles",
    description=(
        "Public. A JSON Web Key Set (RFC 7517): the current ES256 key and retired ones "
        "(kept for bundles they signed), each with its `kid` (RFC 7638 thumbprint). Another "
        "service adds it to its trust list to import this service's bundles."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "keys": [
                            {
                                "kty": "EC",
                                "crv": "P-256",
                                "x": "9_OL95Pl75QR10l2FxXcNvUp-NLYaDz5RlF73_FnEOQ",
                                "y": "3AHGaZL7JWfOO1JggTbHKWn_mkfVXE6yxwLVmM5Wa5E",
                                "kid": "Nf3kZ8cR0mZfQy8W3yV8lJ1jv8m7Qq8QeJb4qk2c3rU",
                                "use": "sig",
                                "alg": "ES256",
                            }
                        ]
                    },
                }
            }
        }
    },
)
async def get_jwks(keys: Keys) -> Response:
    return Response(
        content=json.dumps(keys.jwks(), separators=(",", ":")),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
