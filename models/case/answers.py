"""A case as the DSL desk reads it: its state, its contents, a page of cases."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.case.tables import ActionType, CaseEventKind, CaseLevel, CaseStatus
from models.concern import ConcernPublic, Person
from models.pupil import PupilName
from models.referral import ReferralPublic
from models.task import TaskPublic

_PUPIL_ID = "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"
_CONCERN_ID = "01936b2f-1111-7abc-8def-0123456789ab"
_CASE_ID = "01936b50-2222-7abc-8def-0123456789ab"
_DSL = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}


class ActionPublic(SQLModel):
    id: uuid.UUID
    type: ActionType
    description: str
    occurred_at: datetime
    with_whom: str | None
    recorded_at: datetime
    recorded_by: Person


class DecisionPublic(SQLModel):
    id: uuid.UUID
    decision: str
    reason: str
    decided_at: datetime = Field(description="When it was decided")
    recorded_at: datetime
    recorded_by: Person


class CaseEventPublic(SQLModel):
    id: uuid.UUID
    kind: CaseEventKind
    from_value: str | None = Field(
        description="The level, status, review date or assignee's id before"
    )
    to_value: str | None = Field(
        description="The level, status, review date or assignee's id after"
    )
    concern_id: uuid.UUID | None = Field(description="The concern linked (concern_linked)")
    text: str | None = Field(description="The summary (opened) or outcome (closed)")
    reason: str | None
    recorded_at: datetime
    recorded_by: Person


_ACTION_EXAMPLE: dict[str, Any] = {
    "id": "01936b51-0000-7000-8000-000000000001",
    "type": "contact_parent",
    "description": "Phoned her mother to share the school's worries.",
    "occurred_at": "2026-11-28T10:30:00Z",
    "with_whom": "Mother (fictional)",
    "recorded_at": "2026-11-28T10:45:00Z",
    "recorded_by": _DSL,
}
_DECISION_EXAMPLE: dict[str, Any] = {
    "id": "01936b52-0000-7000-8000-000000000001",
    "decision": "Refer to children's social care (MASH).",
    "reason": "Pattern of gifts and an older 'friend' meets the threshold.",
    "decided_at": "2026-11-27T16:30:00Z",
    "recorded_at": "2026-11-28T11:00:00Z",
    "recorded_by": _DSL,
}
_CASE_SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": _CASE_ID,
    "pupil_id": _PUPIL_ID,
    "pupils": [{"id": _PUPIL_ID, "display_name": "Zo Fictional", "year_group": "Year 7"}],
    "status": "open",
    "level": "early_help",
    "summary": "Three staff have noticed new items, secrecy and late nights.",
    "assigned_to": _DSL,
    "opened_by": _DSL,
    "opened_at": "2026-11-28T09:00:00Z",
    "closed_at": None,
    "outcome": None,
    "review_on": "2026-12-12",
    "concern_ids": [_CONCERN_ID],
}


class CaseSummary(SQLModel):
    """A case as listed: its state, without its contents."""

    model_config = SQLModelConfig(json_schema_extra={"examples": [_CASE_SUMMARY_EXAMPLE]})

    id: uuid.UUID
    pupil_id: uuid.UUID
    pupils: list[PupilName] = Field(description="The case's pupil, by name")
    status: CaseStatus
    level: CaseLevel
    summary: str
    assigned_to: Person | None
    opened_by: Person
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    review_on: date | None = Field(description="When the case is to be reviewed")
    concern_ids: list[uuid.UUID] = Field(description="Linked concerns, in the order linked")


class CasePublic(CaseSummary):
    """The whole case: linked concerns, actions (by when they happened), decisions (by when
    they were decided), tasks (by when they were set), referrals (by when they were made)
    and its history (oldest first)."""

    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                _CASE_SUMMARY_EXAMPLE
                | {
                    "concerns": [],
                    "actions": [_ACTION_EXAMPLE],
                    "decisions": [_DECISION_EXAMPLE],
                    "tasks": [],
                    "referrals": [],
                    "history": [
                        {
                            "id": "01936b53-0000-7000-8000-000000000001",
                            "kind": "opened",
                            "from_value": None,
                            "to_value": "early_help",
                            "concern_id": None,
                            "text": "Three staff have noticed new items, secrecy and late nights.",
                            "reason": None,
                            "recorded_at": "2026-11-28T09:00:00Z",
                            "recorded_by": _DSL,
                        }
                    ],
                }
            ]
        }
    )

    concerns: list[ConcernPublic]
    actions: list[ActionPublic]
    decisions: list[DecisionPublic]
    tasks: list[TaskPublic]
    referrals: list[ReferralPublic] = Field(
        description="Referrals made on the case, by when they were made, with their outcomes"
    )
    history: list[CaseEventPublic]


class CasePage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_CASE_SUMMARY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[CaseSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )
