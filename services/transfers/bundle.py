"""The transfer bundle: a child's file as JSON (``models.transfer.TransferBundle``), its
published JSON Schema, and the checks an imported one passes (docs/transfer-bundle.md).

The schema is generated from the model that reads bundles, so that what is published and
what is accepted cannot drift apart; every bundle is checked against it (``jsonschema``)
before the model reads it. Error messages name where a bundle is wrong and which rule it
breaks, never the value found there (it is a child's file).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import date, datetime
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError
from sqlmodel import Session

from core import bundles
from core.errors import InvalidInput
from models.case import CasePublic
from models.chronology import ChronologyItem, ChronologyType
from models.concern import ConcernPublic, Person
from models.pupil import Pupil
from models.school import School
from models.transfer import BUNDLE_FORMAT, BundlePupil, BundleSchool, TransferBundle
from services import cases, chronology
from services.concerns import shape_concerns_by_id
from services.context import RequestContext

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "/api/v1/transfers/schema.json"
SCHEMA_DESCRIPTION = (
    "A child's safeguarding file sent from one school to the next (KCSIE), as the payload "
    "of a compact JWS signed with ES256 (docs/transfer-bundle.md): who sent it to whom and "
    "when, the child, the chronology (every entry, oldest first), each concern with its "
    "addenda and each case with its actions and decisions. Marked OFFICIAL-SENSITIVE."
)
# How many schema errors a refusal lists.
ERRORS_SHOWN = 20


@cache
def bundle_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a transfer bundle's payload."""
    schema = TransferBundle.model_json_schema(ref_template="#/$defs/{model}")
    return {"$schema": SCHEMA_URI, "$id": SCHEMA_ID, **schema, "description": SCHEMA_DESCRIPTION}


def _is_rfc3339(value: object) -> bool:
    """``date-time``: RFC 3339 with an offset (a time without one is refused, as in every
    request: contract section 1)."""
    if not isinstance(value, str):
        return True
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in value.upper() and moment.utcoffset() is not None


@cache
def _validator() -> Draft202012Validator:
    schema = bundle_schema()
    Draft202012Validator.check_schema(schema)
    formats = FormatChecker(formats=())
    formats.checks("date-time")(_is_rfc3339)
    return Draft202012Validator(schema, format_checker=formats)


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path)


def schema_problems(document: Any) -> list[dict[str, Any]]:
    """Where ``document`` breaks the schema: ``loc`` (JSON path) and which rule, without
    the values."""
    found = sorted(_validator().iter_errors(document), key=lambda error: list(error.path))
    return [
        {
            "loc": ["bundle", *error.path],
            "msg": f"{_pointer(error.path)}: does not meet the schema's '{error.validator}' rule",
            "type": "bundle_schema",
        }
        for error in found[:ERRORS_SHOWN]
    ]


def refused(slug: str, detail: str, errors: list[dict[str, Any]] | None = None) -> InvalidInput:
    """A 422 naming what was wrong with a bundle (problem type ``bundle-<slug>``)."""
    return InvalidInput(
        detail,
        slug=f"bundle-{slug}",
        extra={"errors": errors or [{"loc": ["body"], "msg": detail, "type": f"bundle_{slug}"}]},
    )


def checked(payload: bytes) -> TransferBundle:
    """A verified bundle's payload, read: JSON, the schema, then the model (a 422 for
    each, naming where)."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise refused("invalid", "The bundle's payload is not JSON.") from None
    problems = schema_problems(document)
    if problems:
        raise refused("invalid", "The bundle does not meet its JSON Schema.", problems)
    try:
        return TransferBundle.model_validate(document)
    except ValidationError as error:
        errors = [
            {
                "loc": ["bundle", *item["loc"]],
                "msg": f"{_pointer(item['loc'])}: {item['type']}",
                "type": "bundle_schema",
            }
            for item in error.errors(include_input=False)[:ERRORS_SHOWN]
        ]
        raise refused("invalid", "The bundle does not meet its JSON Schema.", errors) from None


def stored_payload(token: str) -> TransferBundle:
    """The payload of a bundle this service keeps (signed by it, or verified when
    imported): read without checking the signature again."""
    try:
        segment = token.split(".")[1]
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (IndexError, binascii.Error, ValueError):
        raise ValueError("a stored bundle is not a compact JWS") from None
    return TransferBundle.model_validate_json(raw)


# --- building one ----------------------------------------------------------------------------


def _only_this_child(concern: ConcernPublic, pupil_id: uuid.UUID) -> ConcernPublic:
    """A concern about several children travels with this child's file without the others:
    neither their ids nor their names."""
    return concern.model_copy(
        update={
            "pupil_ids": [pupil_id],
            "pupils": [p for p in concern.pupils or () if p["id"] == pupil_id] or None,
        }
    )


def _case_of_this_child(case: CasePublic, pupil_id: uuid.UUID) -> CasePublic:
    return case.model_copy(
        update={"concerns": [_only_this_child(c, pupil_id) for c in case.concerns]}
    )


def build(
    session: Session,
    context: RequestContext,
    *,
    bundle_id: uuid.UUID,
    school: School,
    to_school_urn: str,
    pupil: Pupil,
    sender: Person,
    left_on: date,
    due_by: date,
    issued_at: datetime,
) -> TransferBundle:
    """The pupil's whole file as a bundle's payload: the chronology as the DSL reads it,
    every concern of it with its addenda, every case with its actions and decisions (read
    as the exports read them; the caller records the event)."""
    entries: list[ChronologyItem] = chronology.whole_chronology(
        session, principal=context.principal, pupil_id=pupil.id
    )
    concern_ids = [item.id for item in entries if item.type is ChronologyType.concern]
    concerns = shape_concerns_by_id(session, context, concern_ids=concern_ids)
    pupil_cases = cases.cases_of_pupil(session, context, pupil_id=pupil.id)
    return TransferBundle(
        format=BUNDLE_FORMAT,
        bundle_id=bundle_id,
        issuer=BundleSchool(urn=school.urn, name=school.name),
        addressee=BundleSchool(urn=to_school_urn),
        issued_at=issued_at,
        issued_by=sender,
        left_on=left_on,
        due_by=due_by,
        pupil=BundlePupil(
            id=pupil.id,
            given_name=pupil.given_name,
            family_name=pupil.family_name,
            preferred_name=pupil.preferred_name,
            date_of_birth=pupil.date_of_birth,
            upn=pupil.upn,
            year_group=pupil.year_group,
            registration_group=pupil.registration_group,
        ),
        chronology=entries,
        concerns=[_only_this_child(concern, pupil.id) for concern in concerns],
        cases=[_case_of_this_child(case, pupil.id) for case in pupil_cases],
    )


def signed(document: TransferBundle, keys: bundles.TransferKeys) -> str:
    """The bundle as a compact JWS, signed with the service's current key."""
    return bundles.sign(document.model_dump_json().encode("utf-8"), keys.signing)
