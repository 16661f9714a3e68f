"""Issue 18's migration on a database with records: what it copies, and what it refuses.

Every name and every text here is invented.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.command import upgrade

import models
from db.engine import create_db_engine
from models.base import new_id
from tests.test_migrations import _config

BEFORE = "20261202_openapi_key_callers"
RECORDED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _table(name: str) -> sa.Table:
    return models.SQLModel.metadata.tables[name]


def _records(url: str, *, open_cases: int) -> dict[str, uuid.UUID]:
    """A school with a pupil, two concerns (one in immediate danger), and ``open_cases``
    open cases for the pupil, the first with a decision; written at the revision before."""
    ids = {name: new_id() for name in ("school", "dsl", "pupil", "urgent", "calm")}
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:

            def insert(table: str, **values: Any) -> None:
                connection.execute(_table(table).insert().values(**values))

            insert("school", id=ids["school"], name="Fictional Academy", urn="799001",
                   created_at=RECORDED)  # fmt: skip
            insert("user_account", id=ids["dsl"], school_id=ids["school"],
                   email="dsl@fictional.example", display_name="Jo Lead", role="dsl",
                   active=True, mfa_enrolled=False, token_version=1, created_at=RECORDED,
                   updated_at=RECORDED)  # fmt: skip
            insert("pupil", id=ids["pupil"], school_id=ids["school"], given_name="Zoë",
                   family_name="Fictional", date_of_birth=date(2014, 3, 9), status="active",
                   given_name_key="zoe", family_name_key="fictional", created_at=RECORDED,
                   updated_at=RECORDED)  # fmt: skip
            for name, danger in (("urgent", True), ("calm", False)):
                insert("concern", id=ids[name], school_id=ids["school"],
                       recorded_by=ids["dsl"], recorded_at=RECORDED, observed_at=RECORDED,
                       guidance_key="cse", guidance_version="1", description="Fictional.",
                       immediate_danger=danger, police_contacted=False)  # fmt: skip
                insert("concern_triage", concern_id=ids[name], school_id=ids["school"],
                       status="new", recorded_at=RECORDED, version=1,
                       updated_at=RECORDED)  # fmt: skip
            for n in range(open_cases):
                case_id = ids[f"case{n}"] = new_id()
                insert("safeguarding_case", id=case_id, school_id=ids["school"],
                       pupil_id=ids["pupil"], status="open", level="monitoring",
                       summary="S.", opened_by=ids["dsl"], opened_at=RECORDED, version=1,
                       updated_at=RECORDED)  # fmt: skip
            if open_cases:
                ids["decision"] = new_id()
                insert("case_decision", id=ids["decision"], case_id=ids["case0"],
                       school_id=ids["school"], pupil_id=ids["pupil"], decision="D.",
                       reason="R.", recorded_by=ids["dsl"], recorded_at=RECORDED)  # fmt: skip
    finally:
        engine.dispose()
    return ids


def test_the_upgrade_copies_what_the_new_columns_hold(
    backend: str, empty_database_url: Any
) -> None:
    url = empty_database_url(backend)
    config = _config(url)
    upgrade(config, BEFORE)
    ids = _records(url, open_cases=1)
    upgrade(config, "head")
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            triage = _table("concern_triage")
            flags = dict(
                connection.execute(sa.select(triage.c.concern_id, triage.c.immediate_danger))
                .tuples()
                .all()
            )
            decision = _table("case_decision")
            decided = connection.execute(sa.select(decision.c.decided_at)).scalar_one()
            case = _table("safeguarding_case")
            review = connection.execute(sa.select(case.c.review_on)).scalar_one()
    finally:
        engine.dispose()
    assert flags == {ids["urgent"]: True, ids["calm"]: False}
    assert decided == RECORDED
    assert review is None


def test_the_upgrade_stops_when_a_pupil_has_two_open_cases(
    backend: str, empty_database_url: Any
) -> None:
    url = empty_database_url(backend)
    config = _config(url)
    upgrade(config, BEFORE)
    _records(url, open_cases=2)
    with pytest.raises(RuntimeError, match="more than one open case"):
        upgrade(config, "head")
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == BEFORE
            columns = {c["name"] for c in sa.inspect(connection).get_columns("concern_triage")}
    finally:
        engine.dispose()
    assert "immediate_danger" not in columns
