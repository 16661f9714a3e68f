"""Links between children (docs/adr/0111): entities of concern recorded on concerns and
cases, the children connected to one child, and the entities connecting several.

Every query is scoped to the caller's school: another school's records are never read,
so never linked. DSLs and deputy DSLs only (``access.require_patterns``).

A child is linked to another through:

- a shared concern (one concern about both): strength 3 each;
- a shared entity (the same kind and matching key on a record of each, not the same
  record): strength 2 each;
- the same location (concerns about each whose locations have the same key): 1 each.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import NotFound
from models.case import Case
from models.concern import Concern, ConcernPupil, Person
from models.link import (
    ConcernPlace,
    ConnectingEntities,
    ConnectingEntity,
    Entity,
    EntityCreate,
    EntityKind,
    EntityList,
    EntityPublic,
    LinkVia,
    PupilLink,
    PupilLinks,
    label_key,
)
from models.pupil import Pupil, display_name_column
from models.user import User
from services import access, audit
from services.context import RequestContext

ENTITIES: sa.Table = Entity.__table__  # type: ignore[attr-defined]
PLACES: sa.Table = ConcernPlace.__table__  # type: ignore[attr-defined]
CONCERNS: sa.Table = Concern.__table__  # type: ignore[attr-defined]
CONCERN_PUPILS: sa.Table = ConcernPupil.__table__  # type: ignore[attr-defined]
CASES: sa.Table = Case.__table__  # type: ignore[attr-defined]
PUPILS: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
USERS: sa.Table = User.__table__  # type: ignore[attr-defined]

STRENGTH = {LinkVia.shared_concern: 3, LinkVia.shared_entity: 2, LinkVia.same_location: 1}
MAX_CONNECTING = 200


def create_entity(
    session: Session,
    context: RequestContext,
    *,
    body: EntityCreate,
    concern_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> EntityPublic:
    """Record a person, vehicle, place or online account of concern on a concern or a
    case of the school (404 for anything else). DSLs and deputy DSLs. The record itself
    is not changed. Audits ``entity.create`` once per pupil of the record."""
    principal = context.principal
    access.require_patterns(principal)
    connection = session.connection()
    school_id = principal.school_id
    pupil_ids = _record_pupils(session, school_id, concern_id=concern_id, case_id=case_id)
    name = connection.execute(
        sa.select(USERS.c.display_name).where(USERS.c.id == principal.id)
    ).scalar_one()
    row = Entity(
        school_id=school_id,
        kind=body.kind.value,
        label=body.label,
        label_key=label_key(body.kind.value, body.label),
        concern_id=concern_id,
        case_id=case_id,
        recorded_by=principal.id,
        recorded_by_name=name,
        recorded_at=context.now,
    )
    connection.execute(sa.insert(ENTITIES).values(**row.model_dump()))
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="entity.create",
        now=context.now,
        request_id=context.request_id,
        entity_type="entity",
        entity_id=row.id,
        pupil_ids=pupil_ids,
    )
    return EntityPublic(
        id=row.id,
        kind=body.kind,
        label=row.label,
        concern_id=concern_id,
        case_id=case_id,
        recorded_by=Person(id=principal.id, display_name=name),
        recorded_at=context.now,
    )


def _record_pupils(
    session: Session,
    school_id: uuid.UUID,
    *,
    concern_id: uuid.UUID | None,
    case_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    """The pupils of a concern or case of the school; 404 when it is none of the school's."""
    connection = session.connection()
    if concern_id is not None:
        pupil_ids = list(
            connection.execute(
                sa.select(CONCERN_PUPILS.c.pupil_id)
                .where(
                    CONCERN_PUPILS.c.concern_id == concern_id,
                    CONCERN_PUPILS.c.school_id == school_id,
                )
                .order_by(CONCERN_PUPILS.c.position)
            ).scalars()
        )
        if not pupil_ids:
            raise NotFound("No such concern.")
        return pupil_ids
    pupil_ids = list(
        connection.execute(
            sa.select(CASES.c.pupil_id).where(CASES.c.id == case_id, CASES.c.school_id == school_id)
        ).scalars()
    )
    if not pupil_ids:
        raise NotFound("No such case.")
    return pupil_ids


def list_entities(
    session: Session,
    context: RequestContext,
    *,
    concern_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> EntityList:
    """The entities recorded on a concern or case of the school (404 for anything else),
    oldest first. DSLs and deputy DSLs. Audits ``entity.read`` once per pupil of it."""
    principal = context.principal
    access.require_patterns(principal)
    school_id = principal.school_id
    pupil_ids = _record_pupils(session, school_id, concern_id=concern_id, case_id=case_id)
    on = ENTITIES.c.concern_id == concern_id if concern_id else ENTITIES.c.case_id == case_id
    rows = session.connection().execute(
        sa.select(ENTITIES).where(ENTITIES.c.school_id == school_id, on).order_by(ENTITIES.c.id)
    )
    items = [
        EntityPublic(
            id=row.id,
            kind=EntityKind(row.kind),
            label=row.label,
            concern_id=row.concern_id,
            case_id=row.case_id,
            recorded_by=Person(id=row.recorded_by, display_name=row.recorded_by_name or ""),
            recorded_at=row.recorded_at,
        )
        for row in rows
    ]
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="entity.read",
        now=context.now,
        request_id=context.request_id,
        entity_type=("concern" if concern_id else "case"),
        entity_id=concern_id or case_id,
        pupil_ids=pupil_ids,
    )
    return EntityList(items=items)


@dataclass
class _Link:
    evidence: list[dict[str, Any]] = field(default_factory=list)
    strength: int = 0

    def add(self, via: LinkVia, **evidence: Any) -> None:
        self.evidence.append({"via": via, **evidence})
        self.strength += STRENGTH[via]


def _records_pupils(
    session: Session, school_id: uuid.UUID, concern_ids: set[Any], case_ids: set[Any]
) -> tuple[dict[uuid.UUID, set[uuid.UUID]], dict[uuid.UUID, uuid.UUID]]:
    """The pupils of each of ``concern_ids`` and the pupil of each of ``case_ids``."""
    connection = session.connection()
    of_concern: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if concern_ids:
        for concern_id, pupil_id in connection.execute(
            sa.select(CONCERN_PUPILS.c.concern_id, CONCERN_PUPILS.c.pupil_id).where(
                CONCERN_PUPILS.c.school_id == school_id,
                CONCERN_PUPILS.c.concern_id.in_(concern_ids),
            )
        ):
            of_concern[concern_id].add(pupil_id)
    of_case: dict[uuid.UUID, uuid.UUID] = {}
    if case_ids:
        of_case = dict(
            connection.execute(
                sa.select(CASES.c.id, CASES.c.pupil_id).where(
                    CASES.c.school_id == school_id, CASES.c.id.in_(case_ids)
                )
            ).all()
        )
    return of_concern, of_case


def get_pupil_links(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID
) -> PupilLinks:
    """The children connected to ``pupil_id`` (see the module docstring), strongest first.
    DSLs and deputy DSLs; a pupil not of the school is a 404. Audits ``pupil.links_read``:
    one event about the pupil, with the children shown (ADR 0126)."""
    principal = context.principal
    access.require_patterns(principal)
    school_id = principal.school_id
    connection = session.connection()
    known = connection.execute(
        sa.select(PUPILS.c.id).where(PUPILS.c.id == pupil_id, PUPILS.c.school_id == school_id)
    ).first()
    if known is None:
        raise NotFound("No such pupil.")
    mine = set(
        connection.execute(
            sa.select(CONCERN_PUPILS.c.concern_id).where(
                CONCERN_PUPILS.c.school_id == school_id, CONCERN_PUPILS.c.pupil_id == pupil_id
            )
        ).scalars()
    )
    my_cases = set(
        connection.execute(
            sa.select(CASES.c.id).where(
                CASES.c.school_id == school_id, CASES.c.pupil_id == pupil_id
            )
        ).scalars()
    )
    links: dict[uuid.UUID, _Link] = defaultdict(_Link)
    # Shared concerns.
    of_concern, _ = _records_pupils(session, school_id, mine, set())
    for concern_id in sorted(mine):
        for other in of_concern.get(concern_id, set()) - {pupil_id}:
            links[other].add(LinkVia.shared_concern, concern_ids=[concern_id])
    _entity_links(session, school_id, pupil_id, mine, my_cases, links)
    _place_links(session, school_id, pupil_id, mine, links)
    names: dict[uuid.UUID, str] = dict(
        connection.execute(
            sa.select(PUPILS.c.id, display_name_column(PUPILS)).where(
                PUPILS.c.school_id == school_id, PUPILS.c.id.in_(set(links) or {pupil_id})
            )
        ).all()
    )
    items = [
        PupilLink.model_validate(
            {
                "pupil_id": other,
                "display_name": names.get(other, ""),
                "strength": link.strength,
                "evidence": link.evidence,
            }
        )
        for other, link in sorted(links.items(), key=lambda pair: (-pair[1].strength, pair[0]))
        if other in names
    ]
    audit.record_page(
        session,
        actor=context.actor,
        action="pupil.links_read",
        now=context.now,
        request_id=context.request_id,
        entity_type="pupil",
        entity_id=pupil_id,
        pupil_id=pupil_id,
        pupil_ids=[item.pupil_id for item in items],
    )
    return PupilLinks(items=items)


def _entity_links(
    session: Session,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    mine: set[uuid.UUID],
    my_cases: set[uuid.UUID],
    links: dict[uuid.UUID, _Link],
) -> None:
    connection = session.connection()
    on_mine = []
    if mine:
        on_mine.append(ENTITIES.c.concern_id.in_(mine))
    if my_cases:
        on_mine.append(ENTITIES.c.case_id.in_(my_cases))
    if not on_mine:
        return
    keys = {
        (row.kind, row.label_key)
        for row in connection.execute(
            sa.select(ENTITIES.c.kind, ENTITIES.c.label_key).where(
                ENTITIES.c.school_id == school_id, sa.or_(*on_mine)
            )
        )
    }
    if not keys:
        return
    carrying = connection.execute(
        sa.select(
            ENTITIES.c.kind,
            ENTITIES.c.label_key,
            ENTITIES.c.label,
            ENTITIES.c.concern_id,
            ENTITIES.c.case_id,
        )
        .where(
            ENTITIES.c.school_id == school_id,
            sa.tuple_(ENTITIES.c.kind, ENTITIES.c.label_key).in_(sorted(keys)),
        )
        .order_by(ENTITIES.c.id)
    ).all()
    of_concern, of_case = _records_pupils(
        session,
        school_id,
        {row.concern_id for row in carrying if row.concern_id},
        {row.case_id for row in carrying if row.case_id},
    )
    by_key: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in carrying:
        by_key[row.kind, row.label_key].append(row)
    for (kind, _), rows in sorted(by_key.items()):
        # Each other child, with the records of theirs that are not also this child's.
        theirs: dict[uuid.UUID, list[Any]] = defaultdict(list)
        own = [r for r in rows if r.concern_id in mine or r.case_id in my_cases]
        for row in rows:
            if row.concern_id in mine or row.case_id in my_cases:
                continue
            pupils = of_concern.get(row.concern_id, set()) if row.concern_id else set()
            if row.case_id and row.case_id in of_case:
                pupils = {of_case[row.case_id]}
            for other in pupils - {pupil_id}:
                theirs[other].append(row)
        for other, records in theirs.items():
            both = own + records
            links[other].add(
                LinkVia.shared_entity,
                kind=kind,
                label=rows[0].label,
                concern_ids=sorted({r.concern_id for r in both if r.concern_id}),
                case_ids=sorted({r.case_id for r in both if r.case_id}),
            )


def _place_links(
    session: Session,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    mine: set[uuid.UUID],
    links: dict[uuid.UUID, _Link],
) -> None:
    if not mine:
        return
    connection = session.connection()
    keys = set(
        connection.execute(
            sa.select(PLACES.c.place_key).where(
                PLACES.c.school_id == school_id, PLACES.c.concern_id.in_(mine)
            )
        ).scalars()
    )
    if not keys:
        return
    rows = connection.execute(
        sa.select(PLACES.c.place_key, PLACES.c.concern_id, CONCERNS.c.location)
        .join_from(PLACES, CONCERNS, CONCERNS.c.id == PLACES.c.concern_id)
        .where(PLACES.c.school_id == school_id, PLACES.c.place_key.in_(keys))
        .order_by(CONCERNS.c.observed_at, PLACES.c.concern_id)
    ).all()
    of_concern, _ = _records_pupils(
        session, school_id, {row.concern_id for row in rows if row.concern_id not in mine}, set()
    )
    by_key: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_key[row.place_key].append(row)
    for _, found in sorted(by_key.items()):
        own = [r.concern_id for r in found if r.concern_id in mine]
        theirs: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for row in found:
            if row.concern_id in mine:
                continue
            for other in of_concern.get(row.concern_id, set()) - {pupil_id}:
                theirs[other].append(row.concern_id)
        for other, concern_ids in theirs.items():
            links[other].add(
                LinkVia.same_location,
                label=found[0].location,
                concern_ids=sorted({*own, *concern_ids}),
            )


def connecting_entities(
    session: Session, context: RequestContext, *, min_children: int
) -> ConnectingEntities:
    """The school's entities that connect ``min_children`` children or more (on their
    concerns and cases), most children first. DSLs and deputy DSLs. Audits
    ``entity.list_read``: one event, with the children shown (ADR 0126)."""
    principal = context.principal
    access.require_patterns(principal)
    school_id = principal.school_id
    connection = session.connection()
    through_concerns = (
        sa.select(ENTITIES.c.kind, ENTITIES.c.label_key, CONCERN_PUPILS.c.pupil_id)
        .join_from(ENTITIES, CONCERN_PUPILS, CONCERN_PUPILS.c.concern_id == ENTITIES.c.concern_id)
        .where(ENTITIES.c.school_id == school_id, CONCERN_PUPILS.c.school_id == school_id)
    )
    through_cases = (
        sa.select(ENTITIES.c.kind, ENTITIES.c.label_key, CASES.c.pupil_id)
        .join_from(ENTITIES, CASES, CASES.c.id == ENTITIES.c.case_id)
        .where(ENTITIES.c.school_id == school_id, CASES.c.school_id == school_id)
    )
    pairs = sa.union(through_concerns, through_cases).subquery("pairs")
    counted = connection.execute(
        sa.select(pairs.c.kind, pairs.c.label_key, sa.func.count().label("children"))
        .group_by(pairs.c.kind, pairs.c.label_key)
        .having(sa.func.count() >= min_children)
        .order_by(sa.func.count().desc(), pairs.c.kind, pairs.c.label_key)
        .limit(MAX_CONNECTING)
    ).all()
    if not counted:
        audit_pupils: list[uuid.UUID | None] = []
        items: list[ConnectingEntity] = []
    else:
        keys = [(row.kind, row.label_key) for row in counted]
        members: dict[tuple[str, str], set[uuid.UUID]] = defaultdict(set)
        for kind, key, member in connection.execute(
            sa.select(pairs.c.kind, pairs.c.label_key, pairs.c.pupil_id).where(
                sa.tuple_(pairs.c.kind, pairs.c.label_key).in_(keys)
            )
        ):
            members[kind, key].add(member)
        labels: dict[tuple[str, str], str] = {}
        for kind, key, label in connection.execute(
            sa.select(ENTITIES.c.kind, ENTITIES.c.label_key, ENTITIES.c.label)
            .where(
                ENTITIES.c.school_id == school_id,
                sa.tuple_(ENTITIES.c.kind, ENTITIES.c.label_key).in_(keys),
            )
            .order_by(ENTITIES.c.id)
        ):
            labels.setdefault((kind, key), label)
        everyone = {p for found in members.values() for p in found}
        names: dict[uuid.UUID, str] = dict(
            connection.execute(
                sa.select(PUPILS.c.id, display_name_column(PUPILS)).where(
                    PUPILS.c.school_id == school_id, PUPILS.c.id.in_(everyone)
                )
            ).all()
        )
        items = [
            ConnectingEntity.model_validate(
                {
                    "kind": kind,
                    "label": labels[kind, key],
                    "children": len(members[kind, key]),
                    "pupils": [
                        {"id": p, "display_name": names.get(p, "")}
                        for p in sorted(members[kind, key], key=lambda p: (names.get(p, ""), p))
                    ],
                }
            )
            for kind, key in keys
        ]
        audit_pupils = [*sorted(everyone)]
    audit.record_page(
        session,
        actor=context.actor,
        action="entity.list_read",
        now=context.now,
        request_id=context.request_id,
        entity_type="entity",
        entity_id=None,
        pupil_ids=audit_pupils,
    )
    return ConnectingEntities(items=items)
