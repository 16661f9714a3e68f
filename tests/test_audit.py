"""The audit log's reading side: listing, filters, pages, tenancy, and the chain check that
catches an edited, removed or re-linked row (API and CLI, both databases)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli import app as cli_app
from core.clock import utcnow
from db.engine import Database
from models import School
from models.audit import AuditEvent, AuditVerification
from models.user import Role
from services import audit
from services.audit import Actor
from services.audit import chain as audit_chain
from tests.factories import auth, make_school, make_user

AUDIT = "/api/v1/audit"
VERIFY = "/api/v1/audit/verify"
T0 = datetime(2026, 11, 27, 15, 40, tzinfo=UTC)
runner = CliRunner()

# The only string columns an audit row may have: a fixed vocabulary, hashes and the request
# id. A new text column would be a place for a name or a sentence to end up.
VOCABULARY_COLUMNS = {
    "actor_type",
    "actor_role",
    "action",
    "entity_type",
    "request_id",
    "outcome",
    "prev_hash",
    "hash",
    # A recorded file's SHA-256 (hex), never text (ADR 0105).
    "digest",
}
ID_COLUMNS = {"id", "school_id", "actor_id", "entity_id", "pupil_id", "run_id"}


def _actor(school: School, role: str = "staff") -> Actor:
    return Actor(type="user", id=uuid.uuid4(), role=role, school_id=school.id)


def _append(
    database: Database,
    school: School,
    count: int,
    *,
    actor: Actor | None = None,
    action: str = "concern.read",
    start: datetime = T0,
    **fields: object,
) -> list[AuditEvent]:
    actor = actor or _actor(school)
    events = []
    with database.transaction() as session:
        for n in range(count):
            events.append(
                audit.record(
                    session,
                    actor=actor,
                    action=action,
                    now=start + timedelta(minutes=n),
                    **fields,  # type: ignore[arg-type]
                )
            )
    return events


def _verify(database: Database, school: School, **kwargs: int) -> AuditVerification:
    with database.transaction() as session:
        return audit.verify_chain(session, school_id=school.id, **kwargs)


def _tamper(database: Database, school: School, seq: int, **values: object) -> None:
    """Change an audit row behind the application's back, as someone with database access
    could."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    with database.engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.school_id == school.id, table.c.seq == seq)
            .values(**values)
        )


def _delete(database: Database, school: School, seq: int) -> None:
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    with database.engine.begin() as connection:
        connection.execute(
            sa.delete(table).where(table.c.school_id == school.id, table.c.seq == seq)
        )


@pytest.fixture
def dsl_headers(app: FastAPI, database: Database, school: School) -> dict[str, str]:
    return auth(app, make_user(database, school, Role.dsl))


# --- the chain ---------------------------------------------------------------------------------


def test_an_untouched_chain_verifies(database: Database, school: School) -> None:
    assert _verify(database, school).model_dump() == {
        "ok": True,
        "events_checked": 0,
        "first_bad_seq": None,
    }
    _append(database, school, 12)
    result = _verify(database, school)
    assert (result.ok, result.events_checked, result.first_bad_seq) == (True, 12, None)


def test_verification_streams_across_batches(database: Database, school: School) -> None:
    _append(database, school, 11)
    for batch_size in (1, 2, 5, 11, 12):
        assert _verify(database, school, batch_size=batch_size).ok
    _tamper(database, school, 6, action="pupil.read")
    for batch_size in (1, 5, 6, 7, 100):
        result = _verify(database, school, batch_size=batch_size)
        assert (result.ok, result.first_bad_seq, result.events_checked) == (False, 6, 6)


def test_a_timestamp_in_another_offset_hashes_as_it_reads_back(
    database: Database, school: School
) -> None:
    _append(
        database, school, 2, start=datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    )
    assert _verify(database, school).ok


def _canonical_by_json_dumps(values: dict[str, Any]) -> bytes:
    # The definition the first chains were hashed with: what ``audit_chain._canonical`` must
    # keep writing, byte for byte, or every existing chain stops verifying.
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    fields = {
        "school_id": str(values["school_id"]),
        "seq": values["seq"],
        "occurred_at": values["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": values["actor_type"],
        "actor_id": text(values["actor_id"]),
        "actor_role": values["actor_role"],
        "action": values["action"],
        "entity_type": values["entity_type"],
        "entity_id": text(values["entity_id"]),
        "pupil_id": text(values["pupil_id"]),
        "request_id": values["request_id"],
        "run_id": text(values["run_id"]),
        "outcome": values["outcome"],
        "prev_hash": values["prev_hash"],
    }
    # A count (issue 22, point 6) is hashed only when there is one: events without one,
    # and every event written before it existed, hash exactly as they always did.
    if values.get("occurrences") is not None:
        fields["occurrences"] = values["occurrences"]
    if values.get("digest") is not None:
        fields["digest"] = values["digest"]
    # So are a page's pupils (ADR 0126), sorted.
    if values.get("pupil_ids"):
        fields["pupil_ids"] = sorted(str(pupil_id) for pupil_id in values["pupil_ids"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


_EVENT_VALUES = {
    "school_id": uuid.UUID("0190a3c4-1111-7000-8000-000000000001"),
    "seq": 42,
    "occurred_at": datetime(2026, 3, 2, 9, 15, 0, 250, tzinfo=timezone(timedelta(hours=1))),
    "actor_type": "user",
    "actor_id": uuid.UUID("0190a3c4-2222-7000-8000-000000000002"),
    "actor_role": "dsl",
    "action": "concern.list",
    "entity_type": "concern",
    "entity_id": None,
    "pupil_id": uuid.UUID("0190a3c4-3333-7000-8000-000000000003"),
    "request_id": "req-1",
    "run_id": None,
    "outcome": "success",
    "prev_hash": "0" * 64,
}


def test_the_hashed_form_of_an_event_is_fixed() -> None:
    assert audit_chain._canonical(_EVENT_VALUES) == _canonical_by_json_dumps(_EVENT_VALUES)
    # Known answer: chains already written depend on this digest never changing.
    assert audit_chain.hash_of(_EVENT_VALUES) == (
        "4b7e671a4281d6c811231669a75f90d29b85a99ecb0135ca2362828eb059073b"
    )


_text_values = st.none() | st.text()
_ids = st.none() | st.uuids()


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    occurred_at=st.datetimes(timezones=st.timezones()),
    actor_id=_ids,
    entity_id=_ids,
    pupil_id=_ids,
    run_id=_ids,
    request_id=_text_values,
    actor_role=_text_values,
    entity_type=_text_values,
    action=st.text(),
    occurrences=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
    digest=st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    pupil_ids=st.lists(st.uuids(), unique=True, max_size=5),
)
def test_the_hashed_form_is_json_with_sorted_keys_whatever_the_values(**values: Any) -> None:
    event = {**_EVENT_VALUES, **values}
    assert audit_chain._canonical(event) == _canonical_by_json_dumps(event)


def test_editing_an_action_is_reported_at_its_seq(database: Database, school: School) -> None:
    _append(database, school, 10)
    _tamper(database, school, 7, action="concern.list")
    result = _verify(database, school)
    assert (result.ok, result.first_bad_seq) == (False, 7)


@pytest.mark.parametrize(
    "change",
    [
        {"actor_id": uuid.UUID(int=7)},
        {"pupil_id": uuid.UUID(int=8)},
        {"outcome": "denied"},
        {"occurred_at": T0 + timedelta(days=1)},
        {"occurrences": 40},
        {"digest": "0" * 64},
    ],
    ids=["actor", "pupil", "outcome", "time", "count", "digest"],
)
def test_editing_any_hashed_field_is_detected(
    database: Database, school: School, change: dict[str, object]
) -> None:
    _append(database, school, 5)
    _tamper(database, school, 3, **change)
    assert _verify(database, school).first_bad_seq == 3


def test_a_deleted_row_is_detected(database: Database, school: School) -> None:
    _append(database, school, 8)
    _delete(database, school, 4)
    result = _verify(database, school)
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_a_deleted_last_row_is_detected(database: Database, school: School) -> None:
    _append(database, school, 8)
    _delete(database, school, 8)
    result = _verify(database, school)
    assert (result.ok, result.first_bad_seq) == (False, 8)


def test_a_changed_prev_hash_is_detected(database: Database, school: School) -> None:
    events = _append(database, school, 6)
    _tamper(database, school, 5, prev_hash=events[0].hash)
    result = _verify(database, school)
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_a_recomputed_row_still_breaks_the_next_link(database: Database, school: School) -> None:
    """Someone who edits a row and fixes its own hash breaks the link to the next row."""
    events = _append(database, school, 6)
    forged = events[2]
    forged.action = "concern.list"
    _tamper(database, school, 3, action="concern.list", hash=audit.event_hash(forged))
    assert _verify(database, school).first_bad_seq == 4


def test_a_row_appended_behind_the_heads_back_is_detected(
    database: Database, school: School
) -> None:
    events = _append(database, school, 3)
    forged = AuditEvent(
        school_id=school.id,
        seq=4,
        occurred_at=T0 + timedelta(hours=1),
        actor_type="user",
        action="concern.read",
        prev_hash=events[-1].hash,
        hash="",
    )
    forged.hash = audit.event_hash(forged)
    with database.engine.begin() as connection:
        connection.execute(
            sa.insert(AuditEvent.__table__).values(  # type: ignore[attr-defined]
                **forged.model_dump()
            )
        )
    result = _verify(database, school)
    assert (result.ok, result.first_bad_seq) == (False, 4)


@pytest.mark.xdist_group("many_connections")
def test_concurrent_appends_make_one_gapless_chain(database: Database, school: School) -> None:
    threads = 50
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append() -> None:
        try:
            barrier.wait(timeout=30)
            with database.transaction() as session:
                audit.record(session, actor=_actor(school), action="concern.read", now=utcnow())
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=append) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    with database.engine.connect() as connection:
        seqs = connection.execute(
            sa.select(table.c.seq).where(table.c.school_id == school.id).order_by(table.c.seq)
        ).scalars()
        assert list(seqs) == list(range(1, threads + 1))
    result = _verify(database, school)
    assert (result.ok, result.events_checked) == (True, threads)


@pytest.mark.xdist_group("many_connections")
def test_verifying_while_others_append_sees_an_intact_chain(
    database: Database, school: School
) -> None:
    """The walk stops at the head it read first, so appends committed meanwhile are neither
    a missing row nor an extra one."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def append() -> None:
        # A pause between appends, as between requests: four writers in a tight loop
        # starve one another of SQLite's write lock past its busy timeout on a loaded
        # machine, which is not what this test is about.
        try:
            while not stop.is_set():
                with database.transaction() as session:
                    audit.record(session, actor=_actor(school), action="concern.read", now=utcnow())
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=append) for _ in range(4)]
    for writer in writers:
        writer.start()
    try:
        results = [_verify(database, school, batch_size=3) for _ in range(15)]
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    assert errors == []
    assert all(result.ok for result in results), results
    assert _verify(database, school).ok


def test_chains_are_per_school(database: Database, school: School) -> None:
    other = make_school(database)
    _append(database, school, 3)
    _append(database, other, 2)
    _tamper(database, other, 1, action="concern.list")
    assert _verify(database, school).ok
    assert _verify(database, other).first_bad_seq == 1


def test_free_text_is_refused_at_the_door(database: Database, school: School) -> None:
    with pytest.raises(ValueError, match="slug"), database.transaction() as session:
        audit.record(session, actor=_actor(school), action="Read Jo Bloggs' concern", now=T0)
    with pytest.raises(ValueError, match="slug"), database.transaction() as session:
        audit.record(
            session, actor=_actor(school), action="concern.read", now=T0, outcome="she said"
        )


def test_audit_rows_have_no_free_text_column(database: Database) -> None:
    """Checked on the migrated schema itself, not just the model: every column is an id, a
    number, a time, or a short string from the fixed vocabulary. A new column fails here
    until someone decides which it is."""
    columns = {c["name"]: c["type"] for c in sa.inspect(database.engine).get_columns("audit_event")}
    assert set(columns) == ID_COLUMNS | VOCABULARY_COLUMNS | {"seq", "occurred_at", "occurrences"}
    for name, column_type in columns.items():
        if name in ID_COLUMNS:  # native uuid on PostgreSQL, CHAR(32) hex on SQLite
            assert isinstance(column_type, sa.Uuid) or getattr(column_type, "length", 0) == 32
        elif name in VOCABULARY_COLUMNS:
            assert isinstance(column_type, sa.String) and not isinstance(column_type, sa.Text)
            assert column_type.length is not None and column_type.length <= 128, name
        else:
            assert not isinstance(column_type, sa.String), name


# --- GET /audit ------------------------------------------------------------------------------


def test_a_dsl_reads_their_schools_log_newest_first(
    client: TestClient, database: Database, school: School, dsl_headers: dict[str, str]
) -> None:
    _append(database, school, 5)
    response = client.get(AUDIT, headers=dsl_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["seq"] for e in body["items"]] == [5, 4, 3, 2, 1]
    assert body["next_cursor"] is None
    first = body["items"][-1]
    assert set(first) == {
        "id",
        "seq",
        "occurred_at",
        "actor_type",
        "actor_id",
        "actor_role",
        "action",
        "entity_type",
        "entity_id",
        "pupil_id",
        "pupil_ids",
        "request_id",
        "run_id",
        "outcome",
        "occurrences",
        "digest",
        "prev_hash",
        "hash",
    }
    assert first["occurrences"] is None
    assert first["pupil_ids"] == []
    assert first["occurred_at"].startswith("2026-11-27T15:40:00")
    assert first["occurred_at"].endswith(("Z", "+00:00"))


def test_reading_the_log_is_itself_recorded(
    app: FastAPI, client: TestClient, database: Database, school: School
) -> None:
    # A DSL: only the DSL desk may filter the log by child (issue 22, point 4).
    reader = make_user(database, school, Role.dsl)
    pupil = uuid.uuid4()
    response = client.get(
        AUDIT,
        params={"pupil_id": str(pupil)},
        headers=auth(app, reader) | {"X-Request-ID": "audit-read-test-0001"},
    )
    assert response.status_code == 200
    assert response.json()["items"] == []  # the read is recorded after the page is taken
    events = client.get(AUDIT, headers=auth(app, reader)).json()["items"]
    read = events[-1]
    assert read["action"] == "audit.read"
    assert read["actor_id"] == str(reader.id)
    assert read["actor_role"] == "dsl"
    assert read["pupil_id"] == str(pupil)
    assert read["request_id"] == "audit-read-test-0001"
    assert _verify(database, school).ok


def test_verifying_is_recorded(
    app: FastAPI, client: TestClient, database: Database, school: School, dsl_headers
) -> None:
    client.get(VERIFY, headers=dsl_headers)
    [event] = client.get(AUDIT, headers=dsl_headers).json()["items"]
    assert (event["action"], event["outcome"]) == ("audit.verify", "success")


def test_a_school_sees_none_of_another_schools_events(
    app: FastAPI, client: TestClient, database: Database, school: School, dsl_headers
) -> None:
    other = make_school(database)
    other_event = _append(database, other, 3, action="pupil.read")[0]
    _append(database, school, 2)
    body = client.get(AUDIT, headers=dsl_headers, params={"limit": 200}).json()
    assert [e["seq"] for e in body["items"]] == [2, 1]
    assert all(e["action"] == "concern.read" for e in body["items"])
    by_entity = client.get(
        AUDIT, headers=dsl_headers, params={"actor_id": str(other_event.actor_id)}
    )
    assert by_entity.json()["items"] == []
    # And the other school's verification is its own.
    verified = client.get(VERIFY, headers=auth(app, make_user(database, other, Role.dsl)))
    assert verified.json() == {"ok": True, "events_checked": 3, "first_bad_seq": None}


def test_filters_one_by_one(
    client: TestClient, database: Database, school: School, dsl_headers: dict[str, str]
) -> None:
    alice, bob = _actor(school, "staff"), _actor(school, "dsl")
    concern, pupil = uuid.uuid4(), uuid.uuid4()
    _append(database, school, 2, actor=alice, action="concern.read", start=T0)  # 1, 2
    _append(
        database,
        school,
        1,
        actor=bob,
        action="concern.create",
        start=T0 + timedelta(hours=1),
        entity_type="concern",
        entity_id=concern,
        pupil_id=pupil,
    )  # 3
    _append(
        database,
        school,
        1,
        actor=bob,
        action="pupil.read",
        start=T0 + timedelta(hours=2),
        entity_type="pupil",
        entity_id=pupil,
        pupil_id=pupil,
    )  # 4

    def seqs(**params: str) -> list[int]:
        response = client.get(AUDIT, headers=dsl_headers, params=params)
        assert response.status_code == 200, response.text
        return [e["seq"] for e in response.json()["items"] if e["action"] != "audit.read"]

    assert seqs(actor_id=str(alice.id)) == [2, 1]
    assert seqs(actor_id=str(bob.id)) == [4, 3]
    assert seqs(action="concern.create") == [3]
    assert seqs(entity_type="pupil") == [4]
    assert seqs(entity_id=str(concern)) == [3]
    assert seqs(entity_type="concern", entity_id=str(concern)) == [3]
    assert seqs(pupil_id=str(pupil)) == [4, 3]
    hour = T0 + timedelta(hours=1)
    assert seqs(**{"from": hour.isoformat()}) == [4, 3]  # inclusive
    assert seqs(to=hour.isoformat()) == [2, 1]  # exclusive
    assert seqs(**{"from": "2026-11-27T17:30:00+01:00", "to": "2026-11-27T18:00:00+01:00"}) == [3]
    assert seqs(action="user.update") == []


def test_a_time_without_an_offset_is_refused(
    client: TestClient, dsl_headers: dict[str, str]
) -> None:
    response = client.get(AUDIT, headers=dsl_headers, params={"from": "2026-11-27T15:40:00"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_pages_follow_the_cursor(
    client: TestClient, database: Database, school: School, dsl_headers: dict[str, str]
) -> None:
    _append(database, school, 7)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3, "action": "concern.read"}
        if cursor:
            params["cursor"] = cursor
        body = client.get(AUDIT, headers=dsl_headers, params=params).json()
        seen += [e["seq"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert pages == 3


def test_exactly_full_last_page_has_no_cursor(
    client: TestClient, database: Database, school: School, dsl_headers: dict[str, str]
) -> None:
    _append(database, school, 4)
    first = client.get(AUDIT, headers=dsl_headers, params={"limit": 2}).json()
    second = client.get(
        AUDIT, headers=dsl_headers, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [e["seq"] for e in second["items"]] == [2, 1]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "e30", "eyJzZXEiOiJ4In0", "eyJzZXEiOjB9", "!!"])
def test_a_cursor_we_did_not_issue_is_a_422(
    client: TestClient, dsl_headers: dict[str, str], cursor: str
) -> None:
    response = client.get(AUDIT, headers=dsl_headers, params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(("limit", "status"), [(0, 422), (1, 200), (200, 200), (201, 422)])
def test_limit_bounds(
    client: TestClient, dsl_headers: dict[str, str], limit: int, status: int
) -> None:
    assert client.get(AUDIT, headers=dsl_headers, params={"limit": limit}).status_code == status


@pytest.mark.parametrize("role", [Role.dsl, Role.deputy_dsl, Role.admin])
def test_audit_readers(
    app: FastAPI, client: TestClient, database: Database, school: School, role: Role
) -> None:
    headers = auth(app, make_user(database, school, role))
    assert client.get(AUDIT, headers=headers).status_code == 200
    assert client.get(VERIFY, headers=headers).status_code == 200


def test_staff_may_not_read_the_log(
    app: FastAPI, client: TestClient, database: Database, school: School
) -> None:
    headers = auth(app, make_user(database, school, Role.staff))
    assert client.get(AUDIT, headers=headers).status_code == 403
    assert client.get(VERIFY, headers=headers).status_code == 403
    assert client.get(AUDIT).status_code == 401


# --- verification through the API and the CLI -----------------------------------------------


def test_api_verify_reports_the_edited_seq(
    client: TestClient, database: Database, school: School, dsl_headers: dict[str, str]
) -> None:
    _append(database, school, 9)
    assert client.get(VERIFY, headers=dsl_headers).json() == {
        "ok": True,
        "events_checked": 9,
        "first_bad_seq": None,
    }
    _tamper(database, school, 4, action="concern.list")
    body = client.get(VERIFY, headers=dsl_headers).json()
    assert body == {"ok": False, "events_checked": 4, "first_bad_seq": 4}
    # The failed check is itself on the record.
    events = client.get(AUDIT, headers=dsl_headers, params={"action": "audit.verify"}).json()
    assert [e["outcome"] for e in events["items"]] == ["failure", "success"]


def test_cli_verify_exit_codes(cli_env: Database, school: School) -> None:
    _append(cli_env, school, 5)
    ok = runner.invoke(cli_app, ["audit", "verify", "--school-urn", school.urn])
    assert ok.exit_code == 0, ok.output
    assert len(ok.stdout.strip().splitlines()) == 1
    assert "intact" in ok.stdout and "5 events" in ok.stdout

    _tamper(cli_env, school, 2, action="concern.list")
    broken = runner.invoke(cli_app, ["audit", "verify", "--school-urn", school.urn])
    assert broken.exit_code == 1
    assert len(broken.stdout.strip().splitlines()) == 1
    assert "BROKEN at event 2" in broken.stdout


def test_cli_verify_unknown_school(cli_env: Database) -> None:
    result = runner.invoke(cli_app, ["audit", "verify", "--school-urn", "999999"])
    assert result.exit_code == 2
    assert "999999" in result.stderr
