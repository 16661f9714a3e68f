"""Categories of concern (issue 19): the public list, a concern's categories (given or
the guidance's own), filters, the report by category, and category names in the
chronology and exports.

Every name and every text here is invented.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from db.engine import Database
from tests.desk import API, CONCERNS, Desk, concern_body, events, ids, iso
from tests.factories import make_pupil

CATEGORIES = f"{API}/categories"
CONTRACT_IDS = {
    "physical-abuse",
    "emotional-abuse",
    "sexual-abuse",
    "neglect",
    "cse",
    "cce",
    "child-on-child-abuse",
    "online-safety",
    "domestic-abuse",
    "mental-health",
    "self-harm",
    "radicalisation",
    "fgm",
    "forced-marriage",
    "honour-based-abuse",
    "children-absent-from-education",
    "serious-violence",
    "substance-misuse",
    "private-fostering",
    "young-carer",
    "other",
}


def test_categories_are_public_stable_and_cached(public_client: TestClient) -> None:
    response = public_client.get(CATEGORIES)  # no token
    assert response.status_code == 200
    categories = response.json()
    found = [c["id"] for c in categories]
    assert set(found) >= CONTRACT_IDS
    assert len(found) == len(set(found))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in found)
    assert {c["group"] for c in categories} == {"abuse-and-neglect", "specific-issue", "other"}
    assert [c["id"] for c in categories if c["group"] == "abuse-and-neglect"] == [
        "physical-abuse",
        "emotional-abuse",
        "sexual-abuse",
        "neglect",
    ]
    assert all(c["name"].strip() for c in categories)
    etag = response.headers["etag"]
    assert etag.startswith('"') and "max-age" in response.headers["cache-control"]
    assert public_client.get(CATEGORIES, headers={"If-None-Match": etag}).status_code == 304


def _log(desk: Desk, who: Any = None, **overrides: Any) -> Any:
    pupils = overrides.pop("pupils", [desk.world.zoe])
    return desk.client.post(
        CONCERNS,
        json=concern_body(desk.clock, pupils, **overrides),
        headers=desk.headers(who or desk.world.staff_a),
    )


def test_a_concern_takes_up_to_five_categories_and_shows_them(desk: Desk) -> None:
    response = _log(desk, categories=["neglect", "self-harm", "neglect"])
    assert response.status_code == 201, response.text
    concern = response.json()
    assert concern["categories"] == ["neglect", "self-harm"]  # a repeated id counts once
    read = desk.client.get(f"{CONCERNS}/{concern['id']}", headers=desk.headers()).json()
    assert read["categories"] == ["neglect", "self-harm"]
    listed = desk.client.get(CONCERNS, headers=desk.headers(desk.world.staff_a)).json()
    assert listed["items"][0]["categories"] == ["neglect", "self-harm"]


def test_without_categories_a_concern_takes_its_guidances(desk: Desk) -> None:
    concern = desk.concern()
    assert concern["categories"] == ["cse"]
    assert concern["indicator_texts"] == {
        "secretive": "Be secretive",
        "unexplained-money-or-items": (
            "Have money or items that they can\u2019t or won\u2019t explain"
        ),
    }


def test_unknown_categories_are_422_naming_the_valid_ones(desk: Desk, database: Database) -> None:
    response = _log(desk, categories=["neglect", "sadness", "gloom"])
    assert response.status_code == 422
    problem = response.json()
    assert [e["loc"] for e in problem["errors"]] == [
        ["body", "categories", 1],
        ["body", "categories", 2],
    ]
    assert {e["type"] for e in problem["errors"]} == {"unknown_category"}
    assert set(problem["valid_categories"]) >= CONTRACT_IDS
    assert "'sadness'" in problem["detail"] and "neglect" in problem["detail"]
    assert events(database, "concern.create") == []


@pytest.mark.parametrize(
    "categories",
    [[], ["neglect", "cse", "cce", "fgm", "other", "self-harm"], "neglect", [None]],
    ids=["none", "six", "not-a-list", "null"],
)
def test_categories_out_of_bounds_are_422(desk: Desk, categories: Any) -> None:
    response = _log(desk, categories=categories)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "categories"]


def test_filter_by_category_matches_any_of_them(desk: Desk) -> None:
    w = desk.world
    neglect = desk.concern(categories=["neglect"])
    both = desk.concern(categories=["self-harm", "neglect"])
    harm = desk.concern(categories=["self-harm"])
    cse = desk.concern()
    mine = desk.concern(w.staff_b, categories=["neglect"])

    def listed(who: Any = None, **params: Any) -> list[str]:
        response = desk.client.get(CONCERNS, params=params, headers=desk.headers(who))
        assert response.status_code == 200, response.text
        return ids(response.json()["items"])

    assert listed(category="neglect") == ids([mine, both, neglect])
    assert listed(category=["self-harm", "cse"]) == ids([cse, harm, both])
    assert listed(category="fgm") == []
    # Staff see their own only, whatever the filter.
    assert listed(w.staff_b, category="neglect") == ids([mine])
    # With a period (on observed_at) and a status.
    later = iso(desk.clock.now() - timedelta(minutes=30))
    assert listed(category="neglect", **{"from": later}) == []
    assert listed(category="neglect", status="new") == ids([mine, both, neglect])
    unknown = desk.client.get(CONCERNS, params={"category": "gloom"}, headers=desk.headers())
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["query", "category", 0]


NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def _report(desk: Desk, **params: Any) -> Any:
    response = desk.client.get(f"{API}/reports/categories", params=params, headers=desk.headers())
    assert response.status_code == 200, response.text
    return response.json()


def test_reports_count_by_category_month_and_year_group(desk: Desk, database: Database) -> None:
    w = desk.world
    desk.clock._now = NOW
    amy = make_pupil(database, w.school, "Amy", "Invented", year_group="Year 9")
    desk.concern(categories=["neglect"], observed_at=iso(datetime(2026, 12, 20, tzinfo=UTC)))
    desk.concern(
        pupils=[w.zoe, amy],
        categories=["neglect", "self-harm"],
        observed_at=iso(datetime(2027, 1, 5, tzinfo=UTC)),
    )
    desk.concern(observed_at=iso(datetime(2027, 1, 6, tzinfo=UTC)))  # cse, by default
    desk.concern(
        w.other_staff,
        pupils=[w.elsewhere],
        categories=["neglect"],
        observed_at=iso(datetime(2027, 1, 5, tzinfo=UTC)),
    )

    report = _report(desk)
    assert report["group_by"] == "category"
    assert [(g["key"], g["label"], g["concerns"]) for g in report["groups"]] == [
        ("neglect", "Neglect", 2),
        ("cse", "Child sexual exploitation (CSE)", 1),
        ("self-harm", "Self-harm or suicidal thoughts", 1),
    ]
    january = _report(desk, **{"from": "2027-01-01T00:00:00Z"})
    assert {g["key"]: g["concerns"] for g in january["groups"]} == {
        "neglect": 1,
        "self-harm": 1,
        "cse": 1,
    }
    by_month = _report(desk, group_by="month")
    assert [(g["key"], g["concerns"], g["categories"]) for g in by_month["groups"]] == [
        ("2026-12", 1, {"neglect": 1}),
        ("2027-01", 2, {"cse": 1, "neglect": 1, "self-harm": 1}),
    ]
    by_year = _report(desk, group_by="year_group")
    assert [(g["key"], g["concerns"], g["categories"]) for g in by_year["groups"]] == [
        ("Year 7", 3, {"neglect": 2, "cse": 1, "self-harm": 1}),
        ("Year 9", 1, {"neglect": 1, "self-harm": 1}),
    ]
    assert len(events(database, "report.categories")) == 4
    bad = desk.client.get(
        f"{API}/reports/categories", params={"group_by": "colour"}, headers=desk.headers()
    )
    assert bad.status_code == 422


def test_chronology_and_exports_name_the_categories(desk: Desk) -> None:
    zoe = desk.world.zoe
    concern = desk.concern(categories=["neglect", "domestic-abuse"])
    page = desk.client.get(f"{API}/pupils/{zoe.id}/chronology", headers=desk.headers()).json()
    (item,) = [i for i in page["items"] if i["id"] == concern["id"]]
    assert item["details"]["categories"] == [
        {"id": "neglect", "name": "Neglect"},
        {"id": "domestic-abuse", "name": "Domestic abuse at home"},
    ]
    assert item["summary"].startswith("Concern about Neglect, Domestic abuse at home (")
    exported = desk.client.get(
        f"{API}/pupils/{zoe.id}/export", params={"format": "csv"}, headers=desk.headers()
    )
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8").lstrip("\ufeff"))))
    (line, row) = [r for r in rows if r["source_id"] == concern["id"]]
    assert (line["section"], row["section"]) == ("chronology", "concerns")
    assert line["entry"].startswith("Concern about Neglect, Domestic abuse at home: ")
    assert "Categories: Neglect, Domestic abuse at home" in row["entry"]
    whole = desk.client.get(
        f"{API}/pupils/{zoe.id}/export", params={"format": "json"}, headers=desk.headers()
    ).json()
    (entry,) = [i for i in whole["chronology"] if i["id"] == concern["id"]]
    assert [c["name"] for c in entry["details"]["categories"]] == [
        "Neglect",
        "Domestic abuse at home",
    ]
