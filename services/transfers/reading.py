"""Reading transfers: one, the school's sent ones, the ones sent to it, and a bundle.

DSLs and deputy DSLs. A transfer is its sending and its receiving school's
(``access.transfer_scope``); any other is a 404. Every read is audited (ids only).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from core.errors import Conflict, NotFound
from models.concern import Person
from models.transfer import (
    PupilTransfer,
    TransferChild,
    TransferPublic,
    TransferSource,
    TransferStatus,
)
from services import access, audit
from services.context import RequestContext
from services.due import due_day
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.transfers.bundle import stored_payload

JOSE = "application/jose"


def status_of(transfer: PupilTransfer, context: RequestContext) -> TransferStatus:
    """``received`` once receipt was confirmed; ``overdue`` when not received by its
    ``due_by`` (today in England, by the request's clock: ``services.due``); else
    ``sent``."""
    if transfer.received_at is not None:
        return TransferStatus.received
    if transfer.due_by < due_day(context.now):
        return TransferStatus.overdue
    return TransferStatus.sent


def _child(transfer: PupilTransfer) -> TransferChild:
    pupil = stored_payload(transfer.bundle).pupil
    return TransferChild(
        given_name=pupil.given_name,
        family_name=pupil.family_name,
        preferred_name=pupil.preferred_name,
        date_of_birth=pupil.date_of_birth,
        upn=pupil.upn,
    )


def shape(transfer: PupilTransfer, context: RequestContext) -> TransferPublic:
    """A transfer as the caller's school sees it: the sender's (its pupil) or the
    receiver's (the child as the file names them, and the record it was linked to)."""
    sent = transfer.from_school_id == context.principal.school_id
    received_by = (
        Person(id=transfer.received_by, display_name=transfer.received_by_name or "")
        if transfer.received_by is not None
        else None
    )
    return TransferPublic(
        id=transfer.id,
        direction="sent" if sent else "incoming",
        source=TransferSource(transfer.source),
        pupil_id=transfer.pupil_id if sent else transfer.received_pupil_id,
        from_school_urn=transfer.from_school_urn,
        from_school_name=transfer.from_school_name,
        to_school_urn=transfer.to_school_urn,
        status=status_of(transfer, context),
        left_on=transfer.left_on,
        due_by=transfer.due_by,
        sent_at=transfer.sent_at,
        sent_by=Person(id=transfer.sent_by, display_name=transfer.sent_by_name),
        received_at=transfer.received_at,
        received_by=received_by,
        child=None if sent else _child(transfer),
    )


def pupil_of(transfer: PupilTransfer, context: RequestContext) -> uuid.UUID | None:
    """The caller's school's pupil the transfer is about (for the audit log), if any."""
    if transfer.from_school_id == context.principal.school_id:
        return transfer.pupil_id
    return transfer.received_pupil_id


def transfer_in_scope(
    session: Session, context: RequestContext, transfer_id: uuid.UUID
) -> PupilTransfer:
    """The transfer, if the caller's school sent it or it was sent to it; 404 otherwise."""
    access.require_dsl(context.principal)
    found = session.exec(
        select(PupilTransfer).where(
            col(PupilTransfer.id) == transfer_id, access.transfer_scope(context.principal)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("No such transfer.")
    return found


def _record(
    session: Session, context: RequestContext, action: str, transfer: PupilTransfer
) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="transfer",
        entity_id=transfer.id,
        pupil_id=pupil_of(transfer, context),
        request_id=context.request_id,
    )


def get_transfer(
    session: Session, context: RequestContext, *, transfer_id: uuid.UUID
) -> TransferPublic:
    """One transfer, to its sending or receiving school's DSL desk. Records
    ``transfer.read``."""
    transfer = transfer_in_scope(session, context, transfer_id)
    _record(session, context, "transfer.read", transfer)
    return shape(transfer, context)


@dataclass(frozen=True)
class Bundle:
    token: str
    filename: str


def get_bundle(session: Session, context: RequestContext, *, transfer_id: uuid.UUID) -> Bundle:
    """The transfer's bundle as it was signed when sent (a compact JWS), to its sending or
    receiving school's DSL desk. Records ``transfer.bundle.read``."""
    transfer = transfer_in_scope(session, context, transfer_id)
    if not transfer.bundle:
        raise Conflict(
            "This transfer's file was destroyed with the child's file (past retention).",
            slug="file-destroyed",
        )
    _record(session, context, "transfer.bundle.read", transfer)
    return Bundle(token=transfer.bundle, filename=f"transfer-{transfer.id}.jws")


@dataclass(frozen=True)
class TransferListPage:
    items: list[TransferPublic]
    next_cursor: str | None


def _after(cursor: str) -> ColumnElement[bool]:
    try:
        after = uuid.UUID(str(decode_cursor(cursor, fields=("id",))["id"]))
    except ValueError:
        raise invalid_cursor() from None
    return col(PupilTransfer.id) < after


def _page(
    session: Session,
    context: RequestContext,
    *,
    mine: ColumnElement[bool],
    action: str,
    limit: int,
    cursor: str | None,
) -> TransferListPage:
    access.require_dsl(context.principal)
    conditions = [mine] if cursor is None else [mine, _after(cursor)]
    found: Sequence[PupilTransfer] = list(
        session.exec(
            select(PupilTransfer)
            .where(*conditions)
            .order_by(col(PupilTransfer.id).desc())
            .limit(limit + 1)
        )
    )
    page = list(found[:limit])
    next_cursor = encode_cursor({"id": str(page[-1].id)}) if len(found) > limit else None
    pupils: list[uuid.UUID | None] = [
        *sorted({pupil for t in page if (pupil := pupil_of(t, context)) is not None})
    ]
    audit.record_page(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        request_id=context.request_id,
        entity_type="transfer",
        entity_id=None,
        pupil_ids=pupils,
    )
    return TransferListPage(items=[shape(t, context) for t in page], next_cursor=next_cursor)


def list_sent(
    session: Session, context: RequestContext, *, limit: int, cursor: str | None = None
) -> TransferListPage:
    """The transfers the caller's school sent, newest first, keyset pages. DSLs and
    deputy DSLs; records ``transfer.list``: one event for the page, with its children."""
    mine = col(PupilTransfer.from_school_id) == context.principal.school_id
    return _page(session, context, mine=mine, action="transfer.list", limit=limit, cursor=cursor)


def list_incoming(
    session: Session, context: RequestContext, *, limit: int, cursor: str | None = None
) -> TransferListPage:
    """The transfers sent to the caller's school (on this service, or imported), newest
    first, keyset pages: each names the child as the file does, so the DSL can find their
    own record. Records ``transfer.incoming.list``: one event for the page, with the
    children linked on it."""
    mine = col(PupilTransfer.to_school_id) == context.principal.school_id
    return _page(
        session, context, mine=mine, action="transfer.incoming.list", limit=limit, cursor=cursor
    )
