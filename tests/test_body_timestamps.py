"""Timestamps in request bodies are RFC 3339 with an offset, never bare numbers."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from models.case import ActionCreate
from models.concern import ConcernCreate

CONCERN = {
    "pupil_ids": [str(uuid.UUID(int=7))],
    "guidance_key": "cse",
    "indicators": [],
    "description": "A fictional observation.",
    "immediate_danger": False,
    "police_contacted": False,
}


@pytest.mark.parametrize(
    "value", [0, 1700000000, "1700000000", "2026-11-27T15:40:00", "2026-11-27"]
)
def test_concern_observed_at_must_be_rfc3339_with_offset(value: object) -> None:
    with pytest.raises(ValidationError):
        ConcernCreate.model_validate(CONCERN | {"observed_at": value})


def test_concern_observed_at_accepts_offsets() -> None:
    parsed = ConcernCreate.model_validate(CONCERN | {"observed_at": "2026-11-27T16:40:00+01:00"})
    assert parsed.observed_at.utcoffset() is not None


def test_case_action_occurred_at_refuses_numbers() -> None:
    with pytest.raises(ValidationError):
        ActionCreate.model_validate(
            {"type": "discussion", "description": "Fictional meeting.", "occurred_at": 0}
        )
