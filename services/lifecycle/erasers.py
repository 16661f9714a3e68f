"""What destroying a child's file erases, kind by kind (docs/adr/0092).

Each eraser takes the file being destroyed (``DoomedFile``) and, in the caller's
transaction, replaces the content of its records of one kind (texts, descriptions, names
typed into them) with ``DESTROYED`` or nothing, leaving each row as a tombstone: its id,
its dates, who wrote it. It returns how many records it left as tombstones. Nothing here
touches the audit log: its hash chain covers ids, actions and times only
(``services.audit.chain.HASHED_FIELDS``), never a record's content, so it verifies as
before.

A kind of record added later adds one eraser to ``ERASERS`` (as the safeguarding profile,
referrals, attachments and body maps did).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models.case import Case, CaseAction, CaseDecision, CaseEvent
from models.category import ConcernCategory
from models.concern import Addendum, Concern, ConcernIndicator, ConcernSearchTerm
from models.lifecycle import DESTROYED, ConcernErrorMark
from models.referral import Referral, ReferralOutcome
from models.task import CaseTask
from models.transfer import PupilTransfer, TransferReceivedRecord
from models.triage import TriageEvent
from services import attachments, body_maps, profile
from services.attachments import FileStore


@dataclass(frozen=True)
class DoomedFile:
    """The file being destroyed: the child, their school, the concerns that are theirs
    alone (a concern also about a child whose file is kept is left whole), and the
    moment (the request's "now")."""

    school_id: uuid.UUID
    pupil_id: uuid.UUID
    concern_ids: tuple[uuid.UUID, ...]
    now: datetime
    # Where attachments are stored (``app.state.files``): their files are removed.
    files: FileStore


Eraser = Callable[[Session, DoomedFile], int]


def _count(result: sa.Result[object]) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def erase_concerns(session: Session, doomed: DoomedFile) -> int:
    """The concerns' description, location and classification (categories, indicators),
    and their words in SQLite's search index."""
    if not doomed.concern_ids:
        return 0
    ids = list(doomed.concern_ids)
    for table in (ConcernIndicator, ConcernCategory, ConcernSearchTerm):
        session.execute(sa.delete(table).where(col(table.concern_id).in_(ids)))
    return _count(
        session.execute(
            sa.update(Concern)
            .where(col(Concern.id).in_(ids), col(Concern.school_id) == doomed.school_id)
            .values(description=DESTROYED, location=None, categories=None)
        )
    )


def erase_addenda(session: Session, doomed: DoomedFile) -> int:
    """The addenda's text and reason."""
    if not doomed.concern_ids:
        return 0
    return _count(
        session.execute(
            sa.update(Addendum)
            .where(col(Addendum.concern_id).in_(list(doomed.concern_ids)))
            .values(text=DESTROYED, reason=DESTROYED)
        )
    )


def erase_triage(session: Session, doomed: DoomedFile) -> int:
    """The reasons DSLs gave for their triage changes."""
    if not doomed.concern_ids:
        return 0
    return _count(
        session.execute(
            sa.update(TriageEvent)
            .where(col(TriageEvent.concern_id).in_(list(doomed.concern_ids)))
            .values(reason=DESTROYED)
        )
    )


def erase_error_marks(session: Session, doomed: DoomedFile) -> int:
    """The reasons given for marking the concerns entered in error."""
    if not doomed.concern_ids:
        return 0
    return _count(
        session.execute(
            sa.update(ConcernErrorMark)
            .where(col(ConcernErrorMark.concern_id).in_(list(doomed.concern_ids)))
            .values(reason=DESTROYED)
        )
    )


def _blank_of_pupil(session: Session, model: type, doomed: DoomedFile, **values: Any) -> int:
    """Set ``values`` on every row of ``model`` about the child (its ``school_id`` and
    ``pupil_id``); how many rows."""
    table: Any = model
    return _count(
        session.execute(
            sa.update(model)
            .where(col(table.school_id) == doomed.school_id, col(table.pupil_id) == doomed.pupil_id)
            .values(**values)
        )
    )


def _destroyed_unless_empty(column: Any) -> Any:
    """``DESTROYED`` where ``column`` holds something; still nothing where it held nothing."""
    return sa.case((col(column).is_(None), None), else_=DESTROYED)


def erase_cases(session: Session, doomed: DoomedFile) -> int:
    """The child's cases: summary and outcome."""
    return _blank_of_pupil(
        session, Case, doomed, summary=DESTROYED, outcome=_destroyed_unless_empty(Case.outcome)
    )


def erase_case_events(session: Session, doomed: DoomedFile) -> int:
    """The text and reason of each event of the child's cases."""
    return _blank_of_pupil(
        session,
        CaseEvent,
        doomed,
        text=_destroyed_unless_empty(CaseEvent.text),
        reason=_destroyed_unless_empty(CaseEvent.reason),
    )


def erase_actions(session: Session, doomed: DoomedFile) -> int:
    """What was done, and with whom (names typed in)."""
    return _blank_of_pupil(session, CaseAction, doomed, description=DESTROYED, with_whom=None)


def erase_decisions(session: Session, doomed: DoomedFile) -> int:
    """The decisions and their reasons."""
    return _blank_of_pupil(session, CaseDecision, doomed, decision=DESTROYED, reason=DESTROYED)


def erase_tasks(session: Session, doomed: DoomedFile) -> int:
    """The tasks' titles and completion notes."""
    return _blank_of_pupil(
        session, CaseTask, doomed, title=DESTROYED, note=_destroyed_unless_empty(CaseTask.note)
    )


def erase_profile(session: Session, doomed: DoomedFile) -> int:
    """Every version of the safeguarding profile: its statuses, people and professionals."""
    return profile.erase_profile(session, doomed.school_id, doomed.pupil_id, now=doomed.now)


def erase_referrals(session: Session, doomed: DoomedFile) -> int:
    """The referrals on the child's cases: their references and outcomes' words."""
    cases = sa.select(col(Case.id)).where(
        col(Case.school_id) == doomed.school_id, col(Case.pupil_id) == doomed.pupil_id
    )
    referrals = sa.select(col(Referral.id)).where(col(Referral.case_id).in_(cases))
    session.execute(
        sa.update(ReferralOutcome)
        .where(col(ReferralOutcome.referral_id).in_(referrals))
        .values(outcome=DESTROYED)
    )
    return _count(
        session.execute(
            sa.update(Referral).where(col(Referral.case_id).in_(cases)).values(reference=None)
        )
    )


def erase_attachments(session: Session, doomed: DoomedFile) -> int:
    """The files on the child's concerns and cases, removed from the store; their names."""
    return attachments.erase_attachments(
        session,
        doomed.school_id,
        doomed.pupil_id,
        store=doomed.files,
        now=doomed.now,
        only_concerns=doomed.concern_ids,
    )


def erase_body_maps(session: Session, doomed: DoomedFile) -> int:
    """The marks of the body maps on the child's concerns."""
    return body_maps.erase_body_maps(
        session, doomed.school_id, doomed.pupil_id, only_concerns=doomed.concern_ids
    )


def erase_transfers(session: Session, doomed: DoomedFile) -> int:
    """A file sent to or received from another school: the signed bundle kept of it (the
    sending school's copy, and the receiving school's), and each received entry's words
    (its type, dates and who wrote it kept)."""
    sent_or_received = sa.or_(
        sa.and_(
            col(PupilTransfer.from_school_id) == doomed.school_id,
            col(PupilTransfer.pupil_id) == doomed.pupil_id,
        ),
        sa.and_(
            col(PupilTransfer.to_school_id) == doomed.school_id,
            col(PupilTransfer.received_pupil_id) == doomed.pupil_id,
        ),
    )
    bundles = _count(
        session.execute(sa.update(PupilTransfer).where(sent_or_received).values(bundle=""))
    )
    received = session.exec(
        select(TransferReceivedRecord).where(
            col(TransferReceivedRecord.school_id) == doomed.school_id,
            col(TransferReceivedRecord.pupil_id) == doomed.pupil_id,
        )
    ).all()
    for record in received:
        entry = json.loads(record.entry)
        record.entry = json.dumps({"summary": DESTROYED, "by": entry.get("by")})
        session.add(record)
    session.flush()
    return bundles + len(received)


# Every kind of record a child's file holds, in the order they are erased, by the name the
# destruction's answer counts them under. A new kind of record adds its eraser here.
ERASERS: tuple[tuple[str, Eraser], ...] = (
    ("concern", erase_concerns),
    ("addendum", erase_addenda),
    ("triage", erase_triage),
    ("entered_in_error", erase_error_marks),
    ("case", erase_cases),
    ("case_event", erase_case_events),
    ("action", erase_actions),
    ("decision", erase_decisions),
    ("task", erase_tasks),
    ("profile", erase_profile),
    ("referral", erase_referrals),
    ("attachment", erase_attachments),
    ("body_map", erase_body_maps),
    ("transfer", erase_transfers),
)
