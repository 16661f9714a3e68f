"""What every table shares: the naming convention, ids, and UTC timestamps."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

import uuid_utils.compat as uuid_compat
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field
from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel
from sqlmodel._compat import SQLModelConfig

# Constraint names are part of the schema Alembic manages: name them explicitly so that
# migrations can drop or alter them on every backend (SQLite batch mode included).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Request bodies refuse unknown fields: a client can never set a server-owned field.
FORBID_EXTRA = SQLModelConfig(extra="forbid")


def new_id() -> uuid.UUID:
    """A time-ordered, non-guessable id (UUID version 7), made by the application."""
    return uuid_compat.uuid7()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without an offset, which this
    type re-labels as UTC on the way out. Naive datetimes are refused on the way in:
    guessing their zone is how a chronology ends up an hour out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = (
            # raw text from SQLite in unusual query shapes
            datetime.fromisoformat(value) if isinstance(value, str) else value
        )
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    # On SQLite, one function each way instead of SQLAlchemy's chain (the decorator's
    # wrapper, the method above, SQLite's DATETIME processor): a page of concerns or a
    # chronology converts hundreds of timestamps. Same text stored, same values read
    # (the tests hold them to the chain they replace).

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("naive datetime given to a UTC column")
            # SQLite's DATETIME storage format: "2026-01-05 08:30:00.000000".
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_text

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: Any) -> datetime | None:
            if value is None:
                return None
            read = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            return read.replace(tzinfo=UTC) if read.tzinfo is None else read.astimezone(UTC)

        return from_text


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def rfc3339_only(value: object) -> object:
    """Before-validator for timestamps in request bodies: RFC 3339 with an offset (what
    OpenAPI's ``date-time`` promises), or a datetime object from our own code. Pydantic
    alone would also read a bare number as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-28T09:15:00Z")
    return value


# Timestamps a request may carry: anything outside is a typo or a probe, and at the ends of
# the calendar an offset can push a valid-looking timestamp past what a datetime holds.
EARLIEST_MOMENT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(2200, 1, 1, tzinfo=UTC)


def within_sane_range(value: datetime) -> datetime:
    """After-validator for every timestamp a request carries: it must convert to UTC and
    fall between 1900 and 2200 (a 422 naming the field, never a 500 from an overflow)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_MOMENT <= utc < LATEST_MOMENT:
        raise ValueError("must be between 1900-01-01T00:00:00Z and 2199-12-31T23:59:59Z")
    return value


# A timestamp in a request: timezone-aware and within the sane range.
Moment = Annotated[AwareDatetime, AfterValidator(within_sane_range)]


def iso_date_only(value: object) -> object:
    """Before-validator for calendar dates in request bodies: as JSON carries them
    ("2014-03-09"), or a date object from our own code. Pydantic alone would also turn a
    bare number into a date (seconds since 1970)."""
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    raise ValueError("must be a date in the form YYYY-MM-DD")


EARLIEST_DATE = EARLIEST_MOMENT.date()
LATEST_DATE = date(2199, 12, 31)


def within_sane_dates(value: date) -> date:
    """After-validator for every calendar date a request carries: between 1900 and 2199,
    as timestamps are."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError("must be between 1900-01-01 and 2199-12-31")
    return value


# A calendar date in a request (a due date, a review date): "YYYY-MM-DD", within range.
CalendarDate = Annotated[date, BeforeValidator(iso_date_only), AfterValidator(within_sane_dates)]


def storable_text(value: str) -> str:
    """Text every database stores alike: no NUL (PostgreSQL refuses it, SQLite would keep
    it), checked on input so that both backends answer the same 422 naming the field.
    (A lone surrogate never gets this far: pydantic refuses it as a string.)"""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


def non_blank_text(value: str) -> str:
    """Storable text with something in it besides whitespace. The text is kept exactly as
    sent: a record says what its author wrote."""
    if not value.strip():
        raise ValueError("must not be blank")
    return storable_text(value)


# Free text a person writes into a record (a summary, a reason, a decision). The pattern
# tells OpenAPI readers (and fuzzers) the same rule: something other than whitespace, and
# no NUL. ``\s`` is Python's whitespace, the same set ``str.strip`` removes.
NonBlankText = Annotated[
    str,
    AfterValidator(non_blank_text),
    Field(json_schema_extra={"pattern": "^\\s*[^\\s\\u0000][^\\u0000]*$"}),
]
