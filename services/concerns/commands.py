"""Recording: a new concern (``create_concern``) and an addendum to one (``add_addendum``).
A concern row is never written again once recorded."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from db.batch import Batch, sent_together
from models.base import new_id
from models.concern import Addendum, AddendumCreate, AddendumPublic, ConcernCreate, ConcernPublic
from models.triage import TriageStatus
from services import access, alerts, audit, patterns
from services.audit import probes
from services.concerns.reading import concern_row
from services.concerns.search import index_text
from services.concerns.shaping import (
    PUBLIC_CONCERNS,
    NewConcernRow,
    add_caller,
    addendum_fields,
    caller_as_recorder,
    concern_fields,
)
from services.concerns.statements import (
    INSERT_ADDENDUM,
    INSERT_CONCERN,
    INSERT_CONCERN_CATEGORIES,
    INSERT_CONCERN_INDICATORS,
    INSERT_CONCERN_PUPILS,
    INSERT_TRIAGE,
    ONE_CONCERN_ROW,
    PUPILS_OF,
)
from services.concerns.validation import (
    add_school_guidance,
    add_school_pupils,
    check_categories,
    check_indicators,
    check_observed_at,
    check_pupils,
    school_guidance,
)
from services.context import RequestContext


def create_concern(
    session: Session,
    context: RequestContext,
    *,
    concern: ConcernCreate,
) -> ConcernPublic:
    """Record a concern about 1-20 pupils of the caller's school.

    Staff, DSLs and deputy DSLs. ``recorded_at`` is the request's ``now`` (the server's
    clock) and the recorder is the caller. The guidance is a built-in document or one the
    school has published (its latest version), and the version is stored with the
    concern; its categories are the ones given, or else the guidance's own. Refuses (422)
    pupils outside the school, indicators the guidance does not have, an unknown guidance
    key or category, and an ``observed_at`` more than 5 minutes ahead of ``now``. (An
    ``Idempotency-Key`` is the HTTP shell's: ``services.idempotency.once``.)

    Records ``concern.create`` once per pupil, and the concern's alerts
    (``services.alerts.concern_logged``: no pupil, text or indicator in them), in the
    caller's transaction; nothing is sent from here."""
    principal = context.principal
    now = context.now
    access.require_recorder(principal)
    check_observed_at(concern.observed_at, now)
    check_categories(concern.categories)
    edition = context.guidance.builtin(concern.guidance_key)
    if edition is not None:
        check_indicators(edition.document, concern.indicators)
    # The pupils, the recorder's name (and, for the school's own guidance, its latest
    # version) and the audit chain's head in one round trip on PostgreSQL; then every row
    # this writes, its audit events included, in one more.
    batch = add_caller(add_school_pupils(Batch(), principal, concern.pupil_ids), principal)
    if edition is None:
        add_school_guidance(batch, principal, concern.guidance_key)
    found = audit.read_with_head_locked(session, school_id=principal.school_id, batch=batch)
    if edition is None:
        edition = school_guidance(session, context.guidance, principal, concern.guidance_key, found)
        check_indicators(edition.document, concern.indicators)
    document = edition.document
    check_pupils(concern.pupil_ids, found["school_pupils"], observed_at=concern.observed_at)
    recorded_by = caller_as_recorder(principal, found)
    categories = concern.categories or [document.category]

    concern_id = new_id()
    school_id = principal.school_id
    record: dict[str, Any] = {
        "id": concern_id,
        "school_id": school_id,
        "recorded_by": principal.id,
        "recorded_by_name": recorded_by.display_name,
        "recorded_at": now,
        "observed_at": concern.observed_at,
        "guidance_key": document.key,
        "guidance_version": document.version,
        "categories": ",".join(categories),
        "description": concern.description,
        "location": concern.location,
        "immediate_danger": concern.immediate_danger,
        "police_contacted": concern.police_contacted,
    }
    concern_pupils = [
        {
            "concern_id": concern_id,
            "pupil_id": pupil_id,
            "school_id": school_id,
            "position": i,
            "observed_at": concern.observed_at,
        }
        for i, pupil_id in enumerate(concern.pupil_ids)
    ]
    concern_indicators = [
        {
            "concern_id": concern_id,
            "indicator_id": indicator,
            "school_id": school_id,
            "observed_at": concern.observed_at,
            "position": i,
        }
        for i, indicator in enumerate(concern.indicators)
    ]
    concern_categories = [
        {
            "concern_id": concern_id,
            "category_id": category,
            "school_id": school_id,
            "observed_at": concern.observed_at,
        }
        for category in categories
    ]
    triage: dict[str, Any] = {
        "concern_id": concern_id,
        "school_id": school_id,
        "status": TriageStatus.new.value,
        "risk_level": None,
        "assigned_to": None,
        "recorded_at": now,
        "immediate_danger": concern.immediate_danger,
        "version": 1,
        "updated_at": now,
    }
    with sent_together(session):
        INSERT_CONCERN.run(session, record)  # the concern row first: its children refer to it
        INSERT_CONCERN_PUPILS.insert_many(session, concern_pupils)
        if concern_indicators:  # an executemany of nothing would insert one empty row
            INSERT_CONCERN_INDICATORS.insert_many(session, concern_indicators)
        INSERT_CONCERN_CATEGORIES.insert_many(session, concern_categories)
        INSERT_TRIAGE.run(session, triage)
        # Its alerts, in the outbox: delivered by the worker once this commits.
        alerts.concern_logged(
            session,
            school_id=school_id,
            concern_id=concern_id,
            recorded_at=now,
            urgent=concern.immediate_danger,
        )
        # Its pupils queued for the pattern rules (the worker evaluates them, never this
        # request), and its location's matching key for links between children.
        patterns.concern_logged(
            session,
            school_id=school_id,
            concern_id=concern_id,
            pupil_ids=concern.pupil_ids,
            location=concern.location,
            now=now,
        )
        index_text(session, school_id=school_id, concern_id=concern_id, text_=concern.description)
        audit.record_per_pupil(
            session,
            actor=context.actor,
            action="concern.create",
            now=now,
            request_id=context.request_id,
            entity_type="concern",
            entity_id=concern_id,
            pupil_ids=concern.pupil_ids,
        )
    row = NewConcernRow(**record, status=triage["status"], risk_level=None, assigned_to=None)
    names = None
    if access.sees_pupil_names(principal):
        school_pupils = {pupil.id: pupil for pupil in found["school_pupils"]}
        names = [
            {
                "id": i,
                "display_name": school_pupils[i].display_name,
                "year_group": school_pupils[i].year_group,
            }
            for i in concern.pupil_ids
        ]
    (public,) = PUBLIC_CONCERNS.validate_python(
        [
            concern_fields(
                row,
                pupil_ids=list(concern.pupil_ids),
                pupils=names,
                indicators=list(concern.indicators),
                indicator_texts=edition.texts_of(concern.indicators),
                addenda=[],
                recorded_by=recorded_by,
                actions=list(edition.actions_for(immediate_danger=concern.immediate_danger)),
                sees_assessment=access.sees_assessment(principal),
                assignee=None,
                now=now,
            )
        ]
    )
    return public


def add_addendum(
    session: Session,
    context: RequestContext,
    *,
    concern_id: uuid.UUID,
    addendum: AddendumCreate,
) -> AddendumPublic:
    """Add further information or a correction to a concern; the concern itself is never
    changed.

    Its recorder, or a DSL or deputy DSL of its school (404 for anyone else of a recording
    role, 403 for admins and MIS accounts). Records ``addendum.create`` once per pupil of
    the concern; the 404 leaves a ``security.probe`` (``services.audit.probes``).

    The concern (as the caller may see it), its pupils, the caller's name and the audit
    chain's head go in one round trip on PostgreSQL; the addendum and its audit events in
    one more. (An ``Idempotency-Key`` is the HTTP shell's: ``services.idempotency.once``.)"""
    principal = context.principal
    statement, parameters = ONE_CONCERN_ROW.statement_for(principal, {"concern_id": concern_id})
    batch = (
        Batch()
        .add("concern", statement, parameters)
        .add("pupils", PUPILS_OF, {"concern_ids": [concern_id]})
    )
    found = audit.read_with_head_locked(
        session, school_id=principal.school_id, batch=add_caller(batch, principal)
    )
    with probes.watched(context, kind="concern", record_id=concern_id):
        concern = concern_row(found)
    recorded_by = caller_as_recorder(principal, found)
    record = Addendum(
        concern_id=concern.id,
        school_id=concern.school_id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_by=principal.id,
        recorded_by_name=recorded_by.display_name,
        recorded_at=context.now,
    )
    pupil_ids = [pupil_id for _, pupil_id in found["pupils"]]
    with sent_together(session):
        INSERT_ADDENDUM.run(session, record.model_dump())
        index_text(session, school_id=concern.school_id, concern_id=concern.id, text_=record.text)
        audit.record_per_pupil(
            session,
            actor=context.actor,
            action="addendum.create",
            now=context.now,
            request_id=context.request_id,
            entity_type="addendum",
            entity_id=record.id,
            pupil_ids=pupil_ids,
        )
    return AddendumPublic.model_validate(addendum_fields(record))
