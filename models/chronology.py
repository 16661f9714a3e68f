"""A pupil's chronology: the file as a timeline, in the order things happened.

Built from the concern, addendum, triage, case, action, decision, task, profile and
referral tables (it has no table of its own). Ordered by ``occurred_at`` (when it
happened: a concern's
``observed_at``, an action's ``occurred_at``, a decision's ``decided_at``, a task's
setting or completion; for everything else, when it was recorded), then
``recorded_at``, then id, which makes the order total and stable across pages.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.attachment import AttachmentListed, BodyMapPublic
from models.case import ActionPublic, CaseSummary, DecisionPublic
from models.category import CategoryName
from models.concern import ConcernPublic, Person
from models.profile import ProfilePublic
from models.pupil import PupilPublic
from models.referral import ReferralPublic


class ChronologyType(StrEnum):
    concern = "concern"
    addendum = "addendum"
    triage = "triage"
    case_opened = "case_opened"
    case_concern_linked = "case_concern_linked"
    case_level_changed = "case_level_changed"
    case_closed = "case_closed"
    case_reopened = "case_reopened"
    action = "action"
    decision = "decision"
    case_review_changed = "case_review_changed"
    case_reassigned = "case_reassigned"
    task = "task"
    task_completed = "task_completed"
    profile_changed = "profile_changed"
    referral = "referral"
    referral_outcome = "referral_outcome"
    # An entry of a file received from the child's previous school (read-only).
    received = "received"


class ChronologySource(BaseModel):
    """The record an entry comes from, and where to read it."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: str = Field(description="concern, case or profile")
    id: uuid.UUID
    href: str


class ChronologyDetails(BaseModel):
    """The entry's own fields; those that do not apply to its type are null."""

    # Built from stored records by validation (services.chronology): an error must never
    # carry a record's text into the log.
    model_config = ConfigDict(hide_input_in_errors=True)

    description: str | None = Field(default=None, description="concern, action")
    indicators: list[str] | None = Field(default=None, description="concern")
    categories: list[CategoryName] | None = Field(
        default=None, description="concern: its categories, with their names"
    )
    location: str | None = Field(default=None, description="concern")
    immediate_danger: bool | None = Field(default=None, description="concern")
    police_contacted: bool | None = Field(default=None, description="concern")
    text: str | None = Field(
        default=None, description="addendum; case summary (opened) or outcome (closed)"
    )
    reason: str | None = Field(default=None, description="addendum, triage, case events, decision")
    field: str | None = Field(default=None, description="triage: status, risk_level, assigned_to")
    from_value: str | None = Field(default=None, description="triage, case level and status")
    to_value: str | None = Field(default=None, description="triage, case level and status")
    action_type: str | None = Field(default=None, description="action")
    with_whom: str | None = Field(default=None, description="action")
    decision: str | None = Field(default=None, description="decision")
    title: str | None = Field(default=None, description="task")
    due_on: date | None = Field(default=None, description="task")
    assigned_to: uuid.UUID | None = Field(default=None, description="task: who it is for")
    note: str | None = Field(default=None, description="task_completed")
    concern_id: uuid.UUID | None = Field(default=None, description="addendum, triage, linked")
    case_id: uuid.UUID | None = Field(
        default=None, description="case events, action, decision, task, referral"
    )
    version: int | None = Field(default=None, description="profile_changed: the version")
    agency: str | None = Field(default=None, description="referral, referral_outcome")
    reference: str | None = Field(default=None, description="referral, referral_outcome")
    outcome: str | None = Field(default=None, description="referral_outcome")
    referral_id: uuid.UUID | None = Field(default=None, description="referral_outcome")
    received_type: str | None = Field(
        default=None, description="received: the entry's type at the school that sent it"
    )
    from_school_urn: str | None = Field(
        default=None, description="received: the URN of the school that sent it"
    )
    transfer_id: uuid.UUID | None = Field(default=None, description="received: its transfer")


_ITEM_EXAMPLE: dict[str, Any] = {
    "id": "01936b2f-1111-7abc-8def-0123456789ab",
    "type": "concern",
    "occurred_at": "2026-11-27T15:40:00Z",
    "recorded_at": "2026-11-27T16:05:12Z",
    "by": {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80", "display_name": "Sam Teacher"},
    "source": {
        "type": "concern",
        "id": "01936b2f-1111-7abc-8def-0123456789ab",
        "href": "/api/v1/concerns/01936b2f-1111-7abc-8def-0123456789ab",
    },
    "summary": (
        "Concern about Child sexual exploitation (CSE) (secretive, unexplained-money-or-items):"
        " Had a new phone..."
    ),
    "details": {
        "description": "Had a new phone and said a friend gave it; would not say who.",
        "indicators": ["secretive", "unexplained-money-or-items"],
        "categories": [{"id": "cse", "name": "Child sexual exploitation (CSE)"}],
    },
}


class ChronologyItem(BaseModel):
    # Plain pydantic models, not SQLModel ones: a chronology page builds 200 items of three
    # models each, and SQLModel's construction is several times dearer than pydantic's
    # (docs/adr/0038-shaping-answers-in-one-validation.md).
    model_config = ConfigDict(
        json_schema_extra={"examples": [_ITEM_EXAMPLE]}, hide_input_in_errors=True
    )

    id: uuid.UUID = Field(description="The entry's own id (concern, addendum, event...)")
    type: ChronologyType
    occurred_at: datetime = Field(description="When it happened")
    recorded_at: datetime = Field(description="When it was written down")
    by: Person = Field(description="Who recorded it")
    source: ChronologySource
    summary: str = Field(description="One readable line (the full text is in details)")
    details: ChronologyDetails


class ChronologyPage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_ITEM_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ChronologyItem] = Field(description="Oldest first")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class DSLOnFile(BaseModel):
    """One of the school's designated safeguarding leads, to contact about the file."""

    model_config = ConfigDict(hide_input_in_errors=True)

    display_name: str
    role: str = Field(description="Designated safeguarding lead or deputy")
    email: str | None = Field(default=None, description="Their work address, to contact")


class SchoolOnFile(BaseModel):
    """The school the file is from: who a reader contacts about it."""

    model_config = ConfigDict(hide_input_in_errors=True)

    name: str
    urn: str = Field(description="The DfE's Unique Reference Number")
    dsls: list[DSLOnFile] = Field(
        description="The school's DSLs and deputies (none in a subject access export that "
        "redacts staff)"
    )


_SUMMARY_EXTRA = cast(dict[str, Any], CaseSummary.model_config.get("json_schema_extra"))
_CASE_ON_FILE_EXAMPLE = _SUMMARY_EXTRA["examples"][0] | {"actions": [], "decisions": []}


class CaseOnFile(CaseSummary):
    """A case as the export shows it: its summary, actions and decisions (its concerns are
    in the concerns section; its tasks and history in the chronology and the appendix)."""

    model_config = SQLModelConfig(json_schema_extra={"examples": [_CASE_ON_FILE_EXAMPLE]})

    actions: list[ActionPublic] = Field(description="By when they happened")
    decisions: list[DecisionPublic] = Field(description="By when they were decided")


class SubjectAccessOnFile(BaseModel):
    """What a subject access export left out, and how (the reasons for withholding stay
    with the request, for the school's DSLs)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    request_id: uuid.UUID
    other_pupils_redacted: bool
    staff_redacted: bool
    withheld_entry_ids: list[uuid.UUID] = Field(description="Entries shown as withheld")
    as_of: datetime = Field(description="Only what was recorded by then is in the export")
    notice: str | None = Field(
        default=None, description="Set when the records have changed since it was prepared"
    )


class PupilFile(SQLModel):
    """A pupil's whole file, as exported for handing over: the school and its DSLs, the
    pupil and their safeguarding profile, the chronology, every concern with its addenda,
    the actions and decisions of each case, the referrals, and the administrative events
    (triage status changes, assignments, links, review dates, tasks) in an appendix. Times
    are in the school's time zone (``timezone``), with their offsets. Marked
    OFFICIAL-SENSITIVE."""

    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "marking": "OFFICIAL-SENSITIVE",
                    "timezone": "Europe/London",
                    "generated_at": "2026-11-28T09:15:00+00:00",
                    "generated_by": {
                        "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81",
                        "display_name": "Jo Lead",
                    },
                    "school": {
                        "name": "Fictional Academy",
                        "urn": "700001",
                        "dsls": [
                            {
                                "display_name": "Jo Lead",
                                "role": "Designated safeguarding lead",
                                "email": "jo.lead@fictional-academy.example",
                            }
                        ],
                    },
                    "sections": [
                        "pupil",
                        "chronology",
                        "concerns",
                        "actions_and_decisions",
                        "administrative_events",
                    ],
                    "pupil": {
                        "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                        "given_name": "Zoë",
                        "family_name": "Fictional",
                        "preferred_name": "Zo",
                        "date_of_birth": "2014-03-09",
                        "upn": "Z000000026001",
                        "year_group": "Year 7",
                        "registration_group": "7F",
                        "display_name": "Zo Fictional",
                        "status": "active",
                        "left_on": None,
                        "source": None,
                        "external_id": None,
                        "created_at": "2026-11-28T09:15:00+00:00",
                        "updated_at": "2026-11-28T09:15:00+00:00",
                    },
                    "chronology": [_ITEM_EXAMPLE],
                    "concerns": [],
                    "actions_and_decisions": [],
                    "administrative_events": [],
                    "subject_access": None,
                }
            ]
        }
    )

    marking: str = Field(default="OFFICIAL-SENSITIVE")
    timezone: str = Field(default="Europe/London", description="Every time is in this zone")
    generated_at: datetime
    generated_by: Person
    school: SchoolOnFile
    sections: list[str] = Field(description="The sections below, in the order to read them")
    pupil: PupilPublic
    chronology: list[ChronologyItem] = Field(
        description="The record, oldest first (administrative events are in their appendix)"
    )
    concerns: list[ConcernPublic] = Field(
        description="Every concern about the pupil in full, with its addenda, oldest first"
    )
    actions_and_decisions: list[CaseOnFile] = Field(
        description="Each case (oldest opened first) with its actions and decisions"
    )
    administrative_events: list[ChronologyItem] = Field(
        description="Appendix: triage status changes, assignments, links, review dates and "
        "tasks, oldest first"
    )
    subject_access: SubjectAccessOnFile | None = Field(
        default=None, description="Set on a subject access export: what it redacted"
    )
    profile: ProfilePublic | None = Field(
        default=None, description="The child's safeguarding profile as it is now"
    )
    referrals: list[ReferralPublic] | None = Field(
        default=None, description="Every referral on the child's cases, by when made"
    )
    attachments: list[AttachmentListed] = Field(
        default_factory=list,
        description="Files on the pupil's concerns and cases, oldest first, each with its "
        "SHA-256 (the bytes are not in the export: download them one by one)",
    )
    body_maps: list[BodyMapPublic] = Field(
        default_factory=list, description="Body maps on the pupil's concerns, oldest first"
    )
