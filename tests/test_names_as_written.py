"""Records keep the names they were written with (issue 22, point 3): renaming an account
(an admin's PATCH /users/{id}, or the MIS's staff sync) never rewrites who wrote a concern,
an addendum, a triage change, a case, its events, actions and decisions, in any answer:
reads, lists, cases, the chronology and the exports. Who has a record now (its assignee)
is shown under the name they have now. New records carry the new name."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic.command import downgrade, upgrade
from alembic.config import Config
from pypdf import PdfReader

from api.cli import PROJECT_ROOT
from db.engine import create_db_engine
from models.base import UTCDateTime, new_id
from tests.desk import API, CASES, CONCERNS, Desk, iso

STAFF_BEFORE, STAFF_AFTER = "Sam Teacher", "Sam Marriedname"
DSL_BEFORE, DSL_AFTER = "Jo Lead", "Jo Renamed"
DEPUTY_AFTER = "Deputy Renamed"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if "json" in response.headers.get("content-type", "") else response


def _person(who: Any, name: str) -> dict[str, str]:
    return {"id": str(who.id), "display_name": name}


def _write_a_file(desk: Desk) -> dict[str, Any]:
    """A concern with an addendum by the member of staff; the DSL's triage (giving it to
    the deputy), a case with an action, a decision and a level change."""
    w = desk.world
    concern = desk.concern()
    _ok(
        desk.client.post(
            f"{CONCERNS}/{concern['id']}/addenda",
            json={"text": "She said the friend drives.", "reason": "Remembered later."},
            headers=desk.headers(w.staff_a),
        ),
        201,
    )
    _ok(
        desk.triage(
            concern["id"],
            {"status": "acknowledged", "assigned_to": str(w.deputy.id), "reason": "Fictional."},
        )
    )
    case, etag = desk.open_case(concern_ids=[concern["id"]])
    action = {
        "type": "meeting",
        "description": "Strategy meeting.",
        "occurred_at": iso(desk.clock.now()),
    }
    etag = desk.change_case(case["id"], "actions", action, etag=etag).headers["etag"]
    decision = {"decision": "Refer.", "reason": "Fictional threshold met."}
    etag = desk.change_case(case["id"], "decisions", decision, etag=etag).headers["etag"]
    level = {"level": "child_in_need", "reason": "Fictional referral accepted."}
    _ok(desk.change_case(case["id"], "level", level, etag=etag))
    return {"concern": concern["id"], "case": case["id"]}


def _rename_everyone(desk: Desk) -> None:
    """The admin renames the DSL and the deputy; the MIS renames the member of staff."""
    w = desk.world
    admin = desk.headers(w.admin)
    for who, name in ((w.dsl, DSL_AFTER), (w.deputy, DEPUTY_AFTER)):
        _ok(desk.client.patch(f"{API}/users/{who.id}", json={"display_name": name}, headers=admin))
    mis = desk.headers(w.mis)
    record = {
        "source": "sims",
        "external_id": "T-SAM",
        "email": w.staff_a.email,
        "given_name": "Sam",
        "family_name": "Teacher",
        "source_updated_at": "2026-10-01T10:00:00Z",
    }
    for changes in (
        {},
        {"family_name": "Marriedname", "source_updated_at": "2026-10-02T10:00:00Z"},
    ):
        answer = _ok(
            desk.client.put(f"{API}/mis/staff", json={"records": [record | changes]}, headers=mis)
        )
        assert answer["results"][0]["result"] in ("updated", "unchanged"), answer
    for who, name in ((w.staff_a, STAFF_AFTER), (w.dsl, DSL_AFTER), (w.deputy, DEPUTY_AFTER)):
        assert (
            _ok(desk.client.get(f"{API}/auth/me", headers=desk.headers(who)))["display_name"]
            == name
        )


def _chronology(desk: Desk) -> list[dict[str, Any]]:
    page = _ok(
        desk.client.get(
            f"{API}/pupils/{desk.world.zoe.id}/chronology",
            params={"limit": 200},
            headers=desk.headers(),
        )
    )
    items: list[dict[str, Any]] = page["items"]
    return items


def _export(desk: Desk, fmt: str) -> Any:
    return _ok(
        desk.client.get(
            f"{API}/pupils/{desk.world.zoe.id}/export",
            params={"format": fmt},
            headers=desk.headers(),
        )
    )


def test_old_records_keep_the_names_they_were_written_with(desk: Desk) -> None:
    w = desk.world
    deputy_before = w.deputy.user.display_name
    written = _write_a_file(desk)
    _rename_everyone(desk)
    staff, dsl = _person(w.staff_a, STAFF_BEFORE), _person(w.dsl, DSL_BEFORE)

    # A concern: read by the DSL and by its recorder, and in a list.
    concern, _ = desk.read_concern(written["concern"])
    own = _ok(desk.client.get(f"{CONCERNS}/{written['concern']}", headers=desk.headers(w.staff_a)))
    listed = _ok(desk.client.get(CONCERNS, headers=desk.headers()))["items"]
    assert [item["id"] for item in listed] == [written["concern"]]
    for shown in (concern, own, listed[0]):
        assert shown["recorded_by"] == staff
        assert [a["recorded_by"] for a in shown["addenda"]] == [staff]
    # Who has it now is who has it now, under the name they have now.
    assert concern["assigned_to"] == _person(w.deputy, DEPUTY_AFTER)

    # A case: who opened it and wrote its rows, as they were; who has it, as they are.
    case = _ok(desk.client.get(f"{CASES}/{written['case']}", headers=desk.headers()))
    assert case["opened_by"] == dsl
    assert case["assigned_to"] == _person(w.dsl, DSL_AFTER)
    assert [a["recorded_by"] for a in case["actions"]] == [dsl]
    assert [d["recorded_by"] for d in case["decisions"]] == [dsl]
    assert {e["kind"] for e in case["history"]} == {"opened", "concern_linked", "level_changed"}
    assert all(e["recorded_by"] == dsl for e in case["history"])
    assert case["concerns"][0]["recorded_by"] == staff
    listed_cases = _ok(desk.client.get(CASES, headers=desk.headers()))["items"]
    assert [c["opened_by"] for c in listed_cases] == [dsl]

    # The chronology: every entry by whoever wrote it, as they were called then, and the
    # triage change names the assignee as they were called then.
    items = _chronology(desk)
    by_type: dict[str, list[dict[str, str]]] = {}
    for item in items:
        by_type.setdefault(item["type"], []).append(item["by"])
    assert by_type.pop("concern") == [staff]
    assert by_type.pop("addendum") == [staff]
    assert by_type and all(by == dsl for bys in by_type.values() for by in bys), by_type
    (assigned,) = [
        i for i in items if i["type"] == "triage" and i["details"]["field"] == "assigned_to"
    ]
    assert assigned["summary"].startswith(f"Assigned to {deputy_before} (was nobody).")

    # The exports: the same names, whoever exports them now.
    document = _export(desk, "json")
    assert document["generated_by"] == _person(w.dsl, DSL_AFTER)
    exported = document["chronology"] + document["administrative_events"]
    assert {i["id"]: i["by"] for i in exported} == {i["id"]: i["by"] for i in items}
    assert document["actions_and_decisions"][0]["opened_by"] == dsl
    rows = list(csv.DictReader(io.StringIO(_export(desk, "csv").content.decode("utf-8-sig"))))
    assert {row["recorded_by"] for row in rows if row["section"] != "pupil"} == {
        STAFF_BEFORE,
        DSL_BEFORE,
    }
    pdf = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(_export(desk, "pdf").content)).pages
    )
    flat = " ".join(pdf.split())
    assert STAFF_BEFORE in flat and DSL_BEFORE in flat and f"by {DSL_AFTER}" in flat
    assert STAFF_AFTER not in flat


def test_new_records_carry_the_new_name_beside_the_old_ones(desk: Desk) -> None:
    w = desk.world
    written = _write_a_file(desk)
    _rename_everyone(desk)

    added = _ok(
        desk.client.post(
            f"{CONCERNS}/{written['concern']}/addenda",
            json={"text": "Another fictional detail.", "reason": "Told later."},
            headers=desk.headers(w.staff_a),
        ),
        201,
    )
    assert added["recorded_by"] == _person(w.staff_a, STAFF_AFTER)
    concern, _ = desk.read_concern(written["concern"])
    assert concern["recorded_by"] == _person(w.staff_a, STAFF_BEFORE)
    assert [a["recorded_by"]["display_name"] for a in concern["addenda"]] == [
        STAFF_BEFORE,
        STAFF_AFTER,
    ]
    fresh = desk.concern()
    assert fresh["recorded_by"] == _person(w.staff_a, STAFF_AFTER)
    assert desk.read_concern(fresh["id"])[0]["recorded_by"] == _person(w.staff_a, STAFF_AFTER)

    # The DSL, renamed, takes the concern back from the deputy, renamed too.
    _ok(desk.triage(written["concern"], {"assigned_to": str(w.dsl.id), "reason": "Fictional."}))
    action = {"type": "discussion", "description": "Spoke.", "occurred_at": iso(desk.clock.now())}
    case = _ok(desk.change_case(written["case"], "actions", action), 201)
    assert [a["recorded_by"]["display_name"] for a in case["actions"]] == [DSL_BEFORE, DSL_AFTER]
    assert case["opened_by"]["display_name"] == DSL_BEFORE

    items = _chronology(desk)
    triage = [i for i in items if i["type"] == "triage"]
    assert [i["by"]["display_name"] for i in triage] == [DSL_BEFORE, DSL_BEFORE, DSL_AFTER]
    assert triage[-1]["summary"].startswith(f"Assigned to {DSL_AFTER} (was {DEPUTY_AFTER}).")
    concerns = [i["by"]["display_name"] for i in items if i["type"] == "concern"]
    assert sorted(concerns) == sorted([STAFF_BEFORE, STAFF_AFTER])


# --- the migration that added the names ------------------------------------------------------

BEFORE_NAMES = "20261129_07"


def _config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


def _typed(column: str) -> sa.ColumnClause[Any]:
    if column == "id" or column.endswith(("_id", "_by")) or column == "assigned_to":
        return sa.column(column, sa.Uuid())
    if column.endswith("_at"):
        return sa.column(column, UTCDateTime())
    if column == "date_of_birth":
        return sa.column(column, sa.Date())
    return sa.column(column)


def _insert(connection: sa.Connection, table: str, **values: Any) -> None:
    connection.execute(sa.table(table, *(_typed(c) for c in values)).insert().values(**values))


def test_the_migration_gives_older_records_the_name_their_writer_has(
    backend: str, empty_database_url: Any
) -> None:
    """Rows written before the names were stored get the name the account has when the
    migration runs (the best there is); an assignee change gets both assignees' names."""
    url = empty_database_url(backend)
    config = _config(url)
    upgrade(config, BEFORE_NAMES)
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    school, staff, dsl, deputy, pupil = (new_id() for _ in range(5))
    concern, addendum, assigned, status, case = (new_id() for _ in range(5))
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            _insert(
                connection,
                "school",
                id=school,
                name="Fictional Academy",
                urn="799001",
                created_at=now,
            )
            for user_id, role, name in (
                (staff, "staff", STAFF_BEFORE),
                (dsl, "dsl", DSL_BEFORE),
                (deputy, "deputy_dsl", "Deputy Before"),
            ):
                _insert(
                    connection,
                    "user_account",
                    id=user_id,
                    school_id=school,
                    email=f"{role}@fictional-school.example",
                    display_name=name,
                    role=role,
                    active=True,
                    mfa_enrolled=False,
                    token_version=1,
                    created_at=now,
                    updated_at=now,
                )
            _insert(
                connection,
                "pupil",
                id=pupil,
                school_id=school,
                given_name="Zoë",
                family_name="Fictional",
                date_of_birth=date(2014, 3, 9),
                status="active",
                given_name_key="zoe",
                family_name_key="fictional",
                created_at=now,
                updated_at=now,
            )
            _insert(
                connection,
                "concern",
                id=concern,
                school_id=school,
                recorded_by=staff,
                recorded_at=now,
                observed_at=now,
                guidance_key="cse",
                guidance_version="1",
                description="Fictional.",
                immediate_danger=False,
                police_contacted=False,
            )
            _insert(
                connection,
                "addendum",
                id=addendum,
                concern_id=concern,
                school_id=school,
                text="More.",
                reason="Fictional.",
                recorded_by=staff,
                recorded_at=now,
            )
            for event_id, field, before, after in (
                (assigned, "assigned_to", str(deputy), str(dsl)),
                (status, "status", "new", "acknowledged"),
            ):
                _insert(
                    connection,
                    "triage_event",
                    id=event_id,
                    concern_id=concern,
                    school_id=school,
                    field=field,
                    from_value=before,
                    to_value=after,
                    reason="Fictional.",
                    recorded_by=dsl,
                    recorded_at=now,
                )
            _insert(
                connection,
                "safeguarding_case",
                id=case,
                school_id=school,
                pupil_id=pupil,
                status="open",
                level="early_help",
                summary="Fictional.",
                assigned_to=dsl,
                opened_by=dsl,
                opened_at=now,
                version=1,
                updated_at=now,
            )
            in_case = {"case_id": case, "school_id": school, "pupil_id": pupil, "recorded_at": now}
            _insert(
                connection, "case_event", id=new_id(), kind="opened", recorded_by=dsl, **in_case
            )
            _insert(
                connection,
                "case_action",
                id=new_id(),
                type="meeting",
                description="Fictional.",
                occurred_at=now,
                recorded_by=dsl,
                **in_case,
            )
            _insert(
                connection,
                "case_decision",
                id=new_id(),
                decision="Refer.",
                reason="Fictional.",
                recorded_by=dsl,
                **in_case,
            )
            # Renamed before the upgrade: the rows get the name the account has now.
            connection.execute(
                sa.text("UPDATE user_account SET display_name = :name WHERE role = 'deputy_dsl'"),
                {"name": DEPUTY_AFTER},
            )
        upgrade(config, "head")
        with engine.connect() as connection:
            names = {
                table: connection.execute(sa.text(f"SELECT {column} FROM {table}")).scalars().all()  # noqa: S608
                for table, column in (
                    ("concern", "recorded_by_name"),
                    ("addendum", "recorded_by_name"),
                    ("safeguarding_case", "opened_by_name"),
                    ("case_event", "recorded_by_name"),
                    ("case_action", "recorded_by_name"),
                    ("case_decision", "recorded_by_name"),
                )
            }
            triage = connection.execute(
                sa.text("SELECT field, from_name, to_name, recorded_by_name FROM triage_event")
            ).all()
        assert names == {
            "concern": [STAFF_BEFORE],
            "addendum": [STAFF_BEFORE],
            "safeguarding_case": [DSL_BEFORE],
            "case_event": [DSL_BEFORE],
            "case_action": [DSL_BEFORE],
            "case_decision": [DSL_BEFORE],
        }
        assert sorted(tuple(row) for row in triage) == [
            ("assigned_to", DEPUTY_AFTER, DSL_BEFORE, DSL_BEFORE),
            ("status", None, None, DSL_BEFORE),
        ]
        downgrade(config, BEFORE_NAMES)
        with engine.connect() as connection:
            assert "recorded_by_name" not in {
                column["name"] for column in sa.inspect(connection).get_columns("concern")
            }
    finally:
        engine.dispose()
