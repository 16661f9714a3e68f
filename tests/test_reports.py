"""Reports: indicator counts by indicator, month and year group, and the school summary.

Every name and every text here is invented.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from db.engine import Database
from tests.desk import API, Desk, events, iso
from tests.factories import make_pupil

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def _report(desk: Desk, path: str, **params: Any) -> Any:
    response = desk.client.get(f"{API}/reports/{path}", params=params, headers=desk.headers())
    assert response.status_code == 200, response.text
    return response.json()


def _setup(desk: Desk, database: Database) -> dict[str, Any]:
    w = desk.world
    desk.clock._now = NOW - timedelta(days=2)  # recorded two days before "now"
    amy = make_pupil(database, w.school, "Amy", "Invented", year_group="Year 9")
    nobody = make_pupil(database, w.school, "Ned", "Ungrouped", year_group=None)
    made = {
        # 31 Dec 23:30 in UTC, though it was already 1 January at +01:00.
        "new_year": desk.concern(
            indicators=["secretive", "sexualised-behaviour"],
            observed_at="2027-01-01T00:30:00+01:00",
        ),
        "january": desk.concern(
            pupils=[w.zoe, amy],
            indicators=["secretive"],
            observed_at=iso(datetime(2027, 1, 5, 9, tzinfo=UTC)),
        ),
        "two_in_year_7": desk.concern(
            pupils=[w.zoe, w.zack],
            indicators=["drug-or-alcohol-misuse", "secretive"],
            observed_at=iso(datetime(2027, 1, 6, 9, tzinfo=UTC)),
        ),
        "ungrouped": desk.concern(
            pupils=[nobody],
            indicators=[],
            observed_at=iso(datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ),
    }
    # Another school's concern never counts.
    desk.concern(
        w.other_staff,
        pupils=[w.elsewhere],
        indicators=["secretive"],
        observed_at=iso(datetime(2027, 1, 5, 9, tzinfo=UTC)),
    )
    return made


def test_indicator_counts(desk: Desk, database: Database) -> None:
    _setup(desk, database)
    report = _report(desk, "indicators")
    assert report["group_by"] == "indicator" and report["from"] is None
    # Each concern counts once under each of its indicators; most frequent first.
    assert [(g["key"], g["concerns"], g["label"]) for g in report["groups"]] == [
        ("secretive", 3, "Be secretive"),
        ("drug-or-alcohol-misuse", 1, "Misuse drugs or alcohol"),
        (
            "sexualised-behaviour",
            1,
            "Display sexual behaviours beyond their expected level of sexual development",
        ),
    ]
    assert report["groups"][0]["indicators"] == {"secretive": 3}
    january = _report(desk, "indicators", **{"from": "2027-01-01T00:00:00Z"})
    assert {g["key"]: g["concerns"] for g in january["groups"]} == {
        "secretive": 2,
        "drug-or-alcohol-misuse": 1,
    }
    december = _report(
        desk, "indicators", **{"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    )
    assert {g["key"]: g["concerns"] for g in december["groups"]} == {
        "secretive": 1,
        "sexualised-behaviour": 1,
    }
    assert december["from"] == "2026-12-01T00:00:00Z"


def test_counts_by_month_in_utc(desk: Desk, database: Database) -> None:
    _setup(desk, database)
    report = _report(desk, "indicators", group_by="month")
    assert [(g["key"], g["concerns"], g["indicators"]) for g in report["groups"]] == [
        ("2026-11", 1, {}),
        ("2026-12", 1, {"secretive": 1, "sexualised-behaviour": 1}),
        ("2027-01", 2, {"secretive": 2, "drug-or-alcohol-misuse": 1}),
    ]


def test_counts_by_year_group(desk: Desk, database: Database) -> None:
    _setup(desk, database)
    report = _report(desk, "indicators", group_by="year_group")
    assert [(g["key"], g["concerns"], g["indicators"]) for g in report["groups"]] == [
        # A concern about two Year 7 pupils counts once.
        ("Year 7", 3, {"secretive": 3, "drug-or-alcohol-misuse": 1, "sexualised-behaviour": 1}),
        # A concern about a Year 7 and a Year 9 pupil counts in both.
        ("Year 9", 1, {"secretive": 1}),
        (None, 1, {}),
    ]


def test_bad_report_parameters_are_422(desk: Desk) -> None:
    for params in (
        {"group_by": "colour"},
        {"from": "2027-01-01T00:00:00"},
        {"to": "yesterday"},
    ):
        response = desk.client.get(
            f"{API}/reports/indicators", params=params, headers=desk.headers()
        )
        assert response.status_code == 422, params


def test_summary(desk: Desk, database: Database) -> None:
    made = _setup(desk, database)
    desk.clock._now = NOW - timedelta(days=3)
    fresh = desk.concern(observed_at=iso(NOW - timedelta(days=3, hours=1)))
    desk.clock._now = NOW
    recent = desk.concern(observed_at=iso(NOW - timedelta(hours=1)))
    desk.triage(made["january"]["id"], {"status": "acknowledged", "reason": "R."})
    desk.triage(made["two_in_year_7"]["id"], {"status": "no_further_action", "reason": "R."})
    desk.open_case(concern_ids=[made["january"]["id"]], level="early_help")
    desk.open_case(pupil_id=str(desk.world.zack.id), level="early_help")
    # One open case per pupil: the others are other children's.
    ann = make_pupil(database, desk.world.school, "Ann", "Other")
    bea = make_pupil(database, desk.world.school, "Bea", "Other")
    closing, etag = desk.open_case(pupil_id=str(ann.id), level="child_protection")
    desk.change_case(closing["id"], "close", {"outcome": "O.", "reason": "R."}, etag=etag)
    desk.open_case(pupil_id=str(bea.id), level="looked_after")
    summary = _report(desk, "summary")
    assert summary["generated_at"] == iso(NOW)
    assert summary["open_cases_by_level"] == {
        "monitoring": 0,
        "early_help": 2,
        "child_in_need": 0,
        "child_protection": 0,
        "looked_after": 1,
    }
    assert summary["concerns_by_status"] == {
        "new": 4,  # new_year, ungrouped, fresh, recent
        "acknowledged": 1,
        "in_progress": 0,
        "closed": 0,
        "no_further_action": 1,
    }
    # new_year, ungrouped and fresh were recorded more than 24 hours ago; recent was not.
    assert summary["unacknowledged_over_24h"] == 3
    assert fresh["id"] and recent["id"]
    assert summary["this_month"] == {"month": "2027-01", "concerns": 4}
    assert summary["last_month"] == {"month": "2026-12", "concerns": 1}
    assert [e.action for e in events(database) if e.action.startswith("report.")] == [
        "report.summary"
    ]
    assert events(database, "report.summary")[0].pupil_id is None


def test_reports_are_sql_aggregates(desk: Desk, database: Database) -> None:
    """The number of queries does not grow with the data: no loop over rows."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def queries() -> list[int]:
        sizes = []
        for path, params in (
            ("indicators", {"group_by": "indicator"}),
            ("indicators", {"group_by": "month"}),
            ("indicators", {"group_by": "year_group"}),
            ("summary", {}),
        ):
            statements.clear()
            event.listen(database.engine, "before_cursor_execute", count)
            try:
                _report(desk, path, **params)
            finally:
                event.remove(database.engine, "before_cursor_execute", count)
            sizes.append(len(statements))
        return sizes

    _setup(desk, database)
    small = queries()
    for _ in range(10):
        desk.concern()
    assert queries() == small
