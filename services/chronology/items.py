"""A page's rows as the chronology's items: a summary of each entry, who recorded it, and
a link to the record it is about. Every name an entry shows is stored on its own row, as it
was when the entry was written (docs/adr/0056): shaping a page reads no accounts."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from sqlmodel import Session

from db.batch import Batch
from models.category import CATEGORY_NAMES
from models.chronology import ChronologyDetails, ChronologyItem, ChronologyType
from models.concern import Person
from models.triage import TriageField
from services import concerns
from services.chronology.context_items import CONTEXT_ITEMS
from services.chronology.entries import API_BASE, CASE_EVENT_TYPES, SOURCES, SUMMARY_MAX, id_lists
from services.principal import Principal


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_MAX else flat[: SUMMARY_MAX - 1] + "…"


def _label(value: str | None) -> str:
    return value.replace("_", " ") if value else "none"


# A page's entries are shaped as plain dicts and validated in one call into pydantic-core,
# which builds them faster than ``model_construct`` calls in Python for each entry's three
# models, and every value is still checked against the model
# (docs/adr/0038-shaping-answers-in-one-validation.md).
# Inputs stay out of its errors: stored text must never reach the log.
ITEMS: TypeAdapter[list[ChronologyItem]] = TypeAdapter(
    list[ChronologyItem], config=ConfigDict(hide_input_in_errors=True)
)


def _concern_href(concern_id: uuid.UUID) -> dict[str, Any]:
    return dict(type="concern", id=concern_id, href=f"{API_BASE}/concerns/{concern_id}")


def _case_href(case_id: uuid.UUID) -> dict[str, Any]:
    return dict(type="case", id=case_id, href=f"{API_BASE}/cases/{case_id}")


def _by(row: Any) -> dict[str, Any]:
    """Who wrote an entry's row, under the name stored on it."""
    return {"id": row.recorded_by, "display_name": row.recorded_by_name}


def _concern_item(concern: Any, indicators: list[str]) -> dict[str, Any]:
    signs = f" ({', '.join(indicators)})" if indicators else ""
    categories = [
        {"id": category, "name": CATEGORY_NAMES.get(category, category)}
        for category in (concern.categories.split(",") if concern.categories else ())
    ]
    about = " about " + ", ".join(c["name"] for c in categories) if categories else ""
    return dict(
        id=concern.id,
        type=ChronologyType.concern,
        occurred_at=concern.observed_at,
        recorded_at=concern.recorded_at,
        by=_by(concern),
        source=_concern_href(concern.id),
        summary=_shorten(f"Concern{about}{signs}: {concern.description}"),
        details=dict(
            description=concern.description,
            indicators=indicators,
            categories=categories,
            location=concern.location,
            immediate_danger=concern.immediate_danger,
            police_contacted=concern.police_contacted,
        ),
    )


def _name(people: dict[uuid.UUID, Person], value: str | None) -> str:
    """The display name, as it is now, of the person whose id ``value`` holds (an event's
    assignee before or after: who has the work is named as they are now), or "nobody"."""
    person = people.get(uuid.UUID(value)) if value else None
    return person.display_name if person else "nobody"


def _triage_summary(event: Any) -> str:
    # ``event``: a row of triage_event (``SOURCES``), with the assignees' names as they were.
    if event.field == TriageField.assigned_to:
        change = f"Assigned to {event.to_name or 'nobody'} (was {event.from_name or 'nobody'})"
    else:
        what = "Status" if event.field == TriageField.status else "Risk level"
        change = f"{what} {_label(event.from_value)} → {_label(event.to_value)}"
    return _shorten(f"{change}. Reason: {event.reason}")


def _case_event_summary(event: Any, people: dict[uuid.UUID, Person]) -> str:
    # ``event``: a row of case_event (``SOURCES``).
    if event.kind == "review_changed":
        when = f"review on {event.to_value}" if event.to_value else "no review date"
        return _shorten(f"Case {when} (was {event.from_value or 'none'}). Reason: {event.reason}")
    if event.kind == "reassigned":
        return _shorten(
            f"Case given to {_name(people, event.to_value)} "
            f"(was {_name(people, event.from_value)}). Reason: {event.reason}"
        )
    if event.kind == "opened":
        return _shorten(f"Case opened at level {_label(event.to_value)}: {event.text}")
    if event.kind == "concern_linked":
        return "Concern linked to the case"
    if event.kind == "level_changed":
        return _shorten(
            f"Case level {_label(event.from_value)} → {_label(event.to_value)}. "
            f"Reason: {event.reason}"
        )
    if event.kind == "closed":
        return _shorten(f"Case closed. Outcome: {event.text} Reason: {event.reason}")
    return _shorten(f"Case reopened. Reason: {event.reason}")


def _task_item(task: Any, people: dict[uuid.UUID, Person], *, completed: bool) -> dict[str, Any]:
    """A task's entry: when it was set (by whom, for whom, due when), or when it was
    completed (by whom, with what note). ``task``: a row of case_task (``SOURCES``)."""
    details = dict(title=task.title, due_on=task.due_on, assigned_to=task.assigned_to)
    if completed:
        summary = f"Task completed by {task.completed_by_name}: {task.title}"
        return dict(
            id=task.id,
            type=ChronologyType.task_completed,
            occurred_at=task.completed_at,
            recorded_at=task.completed_at,
            by={"id": task.completed_by, "display_name": task.completed_by_name},
            source=_case_href(task.case_id),
            summary=_shorten(f"{summary}. Note: {task.note}"),
            details=details | dict(note=task.note, case_id=task.case_id),
        )
    assignee = _name(people, str(task.assigned_to))
    return dict(
        id=task.id,
        type=ChronologyType.task,
        occurred_at=task.set_at,
        recorded_at=task.set_at,
        by={"id": task.set_by, "display_name": task.set_by_name},
        source=_case_href(task.case_id),
        summary=_shorten(f"Task for {assignee}, due {task.due_on.isoformat()}: {task.title}"),
        details=details | dict(case_id=task.case_id),
    )


_RECEIVED_DETAILS = frozenset(ChronologyDetails.model_fields) - {
    "received_type",
    "from_school_urn",
    "transfer_id",
}


def _received_item(record: Any) -> dict[str, Any]:
    """An entry of a file received from the child's previous school, as that school wrote
    it (``record``: a row of transfer_received_record, its ``entry`` the bundle's JSON of
    it, checked against the bundle's schema on the way in); read-only, its source the
    transfer. The original's details a chronology knows are kept; the rest stay in the
    bundle."""
    entry = json.loads(record.entry)
    original = entry.get("details") or {}
    details = {key: value for key, value in original.items() if key in _RECEIVED_DETAILS}
    by = entry.get("by") or {}
    return dict(
        id=record.id,
        type=ChronologyType.received,
        occurred_at=record.occurred_at,
        recorded_at=record.recorded_at,
        by={"id": by.get("id"), "display_name": by.get("display_name") or "unknown"},
        source=dict(
            type="transfer",
            id=record.transfer_id,
            href=f"{API_BASE}/transfers/{record.transfer_id}",
        ),
        summary=_shorten(f"Received: {entry.get('summary', '')}"),
        details=details
        | dict(
            received_type=record.entry_type,
            from_school_urn=entry.get("from_school_urn"),
            transfer_id=record.transfer_id,
        ),
    )


def load_items(
    session: Session,
    *,
    principal: Principal,
    pupil_id: uuid.UUID,
    rows: Sequence[Any],
) -> list[ChronologyItem]:
    """Shape a page's entries: one query per source that has entries on the page, sent
    together (one round trip on PostgreSQL)."""
    wanted: dict[str, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        wanted[row.kind].append(row.entry_id)
    batch = Batch()
    concern_rows = [row for row in rows if row.kind == "concern"]
    if concern_rows:
        concerns.add_pupil_outlines(
            batch,
            principal,
            pupil_id=pupil_id,
            # A concern's entry occurs when it was observed.
            observed_from=min(row.occurred_at for row in concern_rows),
            observed_to=max(row.occurred_at for row in concern_rows),
        )
    loads: dict[str, str] = {}  # each query's name in the batch: the source it loads
    for kind, statement in SOURCES.items():
        for n, ids in enumerate(id_lists(wanted[kind])):
            loads[f"{kind}.{n}"] = kind
            batch.add(f"{kind}.{n}", statement, {"ids": ids})
    found = batch.run(session)
    shown = concerns.outlines_from(found)
    loaded: dict[str, dict[uuid.UUID, Any]] = defaultdict(dict)
    for name, kind in loads.items():
        loaded[kind].update((row.id, row) for row in found[name])
    addenda = loaded["addendum"]
    triage_events = loaded["triage"]
    case_events = loaded["case_event"]
    actions = loaded["action"]
    decisions = loaded["decision"]
    tasks = loaded["task"] | loaded["task_completed"]
    # Who has the work is named as they are now (docs/adr/0056): a case's assignees before
    # and after a reassignment, a task's assignee. One more query, only when there are any.
    assignee_ids: set[uuid.UUID] = {task.assigned_to for task in tasks.values()}
    for case_event in case_events.values():
        if case_event.kind == "reassigned":
            assignee_ids.update(
                uuid.UUID(v) for v in (case_event.from_value, case_event.to_value) if v
            )
    people = (
        concerns.people_by_id(session, principal.school_id, assignee_ids) if assignee_ids else {}
    )

    items: list[dict[str, Any]] = []
    for row in rows:
        entry_id = row.entry_id
        if row.kind == "concern":
            concern, indicators = shown[entry_id]
            items.append(_concern_item(concern, indicators))
        elif row.kind == "addendum":
            addendum = addenda[entry_id]
            items.append(
                dict(
                    id=addendum.id,
                    type=ChronologyType.addendum,
                    occurred_at=addendum.recorded_at,
                    recorded_at=addendum.recorded_at,
                    by=_by(addendum),
                    source=_concern_href(addendum.concern_id),
                    summary=_shorten(f"Addendum: {addendum.text}"),
                    details=dict(
                        text=addendum.text, reason=addendum.reason, concern_id=addendum.concern_id
                    ),
                )
            )
        elif row.kind == "triage":
            event = triage_events[entry_id]
            items.append(
                dict(
                    id=event.id,
                    type=ChronologyType.triage,
                    occurred_at=event.recorded_at,
                    recorded_at=event.recorded_at,
                    by=_by(event),
                    source=_concern_href(event.concern_id),
                    summary=_triage_summary(event),
                    details=dict(
                        field=event.field,
                        from_value=event.from_value,
                        to_value=event.to_value,
                        reason=event.reason,
                        concern_id=event.concern_id,
                    ),
                )
            )
        elif row.kind == "case_event":
            case_event = case_events[entry_id]
            items.append(
                dict(
                    id=case_event.id,
                    type=CASE_EVENT_TYPES[case_event.kind],
                    occurred_at=case_event.recorded_at,
                    recorded_at=case_event.recorded_at,
                    by=_by(case_event),
                    source=_case_href(case_event.case_id),
                    summary=_case_event_summary(case_event, people),
                    details=dict(
                        text=case_event.text,
                        reason=case_event.reason,
                        from_value=case_event.from_value,
                        to_value=case_event.to_value,
                        concern_id=case_event.concern_id,
                        case_id=case_event.case_id,
                    ),
                )
            )
        elif row.kind == "action":
            action = actions[entry_id]
            with_whom = f", with {action.with_whom}" if action.with_whom else ""
            items.append(
                dict(
                    id=action.id,
                    type=ChronologyType.action,
                    occurred_at=action.occurred_at,
                    recorded_at=action.recorded_at,
                    by=_by(action),
                    source=_case_href(action.case_id),
                    summary=_shorten(
                        f"Action ({_label(action.type)}{with_whom}): {action.description}"
                    ),
                    details=dict(
                        action_type=action.type,
                        description=action.description,
                        with_whom=action.with_whom,
                        case_id=action.case_id,
                    ),
                )
            )
        elif row.kind in CONTEXT_ITEMS:
            items.append(CONTEXT_ITEMS[row.kind](loaded[row.kind][entry_id]))
        elif row.kind == "received":
            items.append(_received_item(loaded["received"][entry_id]))
        elif row.kind in ("task", "task_completed"):
            items.append(_task_item(tasks[entry_id], people, completed=row.kind != "task"))
        else:
            decision = decisions[entry_id]
            items.append(
                dict(
                    id=decision.id,
                    type=ChronologyType.decision,
                    occurred_at=decision.decided_at,
                    recorded_at=decision.recorded_at,
                    by=_by(decision),
                    source=_case_href(decision.case_id),
                    summary=_shorten(f"Decision: {decision.decision} Reason: {decision.reason}"),
                    details=dict(
                        decision=decision.decision, reason=decision.reason, case_id=decision.case_id
                    ),
                )
            )
    return ITEMS.validate_python(items)
