"""The chronology's entries: one ``UNION ALL`` over the sources (each arm an index
lookup by school and pupil), keyset pages over it, and the statements that load a page's
rows, one per source."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Subquery, and_, literal_column, or_, union_all
from sqlmodel import col, select

from db.prepared import Prepared
from models.case import CaseAction, CaseDecision, CaseEvent
from models.chronology import ChronologyType
from models.concern import Addendum, Concern
from models.profile import PupilProfileVersion
from models.referral import Referral, ReferralOutcome
from models.task import CaseTask
from models.transfer import TransferReceivedRecord
from models.triage import TriageEvent
from services.concerns.links import about_pupil
from services.pagination import decode_cursor, invalid_cursor

# Links in the chronology point into the API (services do not know the router's prefix;
# api.main mounts everything under this).
API_BASE = "/api/v1"
SUMMARY_MAX = 280

CASE_EVENT_TYPES = {
    "opened": ChronologyType.case_opened,
    "concern_linked": ChronologyType.case_concern_linked,
    "level_changed": ChronologyType.case_level_changed,
    "closed": ChronologyType.case_closed,
    "reopened": ChronologyType.case_reopened,
    "review_changed": ChronologyType.case_review_changed,
    "reassigned": ChronologyType.case_reassigned,
}


def _kind(name: str) -> ColumnElement[str]:
    # A constant of our own, never input.
    return literal_column(f"'{name}'").label("kind")


def _arm(kind: str, entry_id: Any, occurred_at: Any, recorded_at: Any) -> Any:
    """One source's entries, as the union's columns."""
    return select(
        _kind(kind),
        col(entry_id).label("entry_id"),
        col(occurred_at).label("occurred_at"),
        col(recorded_at).label("recorded_at"),
    )


def _entries() -> Subquery:
    """Every entry about the pupil ``:pupil_id`` of the school ``:school_id``: built once
    (building this union per request cost more than running it)."""
    school: sa.BindParameter[uuid.UUID] = sa.bindparam("school_id")
    pupil_id: sa.BindParameter[uuid.UUID] = sa.bindparam("pupil_id")
    # A concern marked entered in error follows its mark (``concerns.links``).
    by_pupil = [
        _arm(kind, table.id, occurred_at, table.recorded_at).join(
            about := about_pupil(school, pupil_id, name=f"about_{kind}"),
            about.c.concern_id == concern_id,
        )
        for kind, table, concern_id, occurred_at in (
            ("concern", Concern, col(Concern.id), col(Concern.observed_at)),
            ("addendum", Addendum, col(Addendum.concern_id), col(Addendum.recorded_at)),
            ("triage", TriageEvent, col(TriageEvent.concern_id), col(TriageEvent.recorded_at)),
        )
    ]
    in_cases = [
        _arm(kind, table.id, occurred_at, table.recorded_at).where(
            table.school_id == school, table.pupil_id == pupil_id
        )
        for kind, table, occurred_at in (
            ("case_event", CaseEvent, col(CaseEvent.recorded_at)),
            ("action", CaseAction, col(CaseAction.occurred_at)),
            ("decision", CaseDecision, col(CaseDecision.decided_at)),
        )
    ]
    # A task is two entries: when it was set, and (once it is) when it was completed.
    in_tasks = [
        _arm("task", CaseTask.id, CaseTask.set_at, CaseTask.set_at).where(
            col(CaseTask.school_id) == school, col(CaseTask.pupil_id) == pupil_id
        ),
        _arm("task_completed", CaseTask.id, CaseTask.completed_at, CaseTask.completed_at).where(
            col(CaseTask.school_id) == school,
            col(CaseTask.pupil_id) == pupil_id,
            col(CaseTask.completed_at).is_not(None),
        ),
    ]
    # A child's context (issue 20): each profile version when written, each referral when
    # made, each of its outcomes when it came.
    about_child = [
        _arm(kind, table.id, occurred_at, table.recorded_at).where(
            table.school_id == school, table.pupil_id == pupil_id
        )
        for kind, table, occurred_at in (
            ("profile", PupilProfileVersion, col(PupilProfileVersion.recorded_at)),
            ("referral", Referral, col(Referral.made_at)),
            ("referral_outcome", ReferralOutcome, col(ReferralOutcome.outcome_at)),
        )
    ]
    # A file received from the child's previous school: each of its entries (issue 21).
    received = _arm(
        "received",
        TransferReceivedRecord.id,
        TransferReceivedRecord.occurred_at,
        TransferReceivedRecord.recorded_at,
    ).where(
        col(TransferReceivedRecord.school_id) == school,
        col(TransferReceivedRecord.pupil_id) == pupil_id,
    )
    return union_all(*by_pupil, *in_cases, *in_tasks, *about_child, received).subquery("entry")


_ENTRIES = _entries()


def _entry_pages(*, after: bool, limited: bool) -> Prepared:
    """A page of ``_ENTRIES``, in order: after the position ``:after_occurred_at``,
    ``:after_recorded_at``, ``:after_id`` (a cursor's) when ``after``, and at most
    ``:page_limit`` rows when ``limited``."""
    entries = _ENTRIES
    occurred, recorded, entry = entries.c.occurred_at, entries.c.recorded_at, entries.c.entry_id
    query = sa.select(entries.c.kind, entry, occurred, recorded).order_by(occurred, recorded, entry)
    if after:
        occurred_at: sa.BindParameter[datetime] = sa.bindparam("after_occurred_at")
        recorded_at: sa.BindParameter[datetime] = sa.bindparam("after_recorded_at")
        query = query.where(
            or_(
                occurred > occurred_at,
                and_(
                    occurred == occurred_at,
                    or_(
                        recorded > recorded_at,
                        and_(recorded == recorded_at, entry > sa.bindparam("after_id")),
                    ),
                ),
            )
        )
    if limited:
        query = query.limit(sa.bindparam("page_limit", type_=sa.Integer))
    return Prepared(query)


# Built once, for (after a cursor, limited): a page and the whole (the export).
ENTRY_PAGES = {
    (after, limited): _entry_pages(after=after, limited=limited)
    for after in (False, True)
    for limited in (False, True)
}


def cursor_position(cursor: str) -> dict[str, Any]:
    """The position a cursor holds, as the parameters of ``_entry_pages(after=True)``."""
    position = decode_cursor(cursor, fields=("occurred_at", "recorded_at", "id"))
    try:
        occurred_at = datetime.fromisoformat(str(position["occurred_at"]))
        recorded_at = datetime.fromisoformat(str(position["recorded_at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if occurred_at.tzinfo is None or recorded_at.tzinfo is None:
        raise invalid_cursor()
    return {
        "after_occurred_at": occurred_at,
        "after_recorded_at": recorded_at,
        "after_id": after_id,
    }


def _by_id(model: Any) -> Prepared:
    table: sa.Table = model.__table__
    return Prepared(sa.select(table).where(table.c.id.in_(sa.bindparam("ids", expanding=True))))


def _outcomes_by_id() -> Prepared:
    """Referral outcomes with their referral's agency and reference."""
    outcomes: sa.Table = ReferralOutcome.__table__  # type: ignore[attr-defined]
    referrals: sa.Table = Referral.__table__  # type: ignore[attr-defined]
    return Prepared(
        sa.select(outcomes, referrals.c.agency, referrals.c.reference)
        .join_from(outcomes, referrals, referrals.c.id == outcomes.c.referral_id)
        .where(outcomes.c.id.in_(sa.bindparam("ids", expanding=True)))
    )


# The rows of a page's entries of each source but concerns (``concerns.add_pupil_outlines``).
SOURCES = {
    "addendum": _by_id(Addendum),
    "triage": _by_id(TriageEvent),
    "case_event": _by_id(CaseEvent),
    "action": _by_id(CaseAction),
    "decision": _by_id(CaseDecision),
    "task": _by_id(CaseTask),
    "task_completed": _by_id(CaseTask),
    "profile": _by_id(PupilProfileVersion),
    "referral": _by_id(Referral),
    "referral_outcome": _outcomes_by_id(),
    "received": _by_id(TransferReceivedRecord),
}


# At most this many ids in one IN list: an export's whole chronology may list thousands of
# one kind, and SQLite takes at most 32,766 parameters in a statement.
IDS_PER_QUERY = 1024


def padded(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """``ids`` with its last id repeated up to the next power of two: an ``IN`` list of the
    same ids, but one SQL text per power of two, not one per length (a prepared statement
    keeps the text for each length it is given)."""
    size = 1 << (len(ids) - 1).bit_length()
    return ids + [ids[-1]] * (size - len(ids))


def id_lists(ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
    """``ids`` as padded ``IN`` lists of at most ``IDS_PER_QUERY``."""
    return [padded(ids[i : i + IDS_PER_QUERY]) for i in range(0, len(ids), IDS_PER_QUERY)]
