"""A status of a child's safeguarding profile (on a child protection plan since a date...):
on its own, so that the pupil record can show a child's current statuses to the DSL desk
without the pupil model depending on the rest of the profile."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField

from models.base import CalendarDate, NonBlankText

NOTE_MAX = 2_000


class StatusKind(StrEnum):
    child_protection_plan = "child_protection_plan"
    child_in_need = "child_in_need"
    looked_after = "looked_after"
    previously_looked_after = "previously_looked_after"
    early_help = "early_help"
    ehcp = "ehcp"
    young_carer = "young_carer"
    private_fostering = "private_fostering"


STATUS_EXAMPLE: dict[str, Any] = {
    "kind": "child_protection_plan",
    "from": "2026-09-14",
    "to": None,
    "note": "Category: neglect. Review conference 2027-01-10.",
}


class ProfileStatus(BaseModel):
    """A status with the dates it held: ``to`` absent or null while it still holds."""

    model_config = ConfigDict(
        extra="forbid",
        # "from" wherever it is written out (a JSON export dumps without by_alias).
        serialize_by_alias=True,
        hide_input_in_errors=True,
        json_schema_extra={"examples": [STATUS_EXAMPLE]},
    )

    kind: StatusKind
    from_: CalendarDate = PField(alias="from", description="Since when (YYYY-MM-DD)")
    to: CalendarDate | None = PField(
        default=None, description="Until when, on or after `from`; null while it holds"
    )
    note: NonBlankText | None = PField(default=None, max_length=NOTE_MAX)

    @model_validator(mode="after")
    def _to_after_from(self) -> ProfileStatus:
        if self.to is not None and self.to < self.from_:
            raise ValueError("`to` must be on or after `from`")
        return self

    def holds_on(self, day: date) -> bool:
        return self.from_ <= day and (self.to is None or day <= self.to)
