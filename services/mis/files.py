"""Pupils from a file (``import-pupils``), through the one batch upsert of
``services.mis.pupils``.

- **CSV** (``--format csv``): the header ``external_id,upn,given_name,family_name,
  preferred_name,date_of_birth,year_group,registration_group`` (any order; no other
  columns). A file carries no change times, so every row is dated with the time of the
  import: the same file imported twice is all ``unchanged``.
- **OneRoster 1.1** ``users.csv`` (``--format oneroster``): rows with role ``student``;
  ``sourcedId`` is the external id, ``givenName``/``familyName`` the names,
  ``preferredFirstName`` (OneRoster 1.2, used when present) the preferred name,
  ``dateLastModified`` the change time (the import time when blank), the first of
  ``grades`` the year group. OneRoster keeps birth dates in ``demographics.csv``
  (``sourcedId,birthDate``): it is read from beside ``users.csv`` or from ``--demographics``;
  a ``birthDate`` column in ``users.csv`` is also accepted. Rows with ``status``
  ``tobedeleted`` are not upserted: those pupils are marked as left.

A file import goes through ``upsert_pupils_as`` in batches of 500, one transaction per
batch, inside a sync run (delta by default; full with ``full=True``, which completes with
the sweep), as the system actor: the command line is trusted, so no role is checked.
Rejected rows are reported with their line numbers.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from core.errors import Conflict
from db.engine import Database
from models.mis import MAX_BATCH, SyncResult, SyncRunKind
from services import schools
from services.audit import Actor
from services.mis.pupils import mark_pupils_left_as, upsert_pupils_as
from services.mis.runs import complete_run_as, start_run_as

CSV_COLUMNS = (
    "external_id",
    "upn",
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "year_group",
    "registration_group",
)
ONEROSTER_REQUIRED = ("sourcedId", "role", "givenName", "familyName")


class ImportFileError(ValueError):
    """The file cannot be imported at all (a wrong header, unreadable text)."""


@dataclass
class FileRow:
    """One data row of an import file: its first line number, and either a record to
    upsert or (OneRoster ``tobedeleted``) an external id to mark as left."""

    line: int
    record: dict[str, Any] | None = None
    leaver: str | None = None


def _reader(handle: TextIO) -> csv.DictReader[str]:
    reader = csv.DictReader(handle)
    if reader.fieldnames is None:
        raise ImportFileError("the file is empty")
    return reader


def _rows(reader: csv.DictReader[str]) -> Iterable[tuple[int, dict[str, str | None]]]:
    """(first line number, row) for each data row; multi-line cells keep numbers right."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"line {line}: {exc}") from None
        if None in row:
            raise ImportFileError(f"line {line}: more cells than columns")
        yield line, row


def _cell(row: Mapping[str, str | None], name: str) -> str | None:
    value = row.get(name)
    return (value.strip() or None) if isinstance(value, str) else None


def _check_header(found: Sequence[str], expected: Sequence[str]) -> None:
    missing = [name for name in expected if name not in found]
    unknown = [name for name in found if name not in expected]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        raise ImportFileError(f"the header must be {','.join(expected)} ({'; '.join(parts)})")


def read_pupil_csv(handle: TextIO, *, source: str, now: datetime) -> list[FileRow]:
    """Rows of our own CSV format (see the module docstring)."""
    reader = _reader(handle)
    _check_header(list(reader.fieldnames or ()), CSV_COLUMNS)
    rows: list[FileRow] = []
    for line, row in _rows(reader):
        record: dict[str, Any] = {name: _cell(row, name) for name in CSV_COLUMNS}
        record["source"] = source
        record["source_updated_at"] = now.isoformat()
        rows.append(FileRow(line=line, record=record))
    return rows


def read_demographics(path: Path) -> dict[str, str]:
    """OneRoster ``demographics.csv``: birth dates by user ``sourcedId``."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        dates: dict[str, str] = {}
        for _line, row in _rows(_reader(handle)):
            user, birth = _cell(row, "sourcedId"), _cell(row, "birthDate")
            if user and birth:
                dates[user] = birth
        return dates


def read_oneroster_users(
    handle: TextIO, *, source: str, now: datetime, birth_dates: Mapping[str, str]
) -> list[FileRow]:
    """Student rows of a OneRoster 1.1 ``users.csv`` (see the module docstring)."""
    reader = _reader(handle)
    missing = [name for name in ONEROSTER_REQUIRED if name not in (reader.fieldnames or ())]
    if missing:
        raise ImportFileError(f"not a OneRoster users.csv: missing {', '.join(missing)}")
    rows: list[FileRow] = []
    for line, row in _rows(reader):
        if (_cell(row, "role") or "").lower() != "student":
            continue
        external_id = _cell(row, "sourcedId")
        if (_cell(row, "status") or "").lower() == "tobedeleted":
            if external_id:
                rows.append(FileRow(line=line, leaver=external_id))
            continue
        grades = _cell(row, "grades")
        rows.append(
            FileRow(
                line=line,
                record={
                    "source": source,
                    "external_id": external_id,
                    "upn": None,
                    "given_name": _cell(row, "givenName"),
                    "family_name": _cell(row, "familyName"),
                    "preferred_name": _cell(row, "preferredFirstName"),
                    "date_of_birth": _cell(row, "birthDate")
                    or (birth_dates.get(external_id) if external_id else None),
                    "year_group": (grades.split(",")[0].strip() or None) if grades else None,
                    "registration_group": None,
                    "source_updated_at": _cell(row, "dateLastModified") or now.isoformat(),
                },
            )
        )
    return rows


@dataclass
class RejectedRow:
    line: int
    external_id: str | None
    reason: str


@dataclass
class ImportReport:
    run_id: Any
    counts: Counter[str] = field(default_factory=Counter)
    rejected: list[RejectedRow] = field(default_factory=list)
    marked_left: int = 0
    sweep_refused: str | None = None


def import_rows(
    database: Database,
    *,
    school_urn: str,
    source: str,
    rows: Sequence[FileRow],
    now: datetime,
    full: bool = False,
    force: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert the rows into the school's pupils, 500 per transaction, inside a sync run
    (full: completed with the sweep; a refused sweep leaves the run open and is reported,
    not raised). For the command line, which is trusted: no role is checked, and the events
    are recorded as the system actor. Raises the domain errors of an unknown school."""
    with database.transaction() as session:
        school = schools.school_by_urn(session, school_urn)
        actor = Actor(type="system", id=None, role=None, school_id=school.id)
        run = start_run_as(
            session,
            actor,
            kind=SyncRunKind.full if full else SyncRunKind.delta,
            source=source,
            now=now,
        )
    report = ImportReport(run_id=run.id)
    upserts = [row for row in rows if row.record is not None]
    leavers = [row for row in rows if row.leaver is not None]
    for start in range(0, len(upserts), MAX_BATCH):
        batch = upserts[start : start + MAX_BATCH]
        with database.transaction() as session:
            outcome = upsert_pupils_as(
                session,
                actor,
                records=[row.record for row in batch],
                now=now,
                run_id=run.id,
            )
        for row, result in zip(batch, outcome.results, strict=True):
            report.counts[result.result.value] += 1
            if result.result == SyncResult.rejected:
                report.rejected.append(
                    RejectedRow(
                        line=row.line, external_id=result.external_id, reason=result.reason or ""
                    )
                )
        if on_progress is not None:
            on_progress(len(batch))
    for start in range(0, len(leavers), MAX_BATCH):
        batch = leavers[start : start + MAX_BATCH]
        with database.transaction() as session:
            left = mark_pupils_left_as(
                session,
                actor,
                source=source,
                external_ids=[row.leaver for row in batch if row.leaver],
                now=now,
                run_id=run.id,
            )
        report.marked_left += left.counts.get("left", 0)
        if on_progress is not None:
            on_progress(len(batch))
    try:
        with database.transaction() as session:
            finished = complete_run_as(session, actor, run_id=run.id, force=force, now=now)
        report.marked_left += int((finished.sweep or {}).get("marked_left", 0))
    except Conflict as exc:
        report.sweep_refused = exc.detail
    return report
