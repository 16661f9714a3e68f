"""Querying concerns as a DSL: every filter alone and combined, text search over the
description and the addenda, sorts, cursors that remember their sort, staff kept to
their own, and (on PostgreSQL) query plans that use the indexes.

Every name and every text here is invented.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql

from db.engine import Database
from models.triage import TriageStatus
from models.user import Role
from services import concerns, inbox
from services.principal import Principal
from tests.desk import CONCERNS, Desk, iso
from tests.factories import make_pupil


class Data:
    """Four concerns, a day apart, written up in an order that differs from the order in
    which things happened."""

    def __init__(self, desk: Desk, database: Database) -> None:
        w = desk.world
        self.desk = desk
        self.amy = make_pupil(database, w.school, "Amy", "Invented", year_group="Year 9")
        self.start = start = desk.clock.now()
        self.a = desk.concern(
            w.staff_a,
            indicators=["frightened-of-people-places-or-situations"],
            description="Zoë was frightened at the bus station.",
            observed_at=iso(start - timedelta(days=3)),
        )
        desk.clock.advance(minutes=1)
        self.b = desk.concern(
            w.staff_b,
            pupils=[w.zack],
            indicators=["older-partner-or-new-friends", "secretive"],
            description="Collected by an older driver in a silver car.",
            observed_at=iso(start - timedelta(days=2)),
            immediate_danger=True,
        )
        desk.clock.advance(minutes=1)
        self.c = desk.concern(
            w.dsl,
            pupils=[w.zoe, w.zack],
            indicators=["stays-out-late-or-overnight"],
            description="Both seen near the shops late at night.",
            observed_at=iso(start - timedelta(days=1)),
        )
        desk.clock.advance(minutes=1)
        # Written up last, but it happened first.
        self.d = desk.concern(
            w.staff_a,
            pupils=[self.amy],
            indicators=["secretive"],
            description="Amy would not say who bought her trainers.",
            observed_at=iso(start - timedelta(days=4)),
        )
        added = desk.client.post(
            f"{CONCERNS}/{self.a['id']}/addenda",
            json={"text": "The driver gave her a phone.", "reason": "Told later."},
            headers=desk.headers(w.staff_a),
        )
        assert added.status_code == 201
        desk.triage(
            self.a["id"],
            {
                "status": "acknowledged",
                "risk_level": "high",
                "assigned_to": str(w.deputy.id),
                "reason": "R.",
            },
        )
        desk.triage(self.b["id"], {"status": "in_progress", "risk_level": "low", "reason": "R."})
        # Another school's concern, which must never show.
        desk.concern(w.other_staff, pupils=[w.elsewhere], description="Frightened driver.")

    def ids(self, who: Any = None, **params: Any) -> list[str]:
        response = self.desk.client.get(CONCERNS, params=params, headers=self.desk.headers(who))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def data(desk: Desk, database: Database) -> Data:
    return Data(desk, database)


def test_each_filter_alone(data: Data) -> None:
    a, b, c, d = data.a["id"], data.b["id"], data.c["id"], data.d["id"]
    w, start = data.desk.world, data.start
    assert data.ids() == [d, c, b, a]  # newest recorded first
    assert data.ids(pupil_id=str(w.zack.id)) == [c, b]
    assert data.ids(indicator="secretive") == [d, b]
    assert data.ids(indicator=["secretive", "stays-out-late-or-overnight"]) == [d, c, b]
    assert data.ids(status="new") == [d, c]
    assert data.ids(status=["acknowledged", "in_progress"]) == [b, a]
    assert data.ids(**{"from": iso(start - timedelta(days=2))}) == [c, b]
    assert data.ids(to=iso(start - timedelta(days=2))) == [d, a]
    assert data.ids(recorded_by=str(w.staff_a.id)) == [d, a]
    assert data.ids(immediate_danger="true") == [b]
    assert data.ids(risk_level="high") == [a]
    assert data.ids(risk_level=["high", "low"]) == [b, a]
    assert data.ids(assigned_to=str(w.deputy.id)) == [a]
    assert data.ids(year_group="Year 9") == [d]
    assert data.ids(year_group="Year 7") == [c, b, a]


def test_filters_combine(data: Data) -> None:
    a, b, c, d = data.a["id"], data.b["id"], data.c["id"], data.d["id"]
    w, start = data.desk.world, data.start
    assert data.ids(indicator="secretive", **{"from": iso(start - timedelta(days=3))}) == [b]
    assert data.ids(
        indicator="secretive",
        **{"from": iso(start - timedelta(days=5)), "to": iso(start - timedelta(days=3))},
    ) == [d]
    assert data.ids(pupil_id=str(w.zoe.id), status="new") == [c]
    assert data.ids(pupil_id=str(w.zack.id), q="driver") == [b]
    assert data.ids(q="driver", risk_level="high") == [a]  # found through its addendum
    assert data.ids(recorded_by=str(w.staff_a.id), year_group="Year 9", status="new") == [d]
    assert data.ids(immediate_danger="false", year_group="Year 7", sort="observed_at") == [a, c]
    assert data.ids(indicator="secretive", pupil_id=str(w.zoe.id)) == []
    # Signs and status: the status is checked inside the signs' subquery as well.
    assert data.ids(indicator="secretive", status="new") == [d]
    assert data.ids(indicator="secretive", status=["in_progress", "closed"]) == [b]
    assert data.ids(indicator=["secretive", "stays-out-late-or-overnight"], status="new") == [d, c]
    assert data.ids(
        indicator="secretive", status="in_progress", **{"from": iso(start - timedelta(days=3))}
    ) == [b]
    assert data.ids(indicator="secretive", status="acknowledged") == []


def test_text_search_covers_description_and_addenda(data: Data) -> None:
    a, b, c, d = data.a["id"], data.b["id"], data.c["id"], data.d["id"]
    assert data.ids(q="driver") == [b, a]  # b's description, a's addendum
    assert data.ids(q="phone") == [a]  # only in an addendum
    assert data.ids(q="silver car") == [b]  # every word must match
    assert data.ids(q="SHOPS") == [c]
    assert data.ids(q="frighten") == [a]  # "frightened": a stem on PostgreSQL, a prefix on SQLite
    assert data.ids(q="Zoë") == [a]
    assert data.ids(q="trainers") == [d]
    assert data.ids(q="xylophone") == []
    assert data.ids(q="100%") == []


def test_sorts_and_cursors_that_remember_them(data: Data) -> None:
    a, b, c, d = data.a["id"], data.b["id"], data.c["id"], data.d["id"]
    assert data.ids(sort="-recorded_at") == [d, c, b, a]
    assert data.ids(sort="recorded_at") == [a, b, c, d]
    assert data.ids(sort="-observed_at") == [c, b, a, d]
    assert data.ids(sort="observed_at") == [d, a, b, c]
    bad = data.desk.client.get(
        CONCERNS, params={"sort": "description"}, headers=data.desk.headers()
    )
    assert bad.status_code == 422
    client, headers = data.desk.client, data.desk.headers()
    page = client.get(CONCERNS, params={"sort": "observed_at", "limit": 2}, headers=headers).json()
    mixed = client.get(
        CONCERNS, params={"sort": "recorded_at", "cursor": page["next_cursor"]}, headers=headers
    )
    assert mixed.status_code == 422
    assert mixed.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("sort", ["observed_at", "-observed_at", "recorded_at", "-recorded_at"])
def test_pages_stay_correct_while_concerns_arrive(data: Data, sort: str) -> None:
    desk = data.desk
    before = data.ids(sort=sort)
    seen: list[str] = []
    cursor = None
    for turn in range(20):
        params: dict[str, Any] = {"sort": sort, "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = desk.client.get(CONCERNS, params=params, headers=desk.headers()).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        if turn < 3:
            # A concern arrives between pages, about something that happened mid-way.
            desk.clock.advance(minutes=1)
            desk.concern(observed_at=iso(data.start - timedelta(days=2, hours=12)))
    assert cursor is None
    originals = [concern_id for concern_id in seen if concern_id in before]
    assert originals == before
    assert len(seen) == len(set(seen))


def test_staff_filters_never_widen_what_they_see(data: Data) -> None:
    a, d = data.a["id"], data.d["id"]
    w = data.desk.world
    assert data.ids(w.staff_a) == [d, a]
    assert data.ids(w.staff_a, q="driver") == [a]
    assert data.ids(w.staff_a, pupil_id=str(w.zack.id)) == []
    assert data.ids(w.staff_a, recorded_by=str(w.staff_b.id)) == []
    assert data.ids(w.staff_a, status="acknowledged") == [a]
    assert data.ids(w.staff_a, year_group="Year 7", sort="observed_at") == [a]
    for params in ({"risk_level": "high"}, {"assigned_to": str(w.deputy.id)}):
        response = data.desk.client.get(
            CONCERNS, params=params, headers=data.desk.headers(w.staff_a)
        )
        assert response.status_code == 403, params


def test_a_page_takes_a_fixed_number_of_queries(data: Data, database: Database) -> None:
    desk = data.desk
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def queries(**params: Any) -> int:
        statements.clear()
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            response = desk.client.get(
                CONCERNS, params={"limit": 200} | params, headers=desk.headers()
            )
            assert response.status_code == 200
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        return len(statements)

    small = queries(q="driver")
    for n in range(15):
        concern = desk.concern(description=f"Another driver story {n}.")
        desk.triage(concern["id"], {"assigned_to": str(desk.world.deputy.id), "reason": "R."})
    assert queries(q="driver") == small


# --- query plans (PostgreSQL) -----------------------------------------------------------------

FILLER = 20_000


def _plan(database: Database, data: Data, statement: Any) -> str:
    """EXPLAIN ``statement`` over the data plus 20,000 filler concerns (inserted and
    rolled back in one transaction): on a handful of rows any plan is as good as another,
    so the planner's choice says nothing about the indexes."""
    w = data.desk.world
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    params = {"school": w.school.id, "user": w.staff_a.id}
    with database.engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.execute(
                text(
                    "INSERT INTO concern (id, school_id, recorded_by, recorded_at, observed_at, "
                    "guidance_key, guidance_version, description, immediate_danger, "
                    "police_contacted) "
                    "SELECT gen_random_uuid(), :school, :user, "
                    "now() - make_interval(mins => n), now() - make_interval(mins => n), "
                    "'cse', '1', 'Fictional filler number ' || n || ' about a bike and a park.', "
                    "false, false FROM generate_series(1, :n) AS n"
                ),
                params | {"n": FILLER},
            )
            connection.execute(
                text(
                    "INSERT INTO concern_indicator (concern_id, indicator_id, school_id, "
                    "observed_at, position) "
                    "SELECT id, (ARRAY['secretive', 'sexualised-behaviour', "
                    "'misses-school-or-arrives-late', 'drug-or-alcohol-misuse', "
                    "'changes-in-mood-or-behaviour'])[1 + (abs(hashtext(id::text)) % 5)], "
                    "school_id, observed_at, 0 FROM concern "
                    "WHERE school_id = :school AND description LIKE 'Fictional filler%'"
                ),
                params,
            )
            connection.execute(
                text(
                    "INSERT INTO concern_triage (concern_id, school_id, status, recorded_at, "
                    "immediate_danger, version, updated_at) SELECT id, school_id, 'new', "
                    "recorded_at, immediate_danger, 1, recorded_at FROM concern "
                    "WHERE school_id = :school "
                    "AND description LIKE 'Fictional filler%'"
                ),
                params,
            )
            connection.execute(text("ANALYZE"))
            # What the planner would do at scale, not on a table it can read in one page.
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            rows = connection.exec_driver_sql("EXPLAIN " + sql.replace("%", "%%")).all()
        finally:
            transaction.rollback()
    return "\n".join(row[0] for row in rows)


def _dsl(data: Data) -> Principal:
    w = data.desk.world
    return Principal(id=w.dsl.id, school_id=w.school.id, role=Role.dsl, kind="user")


def _statement(database: Database, data: Data, filters: concerns.ConcernFilters) -> Any:
    with database.transaction() as session:
        return concerns.concern_query(session, principal=_dsl(data), filters=filters, limit=50)


def test_indicator_and_date_filters_use_indexes(
    data: Data, database: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    filters = concerns.ConcernFilters(
        indicators=("secretive",),
        observed_from=data.start - timedelta(days=2),
        observed_to=data.start - timedelta(days=1),
    )
    plan = _plan(database, data, _statement(database, data, filters))
    assert "ix_concern_indicator_school_sign_period_concern" in plan, plan
    concern_indexes = ("ix_concern_school_id_observed_at_id", "ix_concern_school_id_recorded_at_id")
    assert any(index in plan for index in (*concern_indexes, "pk_concern ")), plan
    assert "Seq Scan" not in plan, plan


def test_text_search_uses_the_full_text_indexes(
    data: Data, database: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    plan = _plan(database, data, _statement(database, data, concerns.ConcernFilters(text="driver")))
    assert "ix_concern_school_id_description_tsvector" in plan, plan
    assert "ix_addendum_school_id_text_tsvector" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_sqlite_reads_an_indicator_filter_from_the_indicator_index(
    data: Data, database: Database, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's own plan")
    filters = concerns.ConcernFilters(
        indicators=("secretive",),
        statuses=(TriageStatus.new,),
        observed_from=data.start - timedelta(days=2),
        observed_to=data.start - timedelta(days=1),
    )
    statement = _statement(database, data, filters)
    with database.engine.connect() as connection:
        sql = str(
            statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        )
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    plan = "\n".join(str(row[-1]) for row in rows)
    # One range scan of (school, indicator, observed_at), not a probe of the primary key
    # per concern of the period (what EXISTS gave; docs/adr/0039 has the numbers),
    # that needs no table row for the concern's id; then each one's status from the
    # triage index alone (migration 07).
    assert "COVERING INDEX ix_concern_indicator_school_sign_period_concern" in plan, plan
    assert "COVERING INDEX ix_concern_triage_concern_id_status" in plan, plan


@pytest.mark.parametrize("role", [Role.staff, Role.dsl])
def test_sqlite_finds_a_concerns_rows_by_its_id(
    database: Database, backend: str, role: Role
) -> None:
    # A new school's database has never been analysed: SQLite's planner then goes by the
    # indexes alone, and a lookup that also named the school went through the (school,
    # pupil) index, every row of the school's on every read.
    if backend != "sqlite":
        pytest.skip("SQLite's own plan")
    caller = Principal(id=uuid.uuid4(), school_id=uuid.uuid4(), role=role, kind="user")
    lookup = concerns.lookup_concern(caller, uuid.uuid4())
    with database.engine.connect() as connection:
        plans = []
        for prepared, parameters in lookup.queries():
            statement = prepared.statement.params(**parameters)
            sql = str(
                statement.compile(
                    dialect=connection.dialect, compile_kwargs={"literal_binds": True}
                )
            )
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    shown, pupils, indicators, addenda, _people, *marks = plans
    # The DSL desk's lookups also read the marks of concerns entered in error (issue 21).
    assert len(marks) == (1 if role == Role.dsl else 0)
    for plan in marks:
        assert "concern_error_mark USING INDEX sqlite_autoindex_concern_error_mark" in plan, plan
    assert "SEARCH concern USING INDEX sqlite_autoindex_concern_1 (id=?)" in shown, shown
    assert "USING INDEX sqlite_autoindex_concern_pupil_1 (concern_id=?)" in pupils, pupils
    assert "USING INDEX sqlite_autoindex_concern_indicator_1 (concern_id=?)" in indicators
    assert "USING INDEX ix_addendum_concern_id_recorded_at (concern_id=?)" in addenda, addenda
    assert all("SCAN" not in plan.replace("SCAN CONSTANT ROW", "") for plan in plans), plans


def test_the_inboxs_urgent_list_reads_its_partial_index(
    data: Data, database: Database, backend: str
) -> None:
    """Issue 18: the urgent concerns still new come from an index of only those, however
    many other concerns wait (20,000 here on PostgreSQL); the other new ones from the
    (school, status, recorded) index of the triage state."""
    statements = {
        "urgent": inbox.URGENT.whole_school.statement,
        "new": inbox.OTHER_NEW.whole_school.statement,
    }
    parameters = {"school_id": data.desk.world.school.id, "inbox_limit": 50}
    plans: dict[str, str] = {}
    for name, statement in statements.items():
        bound = statement.params(**parameters)
        if backend == "postgresql":
            plans[name] = _plan(database, data, bound)
            continue
        with database.engine.connect() as connection:
            sql = str(
                bound.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
            )
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
        plans[name] = "\n".join(str(row[-1]) for row in rows)
    assert "ix_concern_triage_urgent_new" in plans["urgent"], plans
    assert "ix_concern_triage_school_id_status_recorded_at" in plans["new"], plans
    for plan in plans.values():
        assert "Seq Scan on concern_triage" not in plan and "SCAN concern_triage" not in plan
