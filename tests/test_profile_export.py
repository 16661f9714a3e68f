"""Issue 20, point 5 (the profile and referrals): the pupil's exported file carries the
safeguarding profile and every referral with its outcomes, in JSON, CSV and PDF.

Every name, number and text here is invented.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from tests.desk import API, CASES, Desk, iso

PROFILE = {
    "statuses": [
        {"kind": "child_protection_plan", "from": "2026-09-14", "note": "Category: neglect."},
        {"kind": "early_help", "from": "2025-01-06", "to": "2025-07-18"},
    ],
    "people": [
        {
            "name": "Dana Fictional",
            "relationship": "mother",
            "parental_responsibility": True,
            "phone": "01632 960123",
        }
    ],
    "professionals": [
        {
            "name": "Riley Caseworker",
            "role": "social worker",
            "agency": "Fictionshire children's social care",
            "email": "=riley@fictionshire.example",
        }
    ],
}


@pytest.fixture
def filled(desk: Desk) -> dict[str, Any]:
    desk.clock._now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    put = desk.client.put(
        f"{API}/pupils/{desk.world.zoe.id}/profile",
        json=PROFILE,
        headers=desk.headers(**{"If-Match": '"profile-0"'}),
    )
    assert put.status_code == 200, put.text
    case, _ = desk.open_case()
    made = iso(desk.clock.now() - timedelta(days=1))
    referral = desk.client.post(
        f"{CASES}/{case['id']}/referrals",
        json={"agency": "childrens_social_care", "reference": "MASH-2026-0042", "made_at": made},
        headers=desk.headers(),
    ).json()
    outcome = desk.client.post(
        f"{CASES}/{case['id']}/referrals/{referral['id']}/outcome",
        json={"outcome": "Accepted for a child and family assessment. " * 40},
        headers=desk.headers(),
    )
    assert outcome.status_code == 201, outcome.text
    return {"case": case, "referral": referral}


def _export(desk: Desk, fmt: str) -> Any:
    response = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/export", params={"format": fmt}, headers=desk.headers()
    )
    assert response.status_code == 200, response.text
    return response


def test_json_export_carries_the_profile_and_referrals(desk: Desk, filled: dict) -> None:
    document = _export(desk, "json").json()
    profile = document["profile"]
    assert profile["version"] == 1
    assert profile["statuses"][0]["kind"] == "child_protection_plan"
    assert profile["statuses"][0]["from"] == "2026-09-14"
    assert profile["people"][0]["parental_responsibility"] is True
    assert profile["professionals"][0]["agency"] == "Fictionshire children's social care"
    (referral,) = document["referrals"]
    assert referral["id"] == filled["referral"]["id"]
    assert referral["reference"] == "MASH-2026-0042"
    assert referral["outcome"].startswith("Accepted for a child and family assessment.")
    # The referral names its case (in the actions and decisions section); the chronology
    # has the referral and its outcome.
    assert referral["case_id"] == document["actions_and_decisions"][0]["id"]
    types = [item["type"] for item in document["chronology"]]
    assert {"profile_changed", "referral", "referral_outcome"} <= set(types)


def test_a_file_without_profile_or_referrals_exports_them_empty(desk: Desk) -> None:
    document = _export(desk, "json").json()
    assert document["profile"]["version"] == 0
    assert document["referrals"] == []


def test_csv_export_has_profile_and_referral_rows_safe_for_spreadsheets(
    desk: Desk, filled: dict
) -> None:
    text = _export(desk, "csv").content.decode("utf-8").lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    by_type: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    statuses = by_type["profile_status"]
    assert [row["occurred_at"] for row in statuses] == ["2026-09-14", "2025-01-06"]
    assert statuses[0]["entry"] == (
        "Child protection plan from 2026-09-14 (current). Category: neglect."
    )
    assert by_type["profile_person"][0]["entry"].startswith(
        "Dana Fictional, mother; parental responsibility: yes; 01632 960123"
    )
    (professional,) = by_type["profile_professional"]
    assert professional["entry"].startswith("Riley Caseworker, social worker")
    (summary,) = by_type["referral_summary"]
    assert summary["source_id"] == filled["case"]["id"]
    assert summary["entry"].startswith(
        "Referral to children's social care (MASH) (reference MASH-2026-0042), made "
    )
    assert "Outcome (" in summary["entry"]
    # The chronology's own rows for them are there as well.
    assert {"profile_changed", "referral", "referral_outcome"} <= set(by_type)


def test_pdf_export_has_the_profile_and_referral_sections(desk: Desk, filled: dict) -> None:
    content = _export(desk, "pdf").content
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]
    flat = " ".join(" ".join(pages).split())
    for expected in (
        "Safeguarding profile (version 1)",
        "Statuses (2)",
        "Child protection plan from 2026-09-14 (current)",
        "Early help from 2025-01-06 to 2025-07-18",
        "People (1)",
        "Dana Fictional",
        "parental responsibility: yes",
        "Professionals (1)",
        "Riley Caseworker",
        "Referrals (1)",
        "MASH-2026-0042",
        "Outcome 1",
        "(continued)",
    ):
        assert expected in flat, expected
