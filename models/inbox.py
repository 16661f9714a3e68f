"""The DSL's inbox: what needs them now, most pressing first."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.case import CaseSummary
from models.concern import ConcernPublic
from models.pattern import FlagPublic
from models.task import TaskPublic
from models.transfer import TransferPublic


class Inbox(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "urgent": [],
                    "new": [],
                    "tasks_due": [],
                    "reviews_due": [],
                    "transfers_due": [],
                    "flags": [],
                }
            ]
        }
    )

    urgent: list[ConcernPublic] = Field(
        description="Concerns in immediate danger that no DSL has moved on from new, oldest "
        "recorded first; shaped as the items of GET /concerns"
    )
    new: list[ConcernPublic] = Field(
        description="Every other concern still new, oldest recorded first; shaped as the "
        "items of GET /concerns"
    )
    tasks_due: list[TaskPublic] = Field(
        description="Open tasks due today or earlier (in England), soonest due first"
    )
    reviews_due: list[CaseSummary] = Field(
        description="Open cases whose review date is today or earlier, soonest first; "
        "shaped as the items of GET /cases"
    )
    transfers_due: list[TransferPublic] = Field(
        description="Files sent to the school still to be received (confirm receipt), and "
        "files it sent that are overdue; soonest due first; shaped as GET /transfers/{id}"
    )
    flags: list[FlagPublic] = Field(
        default_factory=list,
        description="Open pattern flags, oldest raised first; shaped as the items of GET "
        "/flags. A flag is a prompt for a human to read some concerns together, never a "
        "finding",
    )
