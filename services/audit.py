"""The audit log: append in the caller's transaction, read, and verify the hash chain."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from db.batch import Batch, rows_together, sent_together
from db.prepared import Prepared
from db.unit_of_work import UnitOfWork
from models.audit import GENESIS_HASH, AuditChainHead, AuditEvent, AuditVerification
from models.base import new_id
from services import pagination

if TYPE_CHECKING:
    # Only for annotations: services.context imports this module.
    from services.context import RequestContext

# Actions, outcomes and entity types are a fixed vocabulary of slugs ("concern.read",
# "denied"), never prose: refusing anything else here is what keeps free text (a name, a
# sentence from a concern) out of the audit table whoever calls record().
_SLUG = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")

# Rows fetched per query when verifying, so that a chain of millions of events is walked
# in constant memory.
VERIFY_BATCH_SIZE = 5000

_EVENT_TABLE: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD_TABLE: sa.Table = AuditChainHead.__table__  # type: ignore[attr-defined]
# Built once: building a statement per append cost a quarter of the append.
# By COPY on PostgreSQL: a page appends ~45 events, and they hold ids and slugs only.
_INSERT_EVENTS = Prepared(sa.insert(_EVENT_TABLE), copy_on_postgresql=True)
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

# Every field the hash covers (all but the row's own id and hash), in the order they are read.
_HASHED_FIELDS = (
    "school_id",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "pupil_id",
    "request_id",
    "run_id",
    "outcome",
    "prev_hash",
)


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit log records them: ids and role only."""

    type: str  # "user", "service" or "system"
    id: uuid.UUID | None
    role: str | None
    school_id: uuid.UUID


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first; ``next_cursor`` is None on the last page."""

    items: list[AuditEvent]
    next_cursor: str | None


def _string(value: str | None) -> str:
    # What json.dumps writes for a string (escaped, ASCII only) or None.
    return "null" if value is None else encode_basestring_ascii(value)


def _id(value: uuid.UUID | None) -> str:
    # A UUID's text needs no escaping.
    return "null" if value is None else f'"{value}"'


def _canonical(values: Mapping[Any, Any]) -> bytes:
    """The bytes an event's hash covers: every hashed field as JSON, keys sorted, no
    spaces, ASCII only (exactly ``json.dumps(fields, sort_keys=True, separators=(",",
    ":"))``, which the first chains were hashed with; the tests hold the two together),
    written field by field in that order: a third of the time ``json.dumps`` takes, for
    the ~45 events a page of concerns appends. Timestamps are hashed in UTC: the database
    hands them back in UTC, so a caller's "now" in another offset hashes as it reads back."""
    occurred_at = values["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return (
        f'{{"action":{_string(values["action"])},"actor_id":{_id(values["actor_id"])},'
        f'"actor_role":{_string(values["actor_role"])},'
        f'"actor_type":{_string(values["actor_type"])},'
        f'"entity_id":{_id(values["entity_id"])},"entity_type":{_string(values["entity_type"])},'
        f'"occurred_at":"{occurred_at}","outcome":{_string(values["outcome"])},'
        f'"prev_hash":{_string(values["prev_hash"])},"pupil_id":{_id(values["pupil_id"])},'
        f'"request_id":{_string(values["request_id"])},"run_id":{_id(values["run_id"])},'
        f'"school_id":"{values["school_id"]}","seq":{int(values["seq"])}}}'
    ).encode("ascii")


def _hash_of(values: Mapping[Any, Any]) -> str:
    return hashlib.sha256(_canonical(values)).hexdigest()


def link(rows: Sequence[dict[str, Any]], *, after_seq: int, after_hash: str) -> tuple[int, str]:
    """Chain ``rows`` (column values of one school's events, oldest first, without
    ``seq``, ``prev_hash``, ``hash`` or ``id``) after the event ``after_seq`` whose hash is
    ``after_hash``: fills those four in, exactly as appending them one by one would.
    Returns the new head (last sequence number and hash). Bulk writers (a data seeder)
    use it to write rows that ``verify_chain`` accepts."""
    seq, prev_hash = after_seq, after_hash
    for values in rows:
        seq += 1
        values["seq"] = seq
        values["prev_hash"] = prev_hash
        prev_hash = _hash_of(values)
        values["hash"] = prev_hash
        values["id"] = new_id()
    return seq, prev_hash


def event_hash(event: AuditEvent) -> str:
    return _hash_of({name: getattr(event, name) for name in _HASHED_FIELDS})


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


def _keep_head(session: Session, school_id: uuid.UUID, rows: list[Any]) -> tuple[int, str]:
    if not rows:
        raise sa.exc.NoResultFound(f"school {school_id} has no audit chain")
    ((seq, hash_),) = rows
    head = _locked_heads(session)[school_id] = (int(seq), str(hash_))
    return head


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
    head, *found = rows_together(
        session, [(_LOCK_HEAD, {"school_id": school_id}), *batch.queries()]
    )
    _keep_head(session, school_id, head)
    return batch.found(found)


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
    ``outcome`` must be slugs (``ValueError`` otherwise, before anything is written).
    Returns the rows written, as column values."""
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
        }
        for entry in entries
    ]
    seq, prev_hash = link(rows, after_seq=head_seq, after_hash=head_hash)
    # Core statements on the tables: the ORM's unit of work (object state, identity map,
    # flush ordering) cost more than the SQL itself for these append-only rows.
    # The events and the head's move in one round trip on PostgreSQL (but for a COPY).
    with sent_together(session, when=not _INSERT_EVENTS.copies(len(rows))):
        _INSERT_EVENTS.insert_many(session, rows)
        _MOVE_HEAD.run(
            session, {"head_school_id": school_id, "head_seq": seq, "head_hash": prev_hash}
        )
    _locked_heads(session)[school_id] = (seq, prev_hash)
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
    """One ``action`` event per pupil (``record_many``): what was done about several
    children is in each one's trail ("who has seen this child's records" is one query)."""
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


# --- reading ---------------------------------------------------------------------------------


def _seq_from_cursor(cursor: str) -> int:
    """The sequence number a cursor continues below; 422 for anything we did not issue."""
    seq = pagination.decode_cursor(cursor, fields=("seq",))["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise pagination.invalid_cursor()
    return seq


def list_events(
    session: Session,
    context: RequestContext,
    *,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    pupil_id: uuid.UUID | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AuditPage:
    """The caller's school's audit events, newest first (by sequence number), filtered.

    For audit readers (dsl, deputy_dsl, admin; the router guards the role). Only the
    caller's school is ever visible. ``occurred_from`` is inclusive and ``occurred_to``
    exclusive. The read itself is recorded as ``audit.read`` (with the pupil filter, if
    any: who looked at the trail of which child) after the page is taken, so it appears
    on the next read, not this one."""
    principal, now, request_id = context.principal, context.now, context.request_id
    query = select(AuditEvent).where(AuditEvent.school_id == principal.school_id)
    if cursor is not None:
        query = query.where(AuditEvent.seq < _seq_from_cursor(cursor))
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if entity_type is not None:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if pupil_id is not None:
        query = query.where(AuditEvent.pupil_id == pupil_id)
    if occurred_from is not None:
        query = query.where(col(AuditEvent.occurred_at) >= occurred_from)
    if occurred_to is not None:
        query = query.where(col(AuditEvent.occurred_at) < occurred_to)
    # One extra row tells whether another page follows without a count query.
    rows = list(session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(limit + 1)))
    items = rows[:limit]
    next_cursor = pagination.encode_cursor({"seq": items[-1].seq}) if len(rows) > limit else None
    record(
        session,
        actor=principal.actor,
        action="audit.read",
        now=now,
        entity_type="audit_log",
        pupil_id=pupil_id,
        request_id=request_id,
    )
    return AuditPage(items=items, next_cursor=next_cursor)


# --- verifying -------------------------------------------------------------------------------


def _events_from(
    session: Session, *, school_id: uuid.UUID, through_seq: int, batch_size: int
) -> Iterator[sa.RowMapping]:
    """Every event of the school with seq <= ``through_seq``, in seq order, a batch per
    query (keyset on the (school_id, seq) unique index: no OFFSET, no ORM objects)."""
    columns = [col(getattr(AuditEvent, name)) for name in (*_HASHED_FIELDS, "hash")]
    # The session's own connection (same transaction), with Core rows: SQLModel's exec()
    # has no typing for a 15-column select.
    connection = session.connection()
    after = 0
    while True:
        batch = connection.execute(
            sa.select(*columns)
            .where(col(AuditEvent.school_id) == school_id)
            .where(col(AuditEvent.seq) > after)
            .where(col(AuditEvent.seq) <= through_seq)
            .order_by(col(AuditEvent.seq))
            .limit(batch_size)
        ).all()
        for row in batch:
            yield row._mapping
        if len(batch) < batch_size:
            return
        after = batch[-1].seq


def _head(session: Session, *, school_id: uuid.UUID) -> tuple[int, str]:
    # Columns, not the ORM object: a head cached in the session would hide later appends.
    row = session.exec(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.school_id == school_id)
    ).one()
    return row[0], row[1]


def verify_chain(
    session: Session, *, school_id: uuid.UUID, batch_size: int = VERIFY_BATCH_SIZE
) -> AuditVerification:
    """Walk one school's chain in sequence order and say whether it is intact.

    Every event must carry the next sequence number (1, 2, ... without a gap), link to
    the previous event's hash (the first to the genesis hash) and hash to its stored
    ``hash``; the chain head must name the last event. Stops at the first break and
    reports its sequence number (for a missing row, the number that is missing);
    ``events_checked`` counts the rows read up to there. Reads only; runs in constant
    memory, ``batch_size`` rows per query.

    The head is read first and only events up to it are walked, so appends committed
    while a long walk runs (PostgreSQL) neither break nor lengthen the verification."""
    head_seq, head_hash = _head(session, school_id=school_id)
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in _events_from(
        session, school_id=school_id, through_seq=head_seq, batch_size=batch_size
    ):
        checked += 1
        if event["seq"] != expected_seq:
            return AuditVerification(ok=False, events_checked=checked, first_bad_seq=expected_seq)
        if event["prev_hash"] != prev_hash or _hash_of(event) != event["hash"]:
            return AuditVerification(ok=False, events_checked=checked, first_bad_seq=expected_seq)
        prev_hash = event["hash"]
        expected_seq += 1
    if expected_seq - 1 != head_seq:
        # Rows at the end of the chain are missing: the head names a later event.
        return AuditVerification(ok=False, events_checked=checked, first_bad_seq=expected_seq)
    if prev_hash != head_hash:
        return AuditVerification(ok=False, events_checked=checked, first_bad_seq=head_seq or 1)
    # A row beyond the head was never appended through record(). Read the newest row
    # before re-reading the head so that a legitimate append in between is not mistaken
    # for one.
    newest = session.exec(
        select(AuditEvent.seq)
        .where(AuditEvent.school_id == school_id)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    if newest is not None and newest > head_seq:
        head_seq, _ = _head(session, school_id=school_id)
        if newest > head_seq:
            return AuditVerification(ok=False, events_checked=checked, first_bad_seq=head_seq + 1)
    return AuditVerification(ok=True, events_checked=checked, first_bad_seq=None)


def check_chain(session: Session, context: RequestContext) -> AuditVerification:
    """Verify the caller's school's chain (see ``verify_chain``) for an audit reader, and
    record that they did (``audit.verify``, outcome ``failure`` when it is broken)."""
    principal, now, request_id = context.principal, context.now, context.request_id
    result = verify_chain(session, school_id=principal.school_id)
    record(
        session,
        actor=principal.actor,
        action="audit.verify",
        now=now,
        entity_type="audit_log",
        request_id=request_id,
        outcome="success" if result.ok else "failure",
    )
    return result
