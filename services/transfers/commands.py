"""Sending a child's file, confirming its receipt, and importing one from another service.

DSLs and deputy DSLs. Each writes, in its one transaction, the transfer and the audit
event (ids only); nothing is written when it fails.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core import bundles
from core.errors import Conflict, InvalidInput, NotFound
from models.base import new_id
from models.concern import Person
from models.school import School
from models.transfer import (
    NAME_MAX,
    PupilTransfer,
    TransferCreate,
    TransferPublic,
    TransferReceipt,
    TransferReceivedRecord,
    TransferSource,
)
from services import audit, pupils
from services.access import require_dsl
from services.audit import probes
from services.concerns import people_by_id
from services.context import RequestContext
from services.school_calendar import school_date, working_days_after
from services.transfers import bundle
from services.transfers.calendar import closure_days
from services.transfers.reading import shape

# KCSIE: the file reaches the new school within 5 school days.
SCHOOL_DAYS_TO_TRANSFER = 5


def _school(session: Session, school_id: uuid.UUID) -> School:
    school = session.get(School, school_id)
    if school is None:  # the caller's own school: always there
        raise NotFound("Your school no longer exists.")
    return school


def _me(session: Session, context: RequestContext) -> Person:
    principal = context.principal
    me = people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    return me


def _record(
    session: Session,
    context: RequestContext,
    action: str,
    transfer_id: uuid.UUID,
    pupil_id: uuid.UUID | None,
) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="transfer",
        entity_id=transfer_id,
        pupil_id=pupil_id,
        request_id=context.request_id,
    )


def send_transfer(
    session: Session,
    context: RequestContext,
    *,
    pupil_id: uuid.UUID,
    transfer: TransferCreate,
    keys: bundles.TransferKeys,
) -> TransferPublic:
    """Send the pupil's whole file to the school ``to_school_urn``: due 5 school days in
    England after ``left_on`` (today when absent), counting out weekends, bank holidays
    and the sending school's own closure days. The file is signed as a bundle now (what
    was sent is what the receiver gets, whatever is written later). When the receiving
    school is on this service, its DSL desk sees it at once.

    DSLs and deputy DSLs of the pupil's school (another school's pupil is a 404 and a
    ``security.probe``). Records ``transfer.send`` with the pupil."""
    principal, now = context.principal, context.now
    require_dsl(principal)
    with probes.watched(context, kind="pupil", record_id=pupil_id):
        pupil = pupils.pupil_in_school(session, principal, pupil_id)
    school = _school(session, principal.school_id)
    if transfer.to_school_urn == school.urn:
        raise InvalidInput(
            "A file is transferred to another school, not to the school itself.",
            loc=["to_school_urn"],
        )
    left_on = transfer.left_on or school_date(now)
    due_by = working_days_after(
        left_on,
        SCHOOL_DAYS_TO_TRANSFER,
        closure_days(session, school_id=school.id, since=left_on),
    )
    receiving = session.exec(
        select(School).where(col(School.urn) == transfer.to_school_urn)
    ).one_or_none()
    sender = _me(session, context)
    transfer_id = new_id()
    document = bundle.build(
        session,
        context,
        bundle_id=transfer_id,
        school=school,
        to_school_urn=transfer.to_school_urn,
        pupil=pupil,
        sender=sender,
        left_on=left_on,
        due_by=due_by,
        issued_at=now,
    )
    row = PupilTransfer(
        id=transfer_id,
        source=TransferSource.service.value,
        bundle_id=transfer_id,
        from_school_id=school.id,
        from_school_urn=school.urn,
        from_school_name=school.name,
        pupil_id=pupil.id,
        to_school_urn=transfer.to_school_urn,
        to_school_id=receiving.id if receiving is not None else None,
        left_on=left_on,
        due_by=due_by,
        sent_at=now,
        sent_by=sender.id,
        sent_by_name=sender.display_name,
        bundle=bundle.signed(document, keys),
    )
    session.add(row)
    session.flush()
    _record(session, context, "transfer.send", row.id, pupil.id)
    return shape(row, context)


def confirm_receipt(
    session: Session,
    context: RequestContext,
    *,
    transfer_id: uuid.UUID,
    receipt: TransferReceipt,
) -> TransferPublic:
    """Confirm that a file sent to the caller's school arrived, and link it to the
    school's own record of the child (``pupil_id``): its chronology's entries join that
    pupil's chronology as received records, read-only. The sender then sees it
    ``received``, when and by whom (under the name they have now, kept as written).

    DSLs and deputy DSLs of the receiving school (a transfer not sent to it is a 404; one
    received already a 409; a ``pupil_id`` not of the school a 422). Records
    ``transfer.receipt`` with the pupil."""
    principal, now = context.principal, context.now
    require_dsl(principal)
    transfer = session.exec(
        select(PupilTransfer).where(
            col(PupilTransfer.id) == transfer_id,
            col(PupilTransfer.to_school_id) == principal.school_id,
        )
    ).one_or_none()
    if transfer is None:
        raise NotFound("No such transfer sent to your school.")
    if transfer.received_at is not None:
        raise Conflict("Receipt of this transfer was confirmed already.")
    try:
        pupil = pupils.pupil_in_school(session, principal, receipt.pupil_id)
    except NotFound:
        raise InvalidInput("No such pupil at your school.", loc=["pupil_id"]) from None
    me = _me(session, context)
    document = bundle.stored_payload(transfer.bundle)
    for item in document.chronology:
        entry = json.loads(item.model_dump_json())
        entry["from_school_urn"] = transfer.from_school_urn
        session.add(
            TransferReceivedRecord(
                transfer_id=transfer.id,
                school_id=principal.school_id,
                pupil_id=pupil.id,
                entry_type=item.type.value,
                occurred_at=item.occurred_at,
                recorded_at=item.recorded_at,
                entry=json.dumps(entry, ensure_ascii=False),
            )
        )
    transfer.received_at = now
    transfer.received_by = me.id
    transfer.received_by_name = me.display_name
    transfer.received_pupil_id = pupil.id
    session.add(transfer)
    session.flush()
    _record(session, context, "transfer.receipt", transfer.id, pupil.id)
    return shape(transfer, context)


_REFUSALS = {
    "malformed": "malformed",
    "unknown-key": "untrusted-key",
    "bad-signature": "bad-signature",
}


def import_bundle(
    session: Session,
    context: RequestContext,
    *,
    token: str,
    keys: bundles.TransferKeys,
) -> tuple[TransferPublic, bool]:
    """Import a bundle from another service: its signature must hold under a trusted key
    (``keys.trusted``: this service's own and the operator's trust list), its payload must
    meet the JSON Schema, and it must be addressed to the caller's school. Each failure is
    a 422 naming it (``bundle-malformed``, ``bundle-untrusted-key``,
    ``bundle-bad-signature``, ``bundle-invalid``, ``bundle-wrong-addressee``); nothing is
    written. It becomes a transfer sent to the school, received and linked like any
    other. The same bundle again answers the transfer it made (and ``False``).

    DSLs and deputy DSLs. Records ``transfer.import``."""
    principal = context.principal
    require_dsl(principal)
    try:
        payload = bundles.verify(token, keys.trusted)
    except bundles.BundleRefused as refusal:
        raise bundle.refused(_REFUSALS[refusal.reason], str(refusal)) from None
    document = bundle.checked(payload)
    school = _school(session, principal.school_id)
    if document.addressee.urn != school.urn:
        raise bundle.refused(
            "wrong-addressee",
            "The bundle is addressed to another school, not yours: send it to the school it names.",
        )
    existing = _imported_already(session, school.urn, document.bundle_id)
    if existing is not None:
        _record(session, context, "transfer.import", existing.id, existing.received_pupil_id)
        return shape(existing, context), False
    row = PupilTransfer(
        source=TransferSource.bundle.value,
        bundle_id=document.bundle_id,
        from_school_id=None,
        from_school_urn=document.issuer.urn,
        from_school_name=document.issuer.name or "",
        pupil_id=None,
        to_school_urn=school.urn,
        to_school_id=school.id,
        left_on=document.left_on,
        due_by=document.due_by,
        sent_at=document.issued_at,
        sent_by=document.issued_by.id,
        sent_by_name=document.issued_by.display_name[:NAME_MAX],
        bundle=token,
    )
    try:
        # The same bundle imported twice at once: the unique (addressee, bundle) decides.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = _imported_already(session, school.urn, document.bundle_id)
        if existing is None:
            raise
        _record(session, context, "transfer.import", existing.id, existing.received_pupil_id)
        return shape(existing, context), False
    _record(session, context, "transfer.import", row.id, None)
    return shape(row, context), True


def _imported_already(
    session: Session, school_urn: str, bundle_id: uuid.UUID
) -> PupilTransfer | None:
    return session.exec(
        select(PupilTransfer).where(
            col(PupilTransfer.to_school_urn) == school_urn,
            col(PupilTransfer.bundle_id) == bundle_id,
        )
    ).one_or_none()
