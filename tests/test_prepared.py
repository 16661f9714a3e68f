"""``db.prepared.Prepared``: a Core statement run on the driver's cursor must behave exactly as
through ``Connection.execute``: the same values in and out, the same errors, in the same
transaction, seen by the same engine events. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError

from db import prepared as db_prepared
from db.batch import rows_together, sent_together
from db.engine import Database
from db.prepared import Prepared
from models import School, User
from tests.factories import make_school, make_user

USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
SCHOOLS: sa.Table = School.__table__  # type: ignore[attr-defined]

USERS_OF_SCHOOL = sa.select(
    USERS.c.id, USERS.c.display_name, USERS.c.active, USERS.c.created_at, USERS.c.totp_secret
).where(
    USERS.c.school_id == sa.bindparam("school_id"),
    USERS.c.id.in_(sa.bindparam("user_ids", expanding=True)),
)


RENAME_SCHOOL = Prepared(
    sa.update(SCHOOLS)
    .where(SCHOOLS.c.id == sa.bindparam("school_id"))
    .values(name=sa.bindparam("name"))
)


@contextmanager
def _statements_seen(database: Database) -> Iterator[list[tuple[str, bool]]]:
    """Each statement the engine's cursor events see meanwhile: its first word, and
    whether it ran as an executemany."""
    seen: list[tuple[str, bool]] = []

    def remember(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, many: bool
    ) -> None:
        seen.append((statement.split()[0].lower(), many))

    event.listen(database.engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", remember)


def test_rows_are_what_sqlalchemy_reads(database: Database) -> None:
    school = make_school(database)
    users = [make_user(database, school, active=i != 1) for i in range(3)]
    parameters = {"school_id": school.id, "user_ids": [u.id for u in users]}
    prepared = Prepared(USERS_OF_SCHOOL.order_by(USERS.c.email))
    with database.transaction() as session:
        expected = [
            tuple(row) for row in session.connection().execute(prepared.statement, parameters)
        ]
        got = prepared.rows(session, parameters)
    assert [tuple(row) for row in got] == expected
    assert len(got) == 3
    first = got[0]
    assert isinstance(first.id, uuid.UUID)
    assert first.created_at.utcoffset() is not None  # read back timezone-aware
    assert {row.active for row in got} == {True, False}
    assert first.totp_secret is None


def test_ids_read_again_are_remembered_within_a_bound(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = make_school(database)
    users = [make_user(database, school) for _ in range(5)]
    ids = sorted(u.id for u in users)
    ids_of_school = Prepared(sa.select(USERS.c.id).where(USERS.c.school_id == sa.bindparam("s")))
    monkeypatch.setattr(db_prepared, "REMEMBERED_IDS", 3)
    monkeypatch.setattr(db_prepared, "_parsed_ids", {})
    with database.transaction() as session:
        first = sorted(row.id for row in ids_of_school.rows(session, {"s": school.id}))
        again = sorted(row.id for row in ids_of_school.rows(session, {"s": school.id}))
    assert first == again == ids
    assert all(isinstance(user_id, uuid.UUID) for user_id in again)
    # On SQLite the last few are kept (never more than the bound); on PostgreSQL the driver
    # parses them and nothing is kept.
    kept = len(db_prepared._parsed_ids)
    assert 0 < kept <= 3 if database.dialect == "sqlite" else kept == 0


def test_in_lists_of_any_length_and_never_empty(database: Database) -> None:
    school = make_school(database)
    users = [make_user(database, school) for _ in range(4)]
    other = make_school(database)
    prepared = Prepared(USERS_OF_SCHOOL)
    with database.transaction() as session:
        for n in (1, 4, 2, 4):
            ids = [u.id for u in users[:n]]
            found = prepared.rows(session, {"school_id": school.id, "user_ids": ids})
            assert {row.id for row in found} == set(ids)
        assert prepared.rows(session, {"school_id": other.id, "user_ids": ids}) == []
        with pytest.raises(ValueError, match="must not be empty"):
            prepared.rows(session, {"school_id": school.id, "user_ids": []})


def test_a_limit_is_a_parameter_and_the_statements_own_values_are_bound(
    database: Database,
) -> None:
    # SQLite renders ``LIMIT ? OFFSET ?``: the offset is a value of the statement's own.
    school = make_school(database)
    users = sorted((make_user(database, school) for _ in range(3)), key=lambda u: u.id)
    prepared = Prepared(
        sa.select(USERS.c.id)
        .where(USERS.c.school_id == sa.bindparam("school_id"))
        .order_by(USERS.c.id)
        .limit(sa.bindparam("most", type_=sa.Integer))
    )
    with database.transaction() as session:
        for most in (1, 2, 5):
            found = prepared.rows(session, {"school_id": school.id, "most": most})
            assert [row.id for row in found] == [u.id for u in users[:most]]


def test_one_or_none(database: Database) -> None:
    school = make_school(database)
    user = make_user(database, school)
    prepared = Prepared(USERS_OF_SCHOOL)
    with database.transaction() as session:
        row = prepared.one_or_none(session, {"school_id": school.id, "user_ids": [user.id]})
        assert row is not None and row.id == user.id
        assert (
            prepared.one_or_none(session, {"school_id": school.id, "user_ids": [uuid.uuid4()]})
            is None
        )


def test_writes_join_the_sessions_transaction(database: Database) -> None:
    school = make_school(database)

    def rename_then_fail() -> None:
        with database.transaction() as session:
            RENAME_SCHOOL.run(session, {"school_id": school.id, "name": "Fictional Renamed School"})
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        rename_then_fail()
    with database.transaction() as session:
        assert session.get_one(School, school.id).name == school.name  # rolled back with it
        RENAME_SCHOOL.run(session, {"school_id": school.id, "name": "Fictional Renamed School"})
    with database.transaction() as session:
        assert session.get_one(School, school.id).name == "Fictional Renamed School"


def test_an_insert_must_be_given_every_column_filled_in_python(database: Database) -> None:
    with database.transaction() as session:
        with pytest.raises(ValueError, match="must be given"):
            Prepared(sa.insert(SCHOOLS)).insert_many(
                session, [{"name": "Fictional", "urn": "799999"}]
            )


def test_driver_errors_are_sqlalchemys_and_hide_parameters(database: Database) -> None:
    school = make_school(database)
    insert = Prepared(sa.insert(SCHOOLS))
    row = {
        "id": uuid.uuid4(),
        "name": "Fictional Copy",
        "urn": school.urn,
        "created_at": school.created_at,
    }
    with pytest.raises(IntegrityError) as raised, database.transaction() as session:
        insert.insert_many(session, [row])
    assert raised.value.orig is not None
    assert "Fictional Copy" not in str(raised.value)


def test_engine_events_see_prepared_statements(database: Database) -> None:
    school = make_school(database)
    user = make_user(database, school)
    with _statements_seen(database) as seen, database.transaction() as session:
        Prepared(USERS_OF_SCHOOL).rows(session, {"school_id": school.id, "user_ids": [user.id]})
    assert ("select", False) in seen


def test_sqlite_locked_at_begin_is_a_transient_sqlalchemy_error(
    backend: str, migrated_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's write lock")
    import sqlite3

    from sqlalchemy.engine import make_url

    from api.errors import is_transient

    holder = sqlite3.connect(make_url(migrated_url).database or "", isolation_level=None)
    impatient = Database.from_url(migrated_url, busy_timeout_ms=50)
    try:
        holder.execute("BEGIN IMMEDIATE")
        session = impatient.session()
        with pytest.raises(OperationalError) as raised:
            session.connection()  # BEGIN IMMEDIATE, on the driver's cursor
        session.close()
        assert is_transient(raised.value)  # retried, then 503 with Retry-After
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()


def test_insert_many_is_one_statement_per_chunk_or_one_pipeline(
    database: Database, backend: str
) -> None:
    school = make_school(database)
    annexes = Prepared(sa.insert(SCHOOLS))
    rows = [
        {
            "id": uuid.uuid4(),
            "name": f"Fictional Annexe {i}",
            "urn": f"{600000 + i:06d}",
            "created_at": school.created_at,
        }
        for i in range(300)
    ]
    with _statements_seen(database) as statements, database.transaction() as session:
        annexes.insert_many(session, rows)
    inserts = [s for s in statements if s[0] == "insert"]
    if backend == "sqlite":  # 4 columns: 249 rows per statement at most
        assert inserts == [("insert", False)] * 2
    else:  # one executemany, which psycopg sends as one pipeline
        assert inserts == [("insert", True)]
    by_copy = Prepared(sa.insert(SCHOOLS), copy_on_postgresql=True)
    more = [{**row, "id": uuid.uuid4(), "urn": f"{410000 + i:06d}"} for i, row in enumerate(rows)]
    with _statements_seen(database) as statements, database.transaction() as session:
        by_copy.insert_many(session, more)
        few = [
            {**row, "id": uuid.uuid4(), "urn": f"{420000 + i:06d}"}
            for i, row in enumerate(rows[:9])
        ]
        by_copy.insert_many(session, few)  # too few rows for a COPY
    seen = [s for s in statements if s[0] in ("insert", "copy")]
    if backend == "sqlite":
        assert seen == [("insert", False)] * 3
    else:
        assert seen == [("copy", True), ("insert", True)]
    with database.transaction() as session:
        names = (
            session.connection()
            .execute(sa.select(SCHOOLS.c.name).where(SCHOOLS.c.urn.like("6%")))
            .scalars()
        )
        assert sorted(map(str, names)) == sorted(str(row["name"]) for row in rows)


def test_insert_many_keeps_any_text_and_raises_sqlalchemys_errors(database: Database) -> None:
    # Enough rows for PostgreSQL's COPY, with what its text format must escape.
    school = make_school(database)
    annexes = Prepared(sa.insert(SCHOOLS), copy_on_postgresql=True)
    names = ["Tab\there", "New\nline", "Back\\slash \\N", "Ünïcödé 🏫", "\\.", "Quote ' \""]
    rows = [
        {
            "id": uuid.uuid4(),
            "name": names[i % len(names)] + f" {i}",
            "urn": f"{500000 + i:06d}",
            "created_at": school.created_at,
        }
        for i in range(12)
    ]
    with database.transaction() as session:
        annexes.insert_many(session, rows)
    with database.transaction() as session:
        stored = session.connection().execute(
            sa.select(SCHOOLS.c.name, SCHOOLS.c.created_at).where(SCHOOLS.c.urn.like("5%"))
        )
        assert sorted(stored) == sorted((row["name"], row["created_at"]) for row in rows)
    again = [{**row, "urn": f"{510000 + i:06d}"} for i, row in enumerate(rows)]
    with pytest.raises(IntegrityError) as raised, database.transaction() as session:
        annexes.insert_many(session, again)
    assert not any(str(row["name"]) in str(raised.value) for row in again)  # parameters hidden


def test_only_a_plain_insert_may_be_copied() -> None:
    Prepared(sa.insert(SCHOOLS), copy_on_postgresql=True)
    for statement in (
        sa.insert(SCHOOLS).returning(SCHOOLS.c.id),
        sa.insert(SCHOOLS).values(name="Fictional Constant"),
    ):
        with pytest.raises(ValueError, match="plain INSERT"):
            Prepared(statement, copy_on_postgresql=True)


def test_an_in_list_of_values_is_refused_when_the_statement_is_prepared() -> None:
    with pytest.raises(ValueError, match="IN list as a named parameter"):
        Prepared(sa.select(SCHOOLS.c.id).where(SCHOOLS.c.name.in_(["Fictional", "Madeup"])))
    Prepared(
        sa.select(SCHOOLS.c.id).where(SCHOOLS.c.name.in_(sa.bindparam("names", expanding=True)))
    )


def test_rows_together_are_each_statements_rows(database: Database) -> None:
    school = make_school(database)
    users = [make_user(database, school) for _ in range(3)]
    parameters = {"school_id": school.id, "user_ids": [u.id for u in users]}
    by_email = Prepared(USERS_OF_SCHOOL.order_by(USERS.c.email))
    school_row = Prepared(
        sa.select(SCHOOLS.c.id, SCHOOLS.c.name).where(SCHOOLS.c.id == sa.bindparam("id"))
    )
    with _statements_seen(database) as statements, database.transaction() as session:
        together = rows_together(
            session,
            [(by_email, parameters), (school_row, {"id": school.id}), (by_email, parameters)],
        )
        one_by_one = [
            by_email.rows(session, parameters),
            school_row.rows(session, {"id": school.id}),
        ]
    assert together == [one_by_one[0], one_by_one[1], one_by_one[0]]
    assert [s[0] for s in statements if s[0] != "begin"] == ["select"] * 5


def test_rows_together_raise_sqlalchemys_errors(database: Database) -> None:
    school = make_school(database)
    fine = Prepared(sa.select(SCHOOLS.c.id).where(SCHOOLS.c.id == sa.bindparam("id")))
    broken = Prepared(sa.select(sa.literal_column("id")).select_from(sa.table("no_such_table")))
    with pytest.raises(sa.exc.DBAPIError), database.transaction() as session:
        rows_together(session, [(fine, {"id": school.id}), (broken, {})])


def test_statements_sent_together_join_the_transaction_and_fail_as_sqlalchemys(
    database: Database,
) -> None:
    school, other = make_school(database), make_school(database)
    take_urn = Prepared(
        sa.update(SCHOOLS)
        .where(SCHOOLS.c.id == sa.bindparam("school_id"))
        .values(urn=sa.bindparam("urn"))
    )
    names = sa.select(SCHOOLS.c.name).where(SCHOOLS.c.id.in_([school.id, other.id]))
    with database.transaction() as session:
        with sent_together(session):
            RENAME_SCHOOL.run(session, {"school_id": school.id, "name": "Fictional Academy"})
            RENAME_SCHOOL.run(session, {"school_id": other.id, "name": "Fictional Academy"})
        assert set(session.connection().execute(names).scalars()) == {"Fictional Academy"}
    reached: list[str] = []

    def clash(*, when: bool) -> None:
        with database.transaction() as session, sent_together(session, when=when):
            RENAME_SCHOOL.run(session, {"school_id": school.id, "name": "Renamed"})
            take_urn.run(session, {"school_id": school.id, "urn": other.urn})
            reached.append("end of the block")

    # A statement refused (on PostgreSQL, as the block ends): SQLAlchemy's error, and
    # nothing of the block kept.
    with pytest.raises(sa.exc.IntegrityError):
        clash(when=True)
    postgresql = database.engine.dialect.name == "postgresql"
    assert reached == (["end of the block"] if postgresql else [])
    with database.transaction() as session:
        assert set(session.connection().execute(names).scalars()) == {"Fictional Academy"}
    # Unless ``when``, one after the other: the statement itself raises.
    reached.clear()
    with pytest.raises(sa.exc.IntegrityError):
        clash(when=False)
    assert reached == []


def test_a_block_sent_together_that_raises_keeps_nothing(database: Database) -> None:
    school = make_school(database)

    class Stop(Exception):
        pass

    def attempt() -> None:
        with database.transaction() as session, sent_together(session):
            RENAME_SCHOOL.run(session, {"school_id": school.id, "name": "Never kept"})
            raise Stop

    with pytest.raises(Stop):
        attempt()
    with database.transaction() as session:
        name = session.connection().execute(
            sa.select(SCHOOLS.c.name).where(SCHOOLS.c.id == school.id)
        )
        assert name.scalar_one() == school.name
