"""A concern's mark of having been entered in error, as its answer shows it (DSLs only);
its table and the request that makes it are in ``models.lifecycle``."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from models.people import Person


class EnteredInError(BaseModel):
    """A concern's mark: recorded in error, or against the wrong child."""

    model_config = ConfigDict(hide_input_in_errors=True)

    reason: str
    by: Person
    at: datetime
    correct_pupil_ids: list[uuid.UUID] = Field(
        description="The children it is really about (empty: recorded in error)"
    )
