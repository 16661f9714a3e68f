"""Appending to the audit log, in the caller's transaction: one school's chain, its head
locked for the rest of the transaction."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from db.batch import Batch, sent_together
from db.prepared import Prepared
from db.unit_of_work import UnitOfWork
from models.audit import GENESIS_HASH, AuditChainHead, AuditEvent, AuditEventPupil
from services.actor import Actor
from services.audit.chain import link

if TYPE_CHECKING:
    # Only for annotations: services.context imports this module.
    pass

# Actions, outcomes and entity types are a fixed vocabulary of slugs ("concern.read",
# "denied"), never prose: refusing anything else here is what keeps free text (a name, a
# sentence from a concern) out of the audit table whoever calls record().
_SLUG = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")

_EVENT_TABLE: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD_TABLE: sa.Table = AuditChainHead.__table__  # type: ignore[attr-defined]
_PUPIL_TABLE: sa.Table = AuditEventPupil.__table__  # type: ignore[attr-defined]
# Built once: they run on every audited request.
# By COPY on PostgreSQL from COPY_FROM_ROWS events (a batch of an MIS sync's, a closed
# case's concerns): they hold ids and slugs only.
_INSERT_EVENTS = Prepared(sa.insert(_EVENT_TABLE), copy_on_postgresql=True)
# A page's pupils: in the pipeline with its event and the head's move (a page of 50
# concerns has ~45; COPY would cost a round trip of its own).
_INSERT_PUPILS = Prepared(sa.insert(_PUPIL_TABLE))
_LOCK_HEAD = Prepared(
    sa.select(_HEAD_TABLE.c.seq, _HEAD_TABLE.c.hash)
    .where(_HEAD_TABLE.c.school_id == sa.bindparam("school_id"))
    .with_for_update()
)
_MOVE_HEAD = Prepared(
    sa.update(_HEAD_TABLE)
    .where(_HEAD_TABLE.c.school_id == sa.bindparam("head_school_id"))
    .values(seq=sa.bindparam("head_seq"), hash=sa.bindparam("head_hash"))
)


def start_chain(session: Session, *, school_id: uuid.UUID) -> None:
    """Create a school's empty chain (done once, when the school is created)."""
    session.add(AuditChainHead(school_id=school_id, seq=0, hash=GENESIS_HASH))
    # Read again from the database before the next append.
    _locked_heads(session).pop(school_id, None)


def _check_vocabulary(**values: str | None) -> None:
    for name, value in values.items():
        if value is not None and not _SLUG.match(value):
            raise ValueError(f"audit {name} must be a lower-case slug, not free text")


@dataclass(frozen=True)
class AuditEntry:
    """One event to append with ``record_many``: what was done, to what, about which child."""

    action: str
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    pupil_id: uuid.UUID | None = None
    outcome: str = "success"
    # How many occurrences the event stands for (a count of security probes); None: one.
    occurrences: int | None = None
    # The hex SHA-256 of a file the event records (an attachment), covered by its hash.
    digest: str | None = None
    # The pupils on a page of a list the event records (``record_page``), besides
    # ``pupil_id``: rows of ``audit_event_pupil``, covered by its hash. Sorted, distinct.
    pupil_ids: tuple[uuid.UUID, ...] = ()


# The lists ``capturing`` blocks collect into, in the session's own ``info`` (kept across
# its savepoints, unlike the transaction memo).
_CAPTURES = "concernlog.audit.captures"


@contextmanager
def capturing(session: Session) -> Iterator[list[AuditEntry]]:
    """The entries appended in ``session`` inside the block, in order (as given to
    ``record_many``): what a request recorded, for an idempotent create to record again
    when it is replayed (``services.idempotency``)."""
    captures: list[list[AuditEntry]] = session.info.setdefault(_CAPTURES, [])
    entries: list[AuditEntry] = []
    captures.append(entries)
    try:
        yield entries
    finally:
        captures.remove(entries)


def _locked_heads(session: Session) -> dict[uuid.UUID, tuple[int, str]]:
    """The chain heads this transaction has locked, by school: kept in the unit of work's
    memo for the transaction (``UnitOfWork.transaction_memo``), forgotten when it or a
    savepoint ends (a rolled-back savepoint may have taken appends with it, so the next
    append reads the head again)."""
    if not isinstance(session, UnitOfWork):
        raise TypeError("the audit chain is appended to in a unit of work (Database.session)")
    memo = session.transaction_memo()
    heads: dict[uuid.UUID, tuple[int, str]] | None = memo.get(_LOCKED_HEADS)
    if heads is None:
        heads = memo[_LOCKED_HEADS] = {}
    return heads


# The memo's key for them: this module's own, no other layer can collide with it.
_LOCKED_HEADS = object()


def _lock_head(session: Session, school_id: uuid.UUID) -> tuple[int, str]:
    """The school's chain head, locked for the rest of this transaction.

    The first append of a transaction reads it ``SELECT ... FOR UPDATE`` (SQLite's
    transactions already hold the write lock from ``BEGIN IMMEDIATE``); no other
    transaction can move it until this one ends, so later appends in the same transaction
    continue from the values this one wrote, without reading it again."""
    heads = _locked_heads(session)
    head = heads.get(school_id)
    if head is None:
        # Columns, not the ORM object: a copy of the head cached in the session's identity
        # map must never win over the locked read. A head added in this session (a new
        # school) is flushed first.
        session.flush()
        head = _keep_head(session, school_id, _LOCK_HEAD.rows(session, {"school_id": school_id}))
    return head


def lock_chain_head(session: Session, *, school_id: uuid.UUID) -> None:
    """Lock the school's chain head for the rest of this transaction now, before an
    append: for work that must be serialised with every other append of the school (a
    count kept beside the chain, ``services.audit.probes``)."""
    _lock_head(session, school_id)


def _keep_head(session: Session, school_id: uuid.UUID, rows: list[Any]) -> tuple[int, str]:
    if not rows:
        raise sa.exc.NoResultFound(f"school {school_id} has no audit chain")
    ((seq, hash_),) = rows
    head = _locked_heads(session)[school_id] = (int(seq), str(hash_))
    return head


# The head's rows in a batch the audit layer sends with a caller's (a name no caller uses).
_LOCKED_HEAD_ROWS = "audit.chain_head"


def read_with_head_locked(
    session: Session, *, school_id: uuid.UUID, batch: Batch
) -> dict[str, list[Any]]:
    """``batch``'s rows by name (as ``Batch.run`` reads them), with the school's chain head
    locked for this transaction's next append (see ``_lock_head``) in the same round trip
    on PostgreSQL: for a request that reads what it is about to record, so that recording
    it costs one round trip more, not two. The head is locked first, so the queries see
    everything the head's previous holders committed (each statement of a READ COMMITTED
    transaction reads what was committed when it began): what a request shows and records
    is what its place in the chain says it saw. The head is locked whatever the queries
    find (a request that then finds nothing to show, or refuses, records nothing and
    releases it when its transaction ends)."""
    if school_id in _locked_heads(session):
        return batch.run(session)
    session.flush()
    found = (
        Batch().add(_LOCKED_HEAD_ROWS, _LOCK_HEAD, {"school_id": school_id}).include(batch)
    ).run(session)
    _keep_head(session, school_id, found.pop(_LOCKED_HEAD_ROWS))
    return found


def record_many(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    entries: Sequence[AuditEntry],
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    """Append ``entries``, in order, to the acting school's chain, in the caller's
    transaction: exactly the rows (sequence numbers, links, hashes) that as many
    ``record`` calls would append, with one lock of the chain head, one multi-row INSERT
    (per 62 events) and one head update.

    The chain head row is locked (see ``_lock_head``) so that concurrent appends are
    serialised and sequence numbers never repeat or skip. ``action``, ``entity_type`` and
    ``outcome`` must be slugs (``ValueError`` otherwise, before anything is written). An
    entry's ``pupil_ids`` go in ``audit_event_pupil`` in the same round trip.
    Returns the events' rows written, as column values."""
    if not entries:
        return []
    for entry in entries:
        _check_vocabulary(action=entry.action, entity_type=entry.entity_type, outcome=entry.outcome)
    school_id = actor.school_id
    head_seq, head_hash = _lock_head(session, school_id)
    rows: list[dict[str, Any]] = [
        {
            "school_id": school_id,
            "occurred_at": now,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "actor_role": actor.role,
            "action": entry.action,
            "entity_type": entry.entity_type,
            "entity_id": entry.entity_id,
            "pupil_id": entry.pupil_id,
            "request_id": request_id,
            "run_id": run_id,
            "outcome": entry.outcome,
            "occurrences": entry.occurrences,
            "digest": entry.digest,
        }
        for entry in entries
    ]
    listed = [
        (row, tuple(sorted(set(entry.pupil_ids))) if entry.pupil_ids else ())
        for row, entry in zip(rows, entries, strict=True)
    ]
    for row, pupil_ids in listed:
        if pupil_ids:
            row["pupil_ids"] = pupil_ids  # hashed by ``link``, not a column
    seq, prev_hash = link(rows, after_seq=head_seq, after_hash=head_hash)
    pupils: list[dict[str, Any]] = []
    for row, pupil_ids in listed:
        if pupil_ids:
            del row["pupil_ids"]
            pupils.extend(
                {"school_id": school_id, "seq": row["seq"], "pupil_id": pupil_id}
                for pupil_id in pupil_ids
            )
    # Core statements on the tables: the ORM's unit of work (object state, identity map,
    # flush ordering) cost more than the SQL itself for these append-only rows.
    # The events, a page's pupils and the head's move in one round trip on PostgreSQL
    # (but for a COPY).
    with sent_together(session, when=not _INSERT_EVENTS.copies(len(rows))):
        _INSERT_EVENTS.insert_many(session, rows)
        if pupils:  # an insert of nothing would insert one empty row
            _INSERT_PUPILS.insert_many(session, pupils)
        _MOVE_HEAD.run(
            session, {"head_school_id": school_id, "head_seq": seq, "head_hash": prev_hash}
        )
    _locked_heads(session)[school_id] = (seq, prev_hash)
    for capture in session.info.get(_CAPTURES, ()):
        capture.extend(entries)
    # A copy of the head in the session's identity map (a school created in this
    # transaction) is brought up to date without being marked changed.
    cached = session.identity_map.get(identity_key(AuditChainHead, school_id))
    if cached is not None:
        set_committed_value(cached, "seq", seq)
        set_committed_value(cached, "hash", prev_hash)
    return rows


def record_per_pupil(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    request_id: str | None,
    entity_type: str,
    entity_id: uuid.UUID | None,
    pupil_ids: Iterable[uuid.UUID | None],
    outcome: str = "success",
) -> None:
    """One ``action`` event per pupil (``record_many``): what was done to one record about
    several children (a concern read, an addendum) is in each one's trail. A page of a
    list is ``record_page``'s: one event, whatever the children on it."""
    record_many(
        session,
        actor=actor,
        now=now,
        request_id=request_id,
        entries=[
            AuditEntry(
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                pupil_id=pupil_id,
                outcome=outcome,
            )
            for pupil_id in pupil_ids
        ],
    )


def record_page(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    request_id: str | None,
    entity_type: str,
    entity_id: uuid.UUID | None = None,
    pupil_id: uuid.UUID | None = None,
    pupil_ids: Iterable[uuid.UUID | None],
    outcome: str = "success",
) -> None:
    """ONE ``action`` event for a page of a list (concerns, cases, tasks, the inbox...),
    whatever the children on it: their ids (distinct, sorted, ``None`` dropped) in
    ``audit_event_pupil``, covered by the event's hash, where "who has seen this child's
    records" finds them with the events about the child alone (``list_events``, ADR
    0126). ``pupil_id``: the one child the page is about, if it is about one (a child's
    links to others); it is not repeated among the others. An empty page is one event
    about no child."""
    others = tuple(sorted({p for p in pupil_ids if p is not None and p != pupil_id}))
    record_many(
        session,
        actor=actor,
        now=now,
        request_id=request_id,
        entries=[
            AuditEntry(
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                pupil_id=pupil_id,
                outcome=outcome,
                pupil_ids=others,
            )
        ],
    )


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    pupil_id: uuid.UUID | None = None,
    request_id: str | None = None,
    run_id: uuid.UUID | None = None,
    outcome: str = "success",
) -> AuditEvent:
    """Append one event to the acting school's chain, in the caller's transaction (see
    ``record_many``, which this is with one entry). ``action``, ``entity_type`` and
    ``outcome`` must be slugs (``ValueError`` otherwise). Returns the event as written
    (not attached to the session)."""
    (row,) = record_many(
        session,
        actor=actor,
        now=now,
        entries=[
            AuditEntry(
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                pupil_id=pupil_id,
                outcome=outcome,
            )
        ],
        request_id=request_id,
        run_id=run_id,
    )
    return AuditEvent(**row)
