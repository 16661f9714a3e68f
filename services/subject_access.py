"""Subject access exports: a DSL prepares a copy of a child's file for the child or a
parent, redacted (``services.redaction``) and with chosen entries withheld.

What is kept is the request (docs/adr/0095): each download renders the export again from
the records as they were when it was prepared (``requested_at``: nothing recorded later
appears, so an entry added since cannot slip out unreviewed), through the same sections as
every export. The JSON's SHA-256 as first made is kept; a later download that differs
(a record since marked entered in error, or destroyed) says so on its first page.

DSLs and deputy DSLs of the pupil's school; a pupil or export of another school is a 404.
Audited with ids only: ``subject_access.create``, ``subject_access.read`` and
``subject_access.export.<format>``, each with the pupil and the export's id.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session, col, select

from core.errors import InvalidInput, NotFound
from models.chronology import PupilFile
from models.concern import Person
from models.pupil import Pupil
from models.subject_access import (
    SubjectAccessCreate,
    SubjectAccessExport,
    SubjectAccessLinks,
    SubjectAccessPublic,
    WithheldEntry,
)
from services import audit, pupils, redaction
from services.access import require_dsl
from services.audit import probes
from services.chronology.entries import API_BASE
from services.context import RequestContext
from services.export import MEDIA_TYPES, RENDERERS, ExportedFile, ExportFormat
from services.export_document import build_file, generator

_WITHHELD: TypeAdapter[list[WithheldEntry]] = TypeAdapter(list[WithheldEntry])
CHANGED_NOTICE = (
    "Records have changed since this export was prepared (corrected, marked as entered in "
    "error, or destroyed): this copy shows them as they are now."
)


def _links(row: SubjectAccessExport) -> SubjectAccessLinks:
    base = f"{API_BASE}/pupils/{row.pupil_id}/subject-access-exports/{row.id}"
    return SubjectAccessLinks(pdf=f"{base}/pdf", json_url=f"{base}/json")


def _public(row: SubjectAccessExport) -> SubjectAccessPublic:
    return SubjectAccessPublic(
        id=row.id,
        pupil_id=row.pupil_id,
        requested_by=Person(id=row.requested_by, display_name=row.requested_by_name or ""),
        requested_at=row.requested_at,
        redact_other_pupils=row.redact_other_pupils,
        redact_staff=row.redact_staff,
        withhold=_WITHHELD.validate_json(row.withheld),
        json_sha256=row.json_sha256,
        links=_links(row),
    )


def _entry_ids(document: PupilFile) -> set[uuid.UUID]:
    """Every entry of the file a request may withhold."""
    ids = {item.id for item in (*document.chronology, *document.administrative_events)}
    for concern in document.concerns:
        ids.add(concern.id)
        ids.update(addendum.id for addendum in concern.addenda)
    for case in document.actions_and_decisions:
        ids.update(action.id for action in case.actions)
        ids.update(decision.id for decision in case.decisions)
    return ids


def _check_withheld(document: PupilFile, withhold: list[WithheldEntry]) -> None:
    known = _entry_ids(document)
    seen: set[uuid.UUID] = set()
    for n, entry in enumerate(withhold):
        where = ("withhold", n, "entry_id")
        if entry.entry_id not in known:
            raise InvalidInput(
                f"withhold[{n}].entry_id is not an entry of this pupil's file.", loc=where
            )
        if entry.entry_id in seen:
            raise InvalidInput(f"withhold[{n}].entry_id names an entry twice.", loc=where)
        seen.add(entry.entry_id)


def _as_prepared(
    session: Session, context: RequestContext, row: SubjectAccessExport, pupil: Pupil
) -> PupilFile:
    """The file as it was at ``requested_at``, generated then by whoever asked."""
    return build_file(
        session,
        context,
        pupil=pupil,
        generated_at=row.requested_at,
        generated_by=Person(id=row.requested_by, display_name=row.requested_by_name or ""),
        as_of=row.requested_at,
    )


def _render(
    session: Session,
    context: RequestContext,
    row: SubjectAccessExport,
    pupil: Pupil,
    document: PupilFile | None = None,
) -> PupilFile:
    """The export as prepared: the file as it was at ``requested_at`` (``document`` when
    already read), redacted."""
    if document is None:
        document = _as_prepared(session, context, row, pupil)
    withheld = [entry.entry_id for entry in _WITHHELD.validate_json(row.withheld)]
    prepared = redaction.prepare(
        session,
        school_id=row.school_id,
        subject=pupil,
        other_pupils=row.redact_other_pupils,
        staff=row.redact_staff,
        withheld=withheld,
    )
    return redaction.redact(document, prepared, request_id=row.id)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _record(context: RequestContext, session: Session, action: str, row: Any) -> None:
    audit.record(
        session,
        actor=context.principal.actor,
        action=action,
        now=context.now,
        entity_type="subject_access_export",
        entity_id=row.id,
        pupil_id=row.pupil_id,
        request_id=context.request_id,
    )


def create_export(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    request: SubjectAccessCreate,
) -> SubjectAccessPublic:
    """Prepare a subject access export of the pupil's file as it is now."""
    principal = context.principal
    require_dsl(principal)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        pupil = pupils.pupil_in_school(session, principal, pupil_id)
    me = generator(session, context)
    row = SubjectAccessExport(
        school_id=principal.school_id,
        pupil_id=pupil_id,
        requested_by=me.id,
        requested_by_name=me.display_name,
        requested_at=context.now,
        redact_other_pupils=request.redact_other_pupils,
        redact_staff=request.redact_staff,
        withheld=json.dumps(
            [entry.model_dump(mode="json") for entry in request.withhold], ensure_ascii=False
        ),
        json_sha256="",
    )
    document = _as_prepared(session, context, row, pupil)
    _check_withheld(document, request.withhold)
    redacted = _render(session, context, row, pupil, document)
    row.json_sha256 = _digest(RENDERERS[ExportFormat.json](redacted))
    session.add(row)
    session.flush()
    _record(context, session, "subject_access.create", row)
    return _public(row)


def _load(
    session: Session, context: RequestContext, pupil_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[SubjectAccessExport, Pupil]:
    principal = context.principal
    require_dsl(principal)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        pupil = pupils.pupil_in_school(session, principal, pupil_id)
    row = session.exec(
        select(SubjectAccessExport).where(
            col(SubjectAccessExport.id) == export_id,
            col(SubjectAccessExport.school_id) == principal.school_id,
            col(SubjectAccessExport.pupil_id) == pupil_id,
        )
    ).first()
    if row is None:
        raise NotFound("There is no such subject access export of this pupil.")
    return row, pupil


def get_export(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID, export_id: uuid.UUID
) -> SubjectAccessPublic:
    row, _ = _load(session, context, pupil_id, export_id)
    _record(context, session, "subject_access.read", row)
    return _public(row)


def download_export(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    export_id: uuid.UUID,
    format: ExportFormat,
) -> ExportedFile:
    """The export rendered again, as prepared; with a notice when it has changed since."""
    row, pupil = _load(session, context, pupil_id, export_id)
    document = _render(session, context, row, pupil)
    if _digest(RENDERERS[ExportFormat.json](document)) != row.json_sha256:
        assert document.subject_access is not None
        document.subject_access.notice = CHANGED_NOTICE
    content = RENDERERS[format](document)
    _record(context, session, f"subject_access.export.{format.value}", row)
    stamp = row.requested_at.strftime("%Y%m%dT%H%M%SZ")
    return ExportedFile(
        content=content,
        media_type=MEDIA_TYPES[format],
        filename=f"pupil-{pupil_id}-subject-access-{stamp}.{format.value}",
    )
