"""Evaluating the rules: in the worker, for the pupils of concerns just logged.

A concern's own transaction queues its pupils (``concern_logged``: one row each in
``pattern_queue``, and its location's matching key); the worker, in its publishing
transaction, takes a batch of the queue, looks at each pupil once (``evaluate_pupil``)
and deletes what it took. Looking at a pupil reads that pupil's concerns of the last two
windows only (``evidence.pupil_signs``): the cost of a concern logged does not grow with
the school.

A rule that fires for a pupil with no flag of that rule raises one (open), alerts the
DSL desk (``flag.raised``: ids and times only) and is audited (``flag.raise``). An open
flag takes new evidence quietly. An acknowledged flag stays acknowledged while its
evidence adds nothing to what it was acknowledged with; new evidence reopens it, alerted
and audited (``flag.reopen``). Nothing here changes a concern.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from db.prepared import Prepared
from models.base import new_id
from models.link import ConcernPlace, EntityKind, label_key
from models.pattern import (
    NO_INDICATOR,
    FlagStatus,
    PatternFlag,
    PatternFlagEvidence,
    PatternQueue,
    PatternRule,
)
from services import audit
from services.actor import Actor
from services.alerts.events import FLAG_RAISED, emit
from services.patterns.evidence import Sign, pupil_signs
from services.patterns.settings import Rules, rules_of

QUEUE: sa.Table = PatternQueue.__table__  # type: ignore[attr-defined]
FLAGS: sa.Table = PatternFlag.__table__  # type: ignore[attr-defined]
EVIDENCE: sa.Table = PatternFlagEvidence.__table__  # type: ignore[attr-defined]
PLACES: sa.Table = ConcernPlace.__table__  # type: ignore[attr-defined]

# Queue rows taken per pass.
QUEUE_BATCH = 500

_INSERT_QUEUE = Prepared(sa.insert(QUEUE))
_INSERT_PLACE = Prepared(sa.insert(PLACES))

Key = tuple[uuid.UUID, str]  # (concern_id, indicator id or NO_INDICATOR)


def concern_logged(
    session: Session,
    *,
    school_id: uuid.UUID,
    concern_id: uuid.UUID,
    pupil_ids: Sequence[uuid.UUID],
    location: str | None,
    now: datetime,
) -> None:
    """In the concern's transaction (inside the caller's ``sent_together``): queue its
    pupils for the worker to look at, and keep its location's matching key."""
    _INSERT_QUEUE.insert_many(
        session,
        [
            {"concern_id": concern_id, "pupil_id": p, "school_id": school_id, "queued_at": now}
            for p in pupil_ids
        ],
    )
    key = label_key(EntityKind.place.value, location) if location else ""
    if key:
        _INSERT_PLACE.run(
            session, {"concern_id": concern_id, "school_id": school_id, "place_key": key}
        )


@dataclass(frozen=True)
class Firing:
    """A rule that fired, and the signs that made it."""

    rule: PatternRule
    evidence: frozenset[Key]


def fired(rules: Rules, signs: Sequence[Sign], *, now: datetime) -> list[Firing]:
    """Which of ``rules`` fire on ``signs`` (the pupil's signs of the last two windows)."""
    window = timedelta(days=rules.window_days)
    start = now - window
    current = [sign for sign in signs if sign.observed_at >= start]
    named = [sign for sign in current if sign.indicator]
    found: list[Firing] = []
    if rules.distinct_signs:
        indicators = {sign.indicator for sign in named}
        staff = {sign.recorded_by for sign in named}
        if len(indicators) >= rules.min_indicators and len(staff) >= rules.min_staff:
            found.append(Firing(PatternRule.distinct_signs, _keys(named)))
    if rules.high_weight and rules.high_weight_indicators:
        heavy = [sign for sign in named if sign.indicator in rules.high_weight_indicators]
        if heavy:
            found.append(Firing(PatternRule.high_weight, _keys(heavy)))
    if rules.rising:
        now_count = len({sign.concern_id for sign in current})
        before = {sign.concern_id for sign in signs if start - window <= sign.observed_at < start}
        # A rise is against a window that had some: a pupil's first concerns are the
        # other rules' to catch (docs/adr/0110).
        if now_count >= rules.rising_min_concerns and now_count > len(before) >= 1:
            found.append(Firing(PatternRule.rising, _keys(current)))
    return found


def _keys(signs: Iterable[Sign]) -> frozenset[Key]:
    return frozenset((sign.concern_id, sign.indicator or NO_INDICATOR) for sign in signs)


def _lines(keys: Iterable[Key]) -> str:
    return "\n".join(sorted(f"{concern_id}:{indicator}" for concern_id, indicator in keys))


def fingerprint(keys: Iterable[Key]) -> str:
    """The evidence's fingerprint: a SHA-256 of its pairs, sorted."""
    return hashlib.sha256(_lines(keys).encode()).hexdigest()


def _parsed(lines: str | None) -> set[Key]:
    found: set[Key] = set()
    for line in (lines or "").splitlines():
        concern_id, _, indicator = line.partition(":")
        found.add((uuid.UUID(concern_id), indicator))
    return found


def _replace_evidence(
    session: Session, *, school_id: uuid.UUID, flag_id: uuid.UUID, keys: frozenset[Key]
) -> None:
    connection = session.connection()
    connection.execute(sa.delete(EVIDENCE).where(EVIDENCE.c.flag_id == flag_id))
    connection.execute(
        sa.insert(EVIDENCE),
        [
            {"flag_id": flag_id, "concern_id": c, "indicator_id": i, "school_id": school_id}
            for c, i in sorted(keys)
        ],
    )


def _alert_and_audit(
    session: Session,
    *,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    flag_id: uuid.UUID,
    now: datetime,
    reopened: bool,
) -> None:
    emit(
        session,
        school_id=school_id,
        event_type=FLAG_RAISED,
        data={"flag_id": flag_id, "raised_at": now, "reopened": reopened},
        now=now,
    )
    audit.record(
        session,
        actor=Actor(type="system", id=None, role=None, school_id=school_id),
        action="flag.reopen" if reopened else "flag.raise",
        now=now,
        entity_type="pattern_flag",
        entity_id=flag_id,
        pupil_id=pupil_id,
    )


def apply(
    session: Session,
    *,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    firings: Sequence[Firing],
    now: datetime,
) -> int:
    """Raise, update or reopen the pupil's flags for ``firings``; how many were raised or
    reopened (each alerted and audited)."""
    if not firings:
        return 0
    connection = session.connection()
    existing = {
        row.rule: row
        for row in connection.execute(
            sa.select(
                FLAGS.c.id,
                FLAGS.c.rule,
                FLAGS.c.status,
                FLAGS.c.fingerprint,
                FLAGS.c.acknowledged_evidence,
            ).where(FLAGS.c.school_id == school_id, FLAGS.c.pupil_id == pupil_id)
        )
    }
    raised = 0
    for firing in firings:
        print_ = fingerprint(firing.evidence)
        flag = existing.get(firing.rule.value)
        if flag is None:
            flag_id = new_id()
            connection.execute(
                sa.insert(FLAGS).values(
                    id=flag_id,
                    school_id=school_id,
                    pupil_id=pupil_id,
                    rule=firing.rule.value,
                    status=FlagStatus.open.value,
                    raised_at=now,
                    fingerprint=print_,
                )
            )
            _replace_evidence(session, school_id=school_id, flag_id=flag_id, keys=firing.evidence)
            _alert_and_audit(
                session,
                school_id=school_id,
                pupil_id=pupil_id,
                flag_id=flag_id,
                now=now,
                reopened=False,
            )
            raised += 1
            continue
        if flag.fingerprint == print_:
            continue
        if flag.status == FlagStatus.open.value:
            connection.execute(
                sa.update(FLAGS).where(FLAGS.c.id == flag.id).values(fingerprint=print_)
            )
            _replace_evidence(session, school_id=school_id, flag_id=flag.id, keys=firing.evidence)
            continue
        if firing.evidence <= _parsed(flag.acknowledged_evidence):
            continue  # nothing new since it was acknowledged
        connection.execute(
            sa.update(FLAGS)
            .where(FLAGS.c.id == flag.id)
            .values(status=FlagStatus.open.value, reopened_at=now, fingerprint=print_)
        )
        _replace_evidence(session, school_id=school_id, flag_id=flag.id, keys=firing.evidence)
        _alert_and_audit(
            session,
            school_id=school_id,
            pupil_id=pupil_id,
            flag_id=flag.id,
            now=now,
            reopened=True,
        )
        raised += 1
    return raised


def evaluate_pupil(
    session: Session, *, school_id: uuid.UUID, pupil_id: uuid.UUID, rules: Rules, now: datetime
) -> int:
    """Look at one pupil: their signs of the last two windows, the rules, the flags."""
    since = now - 2 * timedelta(days=rules.window_days)
    signs = pupil_signs(session, school_id=school_id, pupil_id=pupil_id, since=since)
    firings = fired(rules, signs, now=now)
    return apply(session, school_id=school_id, pupil_id=pupil_id, firings=firings, now=now)


def evaluate_queued(session: Session, *, now: datetime, batch: int = QUEUE_BATCH) -> int:
    """Take up to ``batch`` queued rows, look at each of their pupils once, and delete the
    rows taken; how many flags were raised or reopened. The caller holds the publisher's
    lock (one evaluator at a time)."""
    connection = session.connection()
    taken = connection.execute(
        sa.select(QUEUE.c.concern_id, QUEUE.c.pupil_id, QUEUE.c.school_id)
        .order_by(QUEUE.c.queued_at)
        .limit(batch)
    ).all()
    if not taken:
        return 0
    pupils = dict.fromkeys((row.school_id, row.pupil_id) for row in taken)
    rules: dict[uuid.UUID, Rules] = {}
    raised = 0
    for school_id, pupil_id in pupils:
        if school_id not in rules:
            rules[school_id] = rules_of(session, school_id)
        raised += evaluate_pupil(
            session, school_id=school_id, pupil_id=pupil_id, rules=rules[school_id], now=now
        )
    connection.execute(
        sa.delete(QUEUE).where(
            sa.tuple_(QUEUE.c.concern_id, QUEUE.c.pupil_id).in_(
                [(row.concern_id, row.pupil_id) for row in taken]
            )
        )
    )
    return raised


def evaluate_all(session: Session, *, now: datetime) -> int:
    """Evaluate the whole queue (the demo seed; the worker takes it a batch a pass)."""
    raised = 0
    while session.connection().execute(sa.select(QUEUE.c.concern_id).limit(1)).first():
        raised += evaluate_queued(session, now=now)
    return raised


def acknowledged_evidence(session: Session, flag_id: uuid.UUID) -> tuple[str, str]:
    """A flag's evidence now, as it is kept when acknowledged: its lines and fingerprint."""
    rows = session.connection().execute(
        sa.select(EVIDENCE.c.concern_id, EVIDENCE.c.indicator_id).where(
            EVIDENCE.c.flag_id == flag_id
        )
    )
    keys = [(row.concern_id, row.indicator_id) for row in rows]
    return _lines(keys), fingerprint(keys)
