"""How stored values become answers.

``models.base.UTCDateTime`` on SQLite: its own processors must store the same text and
read back the same values as SQLAlchemy's chain they replace (the decorator's wrapper,
``process_bind_param``/``process_result_value``, SQLite's DATETIME processors): stored
timestamps are compared as text in SQL, so one character of difference would misorder
or misfilter them. And the validators that shape answers from stored records never quote
those records in their errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from models.base import UTCDateTime
from services.chronology.items import ITEMS as CHRONOLOGY_ITEMS
from services.concerns.shaping import PUBLIC_CONCERNS

_DIALECT = sqlite.dialect()
_TYPE: Any = UTCDateTime().dialect_impl(_DIALECT)
FAST_BIND: Any = _TYPE.bind_processor(_DIALECT)
FAST_RESULT: Any = _TYPE.result_processor(_DIALECT, None)
CHAIN_BIND: Any = TypeDecorator.bind_processor(_TYPE, _DIALECT)
CHAIN_RESULT: Any = TypeDecorator.result_processor(_TYPE, _DIALECT, None)

_offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(max_examples=500, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=_offsets
    )
)
def test_the_same_text_is_stored_and_the_same_instant_read_back(moment: datetime) -> None:
    stored = FAST_BIND(moment)
    assert stored == CHAIN_BIND(moment)
    assert FAST_RESULT(stored) == CHAIN_RESULT(stored) == moment
    assert FAST_RESULT(stored).tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["2026-01-05 08:30:00", "2026-01-05 08:30:00.123000", "2026-01-05T08:30:00+01:00"]
)
def test_text_written_by_other_hands_reads_as_before(text: str) -> None:
    assert FAST_RESULT(text) == CHAIN_RESULT(text)
    assert FAST_RESULT(text).tzinfo is UTC


def test_none_and_naive_values() -> None:
    assert FAST_BIND(None) is None and FAST_RESULT(None) is None
    with pytest.raises(ValueError, match="naive"):
        FAST_BIND(datetime(2026, 1, 5, 8, 30))


@pytest.mark.parametrize(
    ("adapter", "bad"),
    [
        (PUBLIC_CONCERNS, [{"id": "not-an-id", "description": "SECRET fictional text"}]),
        (PUBLIC_CONCERNS, ["SECRET fictional text as a whole item"]),
        (
            CHRONOLOGY_ITEMS,
            [{"id": "x", "details": {"description": "SECRET fictional text"}}],
        ),
        (CHRONOLOGY_ITEMS, ["SECRET fictional text as a whole item"]),
    ],
)
def test_shaping_errors_carry_no_stored_text(adapter: Any, bad: list[Any]) -> None:
    # Answers are built from stored records by validation: should one ever fail, the
    # error (which the 500 handler logs) must not quote what was stored.
    with pytest.raises(ValidationError) as raised:
        adapter.validate_python(bad)
    assert "SECRET" not in str(raised.value)
