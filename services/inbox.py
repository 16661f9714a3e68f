"""The DSL's inbox: urgent concerns first, then the other new ones, the tasks and case
reviews that have come due, and the transfers due (files sent to the school to be
received, files it sent that are overdue).

Each list is bounded (``limit``, at most 200; the rest are a filtered page of
``GET /concerns``, ``GET /tasks`` or ``GET /cases`` away) and read from an index: the
urgent concerns still new from a partial index of only those
(``ix_concern_triage_urgent_new``), the other new ones from the triage
state's (school, status, recorded) index, what is due from ``services.due``. The two
concern lists are read together, then shaped together (one round trip each on
PostgreSQL), exactly as a page of ``GET /concerns`` is.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session

from db.batch import Batch
from models.inbox import Inbox
from services import access, audit, cases, due, patterns, tasks, transfers
from services.concerns.shaping import shape_rows
from services.concerns.statements import CONCERN_ROWS, TRIAGE
from services.context import RequestContext


def _still_new(condition: str) -> access.ScopedConcerns:
    """Concerns still ``new`` that meet ``condition`` (on the triage state, spelt as the
    partial index's, qualified), oldest recorded first, at most ``:inbox_limit``."""
    return access.ScopedConcerns(
        lambda scope: (
            CONCERN_ROWS.where(
                TRIAGE.c.school_id == sa.bindparam("school_id"), sa.text(condition), *scope
            )
            .order_by(TRIAGE.c.recorded_at, TRIAGE.c.concern_id)
            .limit(sa.bindparam("inbox_limit", type_=sa.Integer))
        )
    )


# As ``models.triage.URGENT_AND_NEW``, qualified: the concern has a column of that name too.
URGENT = _still_new("concern_triage.status = 'new' AND concern_triage.immediate_danger")
OTHER_NEW = _still_new("concern_triage.status = 'new' AND NOT concern_triage.immediate_danger")


def get_inbox(session: Session, context: RequestContext, *, limit: int) -> Inbox:
    """What needs the DSL desk now, each list at most ``limit`` long: concerns in
    immediate danger still new, the other new concerns (both oldest first, as
    ``GET /concerns`` shapes them), open tasks due today or earlier and open cases whose
    review date has come (``services.due``, today in England by the request's clock), the
    transfers due (``services.due.transfers_due``) and the open pattern flags.

    DSLs and deputy DSLs. Records ``inbox.read``: one event, with the children shown (ADR
    0126)."""
    principal = context.principal
    parameters = {"inbox_limit": limit}
    urgent, urgent_parameters = URGENT.for_dsl_desk(principal, dict(parameters))
    other, other_parameters = OTHER_NEW.for_dsl_desk(principal, dict(parameters))
    found = (
        Batch()
        .add("urgent", urgent, urgent_parameters)
        .add("new", other, other_parameters)
        .add("flags", patterns.OPEN_FLAGS, patterns.open_flags_parameters(context, limit=limit))
        .run(session)
    )
    concerns = shape_rows(session, context, [*found["urgent"], *found["new"]])
    urgent_items, new_items = concerns[: len(found["urgent"])], concerns[len(found["urgent"]) :]

    today = due.due_day(context.now)
    due_tasks = due.tasks_due(session, school_id=principal.school_id, on=today, limit=limit)
    due_reviews = due.reviews_due(session, school_id=principal.school_id, on=today, limit=limit)

    due_transfers = due.transfers_due(session, school_id=principal.school_id, on=today, limit=limit)
    tasks_due = tasks.shape_tasks(session, context, due_tasks)
    reviews_due = cases.summaries(session, principal, due_reviews)
    flags = patterns.shape(session, context, found["flags"])
    shown: set[uuid.UUID] = {pupil for item in concerns for pupil in item.pupil_ids}
    shown.update(flag.pupil_id for flag in flags)
    shown.update(task.pupil_id for task in due_tasks)
    shown.update(case.pupil_id for case in due_reviews)
    shown.update(
        pupil
        for transfer in due_transfers
        if (pupil := transfers.pupil_of(transfer, context)) is not None
    )
    # Recorded once everything is read: the audit chain's head is locked from here to the
    # commit, and every audited request of the school waits for it meanwhile.
    audit.record_page(
        session,
        actor=context.actor,
        action="inbox.read",
        now=context.now,
        request_id=context.request_id,
        entity_type="inbox",
        entity_id=None,
        pupil_ids=shown,
    )
    return Inbox(
        urgent=urgent_items,
        new=new_items,
        tasks_due=tasks_due,
        reviews_due=reviews_due,
        transfers_due=[transfers.shape(transfer, context) for transfer in due_transfers],
        flags=flags,
    )
