"""A member of staff as a record shows them."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

PERSON_EXAMPLE: dict[str, Any] = {
    "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
    "display_name": "Sam Teacher",
}


class Person(BaseModel):
    """A member of staff as shown on a record: who wrote it (``recorded_by``,
    ``opened_by``, ``by``) under the name they had when they wrote it, or who has it now
    (``assigned_to``) under the name they have now. The id is the account's, whatever it
    is called today."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [PERSON_EXAMPLE]}, hide_input_in_errors=True
    )

    id: uuid.UUID
    display_name: str
