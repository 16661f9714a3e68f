"""Tasks: a follow-up a DSL hands to a member of staff (a form tutor, the attendance
officer), on a case, with a date it is due by.

A task belongs to one case, and through it to one pupil and one school (both copied onto
the row, so that a child's chronology and a school's list are index lookups). Its
assignee is any active member of staff of the school who can sign in and read their own
work (staff, DSLs, deputies: ``services.access.TASK_ASSIGNEES``). The assignee sees the
task's title, due date and status, never the case; completing it records who, when and a
note. A task is never deleted, and once completed it does not reopen: a new task is set.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import CheckConstraint, Column, Date, Index, Text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, CalendarDate, NonBlankText, UTCDateTime, new_id
from models.pupil import PupilName
from models.user import DISPLAY_NAME_MAX, name_as_written

TITLE_MAX = 200
NOTE_MAX = 5_000


class TaskStatus(StrEnum):
    open = "open"
    completed = "completed"


class CaseTask(SQLModel, table=True):
    __tablename__ = "case_task"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'completed')", name="status"),
        # Someone's own tasks, by due date (GET /tasks for staff; a DSL's assigned_to filter).
        Index("ix_case_task_school_id_assigned_to_due_on", "school_id", "assigned_to", "due_on"),
        # The school's tasks in a status by due date (the inbox's tasks due; a DSL's list).
        Index("ix_case_task_school_id_status_due_on", "school_id", "status", "due_on"),
        Index("ix_case_task_case_id", "case_id"),
        Index("ix_case_task_school_id_pupil_id", "school_id", "pupil_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    title: str = Field(sa_column=Column(Text, nullable=False))
    assigned_to: uuid.UUID = Field(foreign_key="user_account.id")
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    status: str = Field(default=TaskStatus.open.value, max_length=10)
    set_by: uuid.UUID = Field(foreign_key="user_account.id")
    set_by_name: str = name_as_written()
    set_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    completed_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    completed_by_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# --- API schemas -------------------------------------------------------------------------

_TASK_EXAMPLE: dict[str, Any] = {
    "id": "01936b60-0000-7000-8000-000000000001",
    "case_id": "01936b50-2222-7abc-8def-0123456789ab",
    "title": "Check in with her each morning this week and note how she seems.",
    "assigned_to": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
    "due_on": "2026-12-04",
    "status": "open",
    "set_at": "2026-11-28T09:30:00Z",
    "completed_at": None,
    "note": None,
    "pupils": [
        {
            "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
            "display_name": "Zo Fictional",
            "year_group": "Year 7",
        }
    ],
}


class TaskCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "title": _TASK_EXAMPLE["title"],
                    "assigned_to": _TASK_EXAMPLE["assigned_to"],
                    "due_on": _TASK_EXAMPLE["due_on"],
                }
            ]
        },
    )

    title: NonBlankText = Field(min_length=1, max_length=TITLE_MAX)
    assigned_to: uuid.UUID = Field(
        description="An active member of staff of your school (staff, DSL or deputy DSL)"
    )
    due_on: CalendarDate = Field(description="The date it is due by: today or later (England)")


class TaskComplete(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"note": "Seen each morning; she seemed settled."}]},
    )

    note: NonBlankText = Field(min_length=1, max_length=NOTE_MAX)


class TaskPublic(BaseModel):
    """A task as its reader may see it. A member of staff sees its title, assignee, due
    date and status (and when it was completed); the case, the pupils and the note are
    the DSL desk's (null for staff)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_TASK_EXAMPLE]}, hide_input_in_errors=True
    )

    id: uuid.UUID
    case_id: uuid.UUID | None = Field(description="The case (null for staff)")
    title: str
    assigned_to: uuid.UUID = Field(description="The member of staff it is given to")
    due_on: date
    status: TaskStatus
    set_at: datetime = Field(description="When it was set")
    completed_at: datetime | None
    note: str | None = Field(description="The note it was completed with (null for staff)")
    pupils: list[PupilName] | None = Field(
        default=None, description="The case's pupil, by name (null for staff)"
    )


class TaskPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_TASK_EXAMPLE], "next_cursor": None}]}
    )

    items: list[TaskPublic]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )
