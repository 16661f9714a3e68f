"""Round trips to PostgreSQL on the hot paths, counted from libpq's own protocol trace.

The hot requests take a few round trips each (statements sent together in one pipeline:
``db.batch.rows_together``, ``db.batch.sent_together``; docs/adr/0034). A statement count
cannot see that batching come undone: the same statements, one round trip each, would pass
every other test and only show, much later, in the benchmark. These tests count what the
network sees: each time the client waits for the server (see ``round_trips_in``). Each
count is the exact number of today's code, so a change that adds one says so
here, with the list of what each trip is for to update beside it. (The pool's pre-ping, an
empty query as each request checks its connection out, comes before the trace starts: one
more round trip for every request, whatever it does.)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import pytest
from psycopg.pq import Trace
from sqlalchemy import event

from db.engine import Database
from db.prepared import COPY_FROM_ROWS
from services.school_calendar import school_date
from tests.desk import API, CONCERNS, Desk, concern_body
from tests.factories import make_pupil


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("round trips to a PostgreSQL server")


# Frontend messages that run something: a simple query, or a bound statement.
_RUNS = frozenset({"Query", "Bind", "Execute"})
# What psycopg sends on its own to keep its prepared statements: preparing one (on its
# fifth use on a connection) and closing the one it forgets (past 100).
_UPKEEP = frozenset({"Parse", "Close"})


def round_trips_in(trace: str) -> int:
    """Round trips in a libpq trace. The client waits for the server at each simple
    ``Query`` and each ``Sync`` (the end of a batch of extended-protocol messages, a
    pipeline's included), until the server's ``ReadyForQuery``: one round trip each,
    however the driver interleaves sending and reading meanwhile. A batch that only
    prepares or closes statements (psycopg's upkeep, which depends on what the connection
    ran before) is not counted; an empty ``Sync`` is (a pipeline ended with nothing left
    to send still waits for the server)."""
    trips = 0
    sent: set[str] = set()
    for line in trace.splitlines():
        # "F<tab>length<tab>Message<tab>..."; a statement's SQL may go on over several lines.
        fields = line.split("\t", 3)
        if len(fields) < 3 or fields[0] not in ("F", "B"):
            continue
        direction, message = fields[0], fields[2]
        if direction == "F":
            sent.add(message)
        elif message == "ReadyForQuery":
            upkeep = bool(sent & _UPKEEP) and not sent & _RUNS
            trips += not upkeep
            sent.clear()
    return trips


@contextmanager
def counting_round_trips(database: Database) -> Iterator[Callable[[], int]]:
    """Traces every connection checked out of ``database``'s pool meanwhile; the function
    yielded gives the round trips they made (read once the block has ended)."""
    traced: list[tuple[Any, IO[bytes]]] = []
    total: list[int] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        trace = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the block ends)
        traced.append((dbapi_connection, trace))
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None and not dbapi_connection.closed:
            dbapi_connection.pgconn.untrace()

    event.listen(database.engine, "checkout", on_checkout)
    event.listen(database.engine, "checkin", on_checkin)
    try:
        yield lambda: total[0]
    finally:
        event.remove(database.engine, "checkout", on_checkout)
        event.remove(database.engine, "checkin", on_checkin)
        trips = 0
        for dbapi_connection, trace in traced:
            if not dbapi_connection.closed:
                # Still checked out (it should not be): stop tracing before the file closes.
                dbapi_connection.pgconn.untrace()
            trace.seek(0)
            trips += round_trips_in(trace.read().decode("utf-8", "replace"))
            trace.close()
        total.append(trips)


def trips_for(database: Database, request: Callable[[], Any], expect: int = 200) -> int:
    with counting_round_trips(database) as trips:
        response = request()
        assert response.status_code == expect, response.text
    return trips()


def test_round_trips_are_counted_from_the_trace() -> None:
    trace = "\n".join(
        [
            'F\t13\tQuery\t "BEGIN"',
            "B\t5\tReadyForQuery\t T",
            'F\t26\tParse\t "_pg3_1" "SELECT 1',
            "FROM user_account",
            'WHERE id = $1" 0',
            "F\t4\tSync",
            "B\t4\tParseComplete",
            "B\t5\tReadyForQuery\t T",
            'F\t16\tParse\t "" "select 1" 0',
            'F\t14\tBind\t "" "" 0 0 1 0',
            'F\t9\tExecute\t "" 0',
            'F\t16\tParse\t "" "select 2" 0',
            'F\t14\tBind\t "" "" 0 0 1 0',
            'F\t9\tExecute\t "" 0',
            "F\t4\tSync",
            "B\t4\tParseComplete",
            'B\t13\tCommandComplete\t "SELECT 1"',
            'B\t13\tCommandComplete\t "SELECT 1"',
            "B\t5\tReadyForQuery\t T",
            "F\t4\tSync",
            "B\t5\tReadyForQuery\t T",
            'F\t12\tClose\t S "_pg3_1"',
            "F\t4\tSync",
            "B\t4\tCloseComplete",
            "B\t5\tReadyForQuery\t T",
            "F\t4\tTerminate",
        ]
    )
    # BEGIN; the two selects; the empty sync. Not the statement prepared, nor the one
    # closed, on their own, nor the goodbye, which is not answered.
    assert round_trips_in(trace) == 3
    assert round_trips_in("") == 0


# What every audited request's unit of work begins and ends with: BEGIN (psycopg sends it
# on its own), the account check (``services.identity``), the audit events with the chain
# head's move (``services.audit.record_many``), and the COMMIT. The head itself is locked
# with the request's last reads when little is left to do before the commit (a read, a
# create: ``services.audit.read_with_head_locked``), on its own otherwise.
AUDITED = 4


def test_a_concern_read_is_one_round_trip_more_than_its_audit(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    concern = desk.concern()
    headers = desk.headers(desk.world.staff_a)
    # The concern, its pupils, indicators, addenda and assignee, and the chain head.
    assert (
        trips_for(database, lambda: desk.client.get(f"{CONCERNS}/{concern['id']}", headers=headers))
        == AUDITED + 1
    )


def test_a_concern_create_is_one_round_trip_more_than_its_audit(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    headers = desk.headers(desk.world.staff_a)
    body = concern_body(desk.clock, [desk.world.zoe, desk.world.zack])
    # The pupils, the recorder and the chain head; then the concern, its pupils,
    # indicators and triage row and its alert events (the outbox, issue 18), sent with
    # the audit events.
    assert (
        trips_for(
            database, lambda: desk.client.post(CONCERNS, json=body, headers=headers), expect=201
        )
        == AUDITED + 1
    )


def test_an_addendum_is_one_round_trip_more_than_its_audit(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    concern = desk.concern(pupils=[desk.world.zoe, desk.world.zack])
    headers = desk.headers(desk.world.staff_a)
    body = {"text": "Fictional further detail.", "reason": "Remembered later."}
    # The concern, its pupils, the recorder and the chain head; then the addendum, sent
    # with the audit events.
    assert (
        trips_for(
            database,
            lambda: desk.client.post(
                f"{CONCERNS}/{concern['id']}/addenda", json=body, headers=headers
            ),
            expect=201,
        )
        == AUDITED + 1
    )


def test_a_triage_change_is_two_round_trips_more_than_its_audit(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    concern = desk.concern(pupils=[desk.world.zoe, desk.world.zack])
    _, etag = desk.read_concern(concern["id"])
    change = {
        "status": "acknowledged",
        "risk_level": "medium",
        "assigned_to": str(desk.world.deputy.id),
        "reason": "Fictional reason.",
    }
    # The concern with its lookups, the caller's name, the new assignee and the chain head; the
    # compare-and-set of its triage row; the triage events, sent with the audit events.
    assert (
        trips_for(
            database,
            lambda: desk.triage(concern["id"], change, etag=etag),
        )
        == AUDITED + 2
    )


def test_a_list_page_takes_the_same_round_trips_however_many_concerns(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    staff, dsl = desk.headers(desk.world.staff_a), desk.headers(desk.world.dsl)

    def page() -> int:
        return trips_for(
            database, lambda: desk.client.get(CONCERNS, params={"limit": 50}, headers=dsl)
        )

    def add(concerns: int, *, added_by: dict[str, str]) -> None:
        for _ in range(concerns):
            concern = desk.concern(pupils=[desk.world.zoe, desk.world.zack])
            desk.client.post(
                f"{CONCERNS}/{concern['id']}/addenda",
                json={"text": "More.", "reason": "Fictional."},
                headers=added_by,
            )

    add(1, added_by=staff)
    # The page; its pupils, indicators and addenda (recorders' names are on the rows); the
    # chain head, locked on its own, once the page is shaped (not while: every audited
    # request of the school waits for it).
    assert page() == AUDITED + 3
    add(6, added_by=staff)
    assert page() == AUDITED + 3
    # Someone else added to one: their name is on the addendum, not looked up after it.
    add(1, added_by=dsl)
    assert page() == AUDITED + 3


def test_a_page_of_many_children_is_audited_in_the_same_round_trips(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    # More children than COPY_FROM_ROWS: the page's one event, its children and the
    # head's move still go in one pipeline (ADR 0126), where an event per child went by
    # COPY, a round trip of its own.
    for n in range(COPY_FROM_ROWS + 2):
        pupil = make_pupil(database, desk.world.school, f"Child{n}", "Invented")
        desk.concern(pupils=[pupil])
    dsl = desk.headers(desk.world.dsl)
    assert (
        trips_for(database, lambda: desk.client.get(CONCERNS, params={"limit": 50}, headers=dsl))
        == AUDITED + 3
    )


def test_a_chronology_page_takes_the_same_round_trips_however_long_the_file(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    headers = desk.headers()
    zoe = desk.world.zoe

    def page() -> int:
        return trips_for(
            database,
            lambda: desk.client.get(
                f"{API}/pupils/{zoe.id}/chronology", params={"limit": 200}, headers=headers
            ),
        )

    desk.fill_file(1)
    # The pupil's check with the page's entries; the entries' rows, from every source
    # (with their writers' names); the chain head, once the page is shaped.
    assert page() == AUDITED + 3
    desk.fill_file(5)
    assert page() == AUDITED + 3


def test_the_inbox_takes_the_same_round_trips_however_full(
    postgresql_only: None, desk: Desk, database: Database
) -> None:
    headers = desk.headers(desk.world.dsl)
    case, _ = desk.open_case()
    due_today = school_date(desk.clock.now()).isoformat()

    def inbox() -> int:
        return trips_for(database, lambda: desk.client.get(f"{API}/desk/inbox", headers=headers))

    def fill(concerns: int) -> None:
        for _ in range(concerns):
            desk.concern(immediate_danger=True)
            desk.concern(pupils=[desk.world.zoe, desk.world.zack])
            response = desk.client.post(
                f"{API}/cases/{case['id']}/tasks",
                json={
                    "title": "T.",
                    "assigned_to": str(desk.world.staff_a.id),
                    "due_on": due_today,
                },
                headers=headers,
            )
            assert response.status_code == 201, response.text

    fill(1)
    # The urgent and new concerns together; their pupils (named), indicators, addenda and
    # people; the tasks due; their pupils' names; the reviews due (none here, so nothing
    # to shape); the transfers due; the chain head, locked on its own once everything is
    # read.
    assert inbox() == AUDITED + 7
    fill(4)
    assert inbox() == AUDITED + 7
