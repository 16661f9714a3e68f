"""Refused and not-found requests for safeguarding records, audited as security events
(docs/adr/0060-security-probes-audited-and-bounded.md).

A caller who asks for a concern, a case or a child's file that they may not have (a 403
for their role) or that is not there for them (the 404 of "not yours" and "not there",
which are never told apart) leaves a ``security.probe`` event: the actor, the kind of
record, the id asked for and the outcome (``refused`` or ``not_found``), ids only.

So that probing cannot flood the chain, one actor's probes of one kind are counted per
minute (``audit_probe_window``): the first ``RECORDED_PER_WINDOW`` of a minute are events
of their own; once the minute has closed, a minute that had more leaves one
``security.probe_summary`` event whose ``occurrences`` is the minute's whole count. The
summary is written by the next probe of the school, or before the log is read
(``GET /audit``) or a checkpoint is signed, whichever comes first.

The request itself fails and its transaction rolls back (a 404 must leave nothing of
what the request did). The event is its error's ``aftermath``: the unit of work runs it
in a short transaction of its own after the rollback and commits it before the answer
goes out, the same for "not yours" as for "not there".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlmodel import Session, col, select

from core.errors import DomainError, Forbidden, NotFound
from models.audit import AuditProbeWindow
from services.actor import Actor
from services.audit.recording import AuditEntry, lock_chain_head, record_many
from services.context import RequestContext

# A minute per window, and the events of their own each may have.
WINDOW = timedelta(minutes=1)
RECORDED_PER_WINDOW = 10

PROBE = "security.probe"
SUMMARY = "security.probe_summary"
REFUSED = "refused"
NOT_FOUND = "not_found"

E = TypeVar("E", bound=DomainError)


@dataclass(frozen=True)
class Probe:
    """One refused or not-found request: who, for what kind of record, which id (None
    for a list), how it was answered, when, and the request's id."""

    actor: Actor
    kind: str
    record_id: uuid.UUID | None
    outcome: str
    now: datetime
    request_id: str | None


def noted(
    error: E,
    *,
    actor: Actor,
    now: datetime,
    request_id: str | None,
    kind: str,
    record_id: uuid.UUID | None,
) -> E:
    """``error`` (a refusal or a not-found), which will leave a probe event of ``kind``
    for ``record_id`` once the request's transaction has rolled back. Returns it."""
    probe = Probe(
        actor=actor,
        kind=kind,
        record_id=record_id,
        outcome=REFUSED if isinstance(error, Forbidden) else NOT_FOUND,
        now=now,
        request_id=request_id,
    )
    return error.then(lambda session: record_probe(session, probe))


@contextmanager
def watched(context: RequestContext, *, kind: str, record_id: uuid.UUID | None) -> Iterator[None]:
    """A block that looks up a safeguarding record of ``kind`` by ``record_id`` for the
    caller: a 404 or 403 it raises is noted as a probe (``noted``). An outer block's
    note wins over an inner one's (the record the request was for)."""
    try:
        yield
    except (NotFound, Forbidden) as refused:
        noted(
            refused,
            actor=context.actor,
            now=context.now,
            request_id=context.request_id,
            kind=kind,
            record_id=record_id,
        )
        raise


def _window_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def record_probe(session: Session, probe: Probe) -> None:
    """Count ``probe`` in its actor's window for its kind and, while the window has had no
    more than ``RECORDED_PER_WINDOW``, append its own event. Closed windows of the school
    are summarised first. Serialised with every other append of the school (the chain
    head is locked before the windows are read), so two probes at once count twice."""
    school_id = probe.actor.school_id
    lock_chain_head(session, school_id=school_id)
    _summarise_closed(session, school_id=school_id, now=probe.now)
    start = _window_start(probe.now)
    window = session.exec(
        select(AuditProbeWindow).where(
            AuditProbeWindow.school_id == school_id,
            AuditProbeWindow.actor_id == probe.actor.id,
            AuditProbeWindow.kind == probe.kind,
            AuditProbeWindow.window_start == start,
        )
    ).one_or_none()
    if window is None:
        assert probe.actor.id is not None  # a probe has an authenticated actor
        window = AuditProbeWindow(
            school_id=school_id,
            actor_type=probe.actor.type,
            actor_id=probe.actor.id,
            actor_role=probe.actor.role,
            kind=probe.kind,
            window_start=start,
            probes=0,
        )
    window.probes += 1
    session.add(window)
    if window.probes <= RECORDED_PER_WINDOW:
        record_many(
            session,
            actor=probe.actor,
            now=probe.now,
            request_id=probe.request_id,
            entries=[
                AuditEntry(
                    action=PROBE,
                    entity_type=probe.kind,
                    entity_id=probe.record_id,
                    outcome=probe.outcome,
                )
            ],
        )
    session.flush()


def summarise_closed_windows(session: Session, *, school_id: uuid.UUID, now: datetime) -> None:
    """Put the counts of the school's closed probe windows in the chain (for a reader of
    the log, or a checkpoint, about to rely on it). Reads one row when there are none;
    otherwise locks the chain head first, as ``record_probe`` does."""
    due = session.exec(
        select(AuditProbeWindow.id)
        .where(
            AuditProbeWindow.school_id == school_id,
            col(AuditProbeWindow.window_start) <= now - WINDOW,
        )
        .limit(1)
    ).first()
    if due is None:
        return
    lock_chain_head(session, school_id=school_id)
    _summarise_closed(session, school_id=school_id, now=now)


def _summarise_closed(session: Session, *, school_id: uuid.UUID, now: datetime) -> None:
    """With the chain head locked: one ``security.probe_summary`` per closed window that
    had more probes than events of their own, dated when the window closed and stating
    its whole count; then every closed window is deleted."""
    closed = session.exec(
        select(AuditProbeWindow)
        .where(
            AuditProbeWindow.school_id == school_id,
            col(AuditProbeWindow.window_start) <= now - WINDOW,
        )
        .order_by(col(AuditProbeWindow.window_start), col(AuditProbeWindow.id))
    ).all()
    for window in closed:
        if window.probes > RECORDED_PER_WINDOW:
            record_many(
                session,
                actor=Actor(
                    type=window.actor_type,
                    id=window.actor_id,
                    role=window.actor_role,
                    school_id=school_id,
                ),
                now=window.window_start + WINDOW,
                entries=[
                    AuditEntry(
                        action=SUMMARY,
                        entity_type=window.kind,
                        outcome="denied",
                        occurrences=window.probes,
                    )
                ],
            )
        session.delete(window)
    if closed:
        session.flush()
