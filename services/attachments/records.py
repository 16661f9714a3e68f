"""Attachment rows: recorded once the file is sealed in the store, listed on their
record, read for a download. Never changed or deleted through the API (ADR 0105)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.errors import NotFound
from models.attachment import Attachment, AttachmentListed, AttachmentPublic
from models.case import Case
from models.concern import Concern, ConcernPupil, Person
from services import access, audit
from services.audit import probes
from services.concerns import people_by_id
from services.context import RequestContext
from services.principal import Principal


@dataclass(frozen=True)
class Upload:
    """What the HTTP shell sealed in the store for a new attachment."""

    attachment_id: uuid.UUID
    filename: str | None
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Record:
    """The concern or case an attachment is on, as the caller may see it."""

    school_id: uuid.UUID
    concern_id: uuid.UUID | None
    case_id: uuid.UUID | None
    pupil_ids: list[uuid.UUID]

    @property
    def audited_pupils(self) -> list[uuid.UUID | None]:
        """Whom an event about the record is about: each pupil, or none."""
        return [*self.pupil_ids] or [None]


def _no_attachment() -> NotFound:
    return NotFound("There is no attachment with that id.")


def concern_record(session: Session, principal: Principal, concern_id: uuid.UUID) -> Record:
    """The concern ``concern_id`` if the caller may read it (its recorder, the DSL desk of
    its school); 404 otherwise (403 for a role that never reads concerns)."""
    found = session.exec(
        select(Concern.id, Concern.school_id).where(
            col(Concern.id) == concern_id, *access.concern_scope(principal)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("There is no concern with that id.")
    pupil_ids = session.exec(
        select(ConcernPupil.pupil_id)
        .where(col(ConcernPupil.concern_id) == concern_id)
        .order_by(col(ConcernPupil.position))
    ).all()
    return Record(found[1], concern_id, None, list(pupil_ids))


def case_record(session: Session, principal: Principal, case_id: uuid.UUID) -> Record:
    """The case ``case_id`` of the caller's school, for the DSL desk; 404 otherwise."""
    access.require_dsl(principal)
    found = session.exec(
        select(Case.pupil_id).where(
            col(Case.id) == case_id, col(Case.school_id) == principal.school_id
        )
    ).one_or_none()
    if found is None:
        raise NotFound("There is no case with that id.")
    return Record(principal.school_id, None, case_id, [found])


def record_of(
    session: Session,
    context: RequestContext,
    *,
    concern_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> Record:
    """The concern or case named, as the caller may see it (see ``concern_record`` and
    ``case_record``); a 404 leaves a ``security.probe``."""
    if concern_id is not None:
        with probes.watched(context, kind="concern", record_id=concern_id):
            return concern_record(session, context.principal, concern_id)
    assert case_id is not None
    with probes.watched(context, kind="case", record_id=case_id):
        return case_record(session, context.principal, case_id)


def create_attachment(
    session: Session,
    context: RequestContext,
    *,
    upload: Upload,
    concern_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> AttachmentPublic:
    """Record an attachment whose file is already sealed in the store, on a concern (its
    recorder, the DSL desk) or a case (the DSL desk); 404 for anyone else. Records
    ``attachment.create`` once per pupil of the record, each with the file's SHA-256 as
    its ``digest`` (covered by the audit chain)."""
    principal = context.principal
    record = record_of(session, context, concern_id=concern_id, case_id=case_id)
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    row = Attachment(
        id=upload.attachment_id,
        school_id=record.school_id,
        concern_id=record.concern_id,
        case_id=record.case_id,
        filename=upload.filename,
        media_type=upload.media_type,
        size=upload.size,
        sha256=upload.sha256,
        uploaded_by=principal.id,
        uploaded_by_name=me.display_name,
        uploaded_at=context.now,
    )
    session.add(row)
    session.flush()
    audit.record_many(
        session,
        actor=context.actor,
        now=context.now,
        request_id=context.request_id,
        entries=[
            audit.AuditEntry(
                action="attachment.create",
                entity_type="attachment",
                entity_id=row.id,
                pupil_id=pupil_id,
                digest=row.sha256,
            )
            for pupil_id in record.audited_pupils
        ],
    )
    return public(row)


def public(row: Attachment) -> AttachmentPublic:
    return AttachmentPublic(
        id=row.id,
        filename=row.filename,
        media_type=row.media_type,
        size=row.size,
        sha256=row.sha256,
    )


def listed(row: Attachment) -> AttachmentListed:
    return AttachmentListed(
        id=row.id,
        filename=row.filename,
        media_type=row.media_type,
        size=row.size,
        sha256=row.sha256,
        concern_id=row.concern_id,
        case_id=row.case_id,
        uploaded_at=row.uploaded_at,
        uploaded_by=Person(id=row.uploaded_by, display_name=row.uploaded_by_name or ""),
        erased=row.erased_at is not None,
    )


def list_attachments(
    session: Session,
    context: RequestContext,
    *,
    concern_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> list[AttachmentListed]:
    """The attachments of a concern or case the caller may read (as ``record_of``),
    oldest first. Records ``attachment.list`` on the record, once per pupil."""
    record = record_of(session, context, concern_id=concern_id, case_id=case_id)
    on = (
        col(Attachment.concern_id) == concern_id
        if concern_id is not None
        else col(Attachment.case_id) == case_id
    )
    rows = session.exec(
        select(Attachment)
        .where(col(Attachment.school_id) == record.school_id, on)
        .order_by(col(Attachment.uploaded_at), col(Attachment.id))
    ).all()
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="attachment.list",
        now=context.now,
        request_id=context.request_id,
        entity_type="concern" if concern_id is not None else "case",
        entity_id=concern_id if concern_id is not None else case_id,
        pupil_ids=record.audited_pupils,
    )
    return [listed(row) for row in rows]


def attachment_to_read(
    session: Session, context: RequestContext, *, attachment_id: uuid.UUID
) -> Attachment:
    """The attachment ``attachment_id`` if the caller may read the record it is on (see
    ``record_of``), and its file is still kept; 404 otherwise (with a ``security.probe``).
    Records ``attachment.read`` once per pupil of the record."""
    with probes.watched(context, kind="attachment", record_id=attachment_id):
        row = session.exec(
            select(Attachment).where(
                col(Attachment.id) == attachment_id,
                col(Attachment.school_id) == context.principal.school_id,
            )
        ).one_or_none()
        if row is None or row.erased_at is not None:
            raise _no_attachment()
        try:
            if row.concern_id is not None:
                record = concern_record(session, context.principal, row.concern_id)
            else:
                if not access.reads_case_files(context.principal):
                    raise _no_attachment()
                assert row.case_id is not None
                record = case_record(session, context.principal, row.case_id)
        except NotFound:
            raise _no_attachment() from None
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="attachment.read",
        now=context.now,
        request_id=context.request_id,
        entity_type="attachment",
        entity_id=row.id,
        pupil_ids=record.audited_pupils,
    )
    return row


def note_broken(session: Session, context: RequestContext, row: Attachment) -> None:
    """Record that the stored file of ``row`` failed its integrity check (ids only)."""
    audit.record(
        session,
        actor=context.actor,
        action="attachment.integrity_failed",
        now=context.now,
        entity_type="attachment",
        entity_id=row.id,
        request_id=context.request_id,
        outcome="failed",
    )
