"""Export of a pupil's whole file: JSON, CSV and a PDF a person can read, each audited
with its format, named by id and never by name.

Every name and every text here is invented.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any

import pytest
from pypdf import PdfReader

from db.engine import Database
from services import export_pdf
from tests.desk import API, CONCERNS, Desk, events, iso


def _export(desk: Desk, fmt: str, pupil: Any = None, who: Any = None) -> Any:
    pupil = pupil or desk.world.zoe
    return desk.client.get(
        f"{API}/pupils/{pupil.id}/export", params={"format": fmt}, headers=desk.headers(who)
    )


def _file(desk: Desk) -> dict[str, Any]:
    """A small file: two concerns (one with an addendum and a triage), a case with an
    action, a decision and a closure."""
    w = desk.world
    first = desk.concern(
        w.staff_a,
        description="Zoë had a new phone and said “a friend” gave it \u2013 she would not say who.",
    )
    desk.client.post(
        f"{CONCERNS}/{first['id']}/addenda",
        json={"text": "The friend is older, she says.", "reason": "Told at lunch."},
        headers=desk.headers(w.staff_a),
    )
    desk.clock.advance(hours=1)
    desk.triage(first["id"], {"status": "acknowledged", "risk_level": "high", "reason": "Seen."})
    second = desk.concern(w.staff_b, description='=HYPERLINK("http://x.example","click")')
    case, etag = desk.open_case(concern_ids=[first["id"], second["id"]])
    desk.clock.advance(hours=1)
    response = desk.change_case(
        case["id"],
        "actions",
        {
            "type": "referral_childrens_social_care",
            "description": "Referred to the fictional MASH.",
            "occurred_at": iso(desk.clock.now()),
            "with_whom": "Duty social worker (fictional)",
        },
        etag=etag,
    )
    etag = response.headers["etag"]
    response = desk.change_case(
        case["id"],
        "decisions",
        {"decision": "Strategy meeting.", "reason": "High risk."},
        etag=etag,
    )
    etag = response.headers["etag"]
    desk.change_case(
        case["id"], "close", {"outcome": "Plan agreed.", "reason": "Review done."}, etag=etag
    )
    return {"first": first, "second": second, "case": case}


def _filename(response: Any, extension: str, pupil_id: uuid.UUID) -> str:
    disposition = response.headers["content-disposition"]
    match = re.fullmatch(r'attachment; filename="([^"]+)"', disposition)
    assert match, disposition
    name = match.group(1)
    assert re.fullmatch(rf"pupil-{pupil_id}-file-\d{{8}}T\d{{6}}Z\.{extension}", name), name
    return name


def test_json_export_is_the_whole_file(desk: Desk, database: Database) -> None:
    made = _file(desk)
    response = _export(desk, "json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    name = _filename(response, "json", desk.world.zoe.id)
    assert "Zo" not in name and "Fictional" not in name
    document = json.loads(response.content)
    assert document["marking"] == "OFFICIAL-SENSITIVE"
    assert document["generated_by"] == {"id": str(desk.world.dsl.id), "display_name": "Jo Lead"}
    assert document["pupil"]["id"] == str(desk.world.zoe.id)
    assert document["pupil"]["family_name"] == "Fictional"
    assert [c["id"] for c in document["cases"]] == [made["case"]["id"]]
    assert document["cases"][0]["status"] == "closed"
    assert [c["id"] for c in document["cases"][0]["concerns"]] == [
        made["first"]["id"],
        made["second"]["id"],
    ]
    chronology = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/chronology",
        params={"limit": 200},
        headers=desk.headers(),
    ).json()["items"]
    assert document["chronology"] == chronology
    exported = events(database, "pupil.export.json")
    assert [(e.pupil_id, e.entity_id, e.actor_id) for e in exported] == [
        (desk.world.zoe.id, desk.world.zoe.id, desk.world.dsl.id)
    ]


def test_csv_export_is_the_chronology_safe_for_spreadsheets(desk: Desk, database: Database) -> None:
    made = _file(desk)
    response = _export(desk, "csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    _filename(response, "csv", desk.world.zoe.id)
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(rows[0]) == [
        "occurred_at",
        "recorded_at",
        "type",
        "recorded_by",
        "entry",
        "source_type",
        "source_id",
    ]
    types = [row["type"] for row in rows]
    assert types == [
        "concern",
        "addendum",
        "concern",
        "triage",
        "triage",
        "case_opened",
        "case_concern_linked",
        "case_concern_linked",
        "action",
        "decision",
        "case_closed",
        # Closing the case closed its two concerns.
        "triage",
        "triage",
    ]
    first = rows[0]
    assert first["source_id"] == made["first"]["id"]
    assert first["entry"].startswith("Zoë had a new phone")
    assert "Indicators: secretive, unexplained-money-or-items" in first["entry"]
    assert rows[1]["entry"] == "The friend is older, she says.\nReason: Told at lunch."
    formula = rows[2]
    assert formula["entry"].startswith("'=HYPERLINK(")  # never run as a formula
    assert "Outcome: Plan agreed." in rows[-3]["entry"]
    assert len(events(database, "pupil.export.csv")) == 1


def _pdf_text(content: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(content))
    return [page.extract_text() for page in reader.pages]


def test_pdf_export_is_readable_marked_and_paginated(desk: Desk, database: Database) -> None:
    _file(desk)
    # A long concern: the table must carry it across pages.
    desk.concern(description="Fictional long account. " * 700)
    response = _export(desk, "pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    _filename(response, "pdf", desk.world.zoe.id)
    assert response.content.startswith(b"%PDF-")
    pages = _pdf_text(response.content)
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert page.count("OFFICIAL-SENSITIVE") >= 2, number  # top and bottom
        assert f"Page {number} of {len(pages)}" in page
        assert "Generated" in page and "by Jo Lead" in page
    whole = "\n".join(pages)
    flat = " ".join(whole.split())
    for heading in ("Child protection file", "Pupil", "Cases (1)", "Chronology"):
        assert heading in whole
    for expected in (
        "Zoë Fictional",
        "Zoë had a new phone",
        "The friend is older, she says.",
        "Status new → acknowledged",
        "Risk level none → high",
        "Referred to the fictional MASH.",
        "Strategy meeting.",
        "Plan agreed.",
        "Happened",
        "Recorded",
        "(continued)",
    ):
        assert expected in flat, expected
    assert len(events(database, "pupil.export.pdf")) == 1


def test_an_empty_file_still_exports(desk: Desk) -> None:
    for fmt in ("json", "csv", "pdf"):
        response = _export(desk, fmt, pupil=desk.world.zack)
        assert response.status_code == 200, (fmt, response.text)
    text = "\n".join(_pdf_text(_export(desk, "pdf", pupil=desk.world.zack).content))
    assert "No case has been opened." in text


@pytest.mark.parametrize("fmt", ["json", "csv", "pdf"])
def test_only_the_schools_dsls_export(desk: Desk, database: Database, fmt: str) -> None:
    w = desk.world
    for who in (w.staff_a, w.admin, w.mis):
        assert _export(desk, fmt, who=who).status_code == 403
    assert _export(desk, fmt, who=w.other_dsl).status_code == 404
    assert _export(desk, fmt, pupil=w.elsewhere).status_code == 404
    assert events(database, f"pupil.export.{fmt}") == []


def test_unknown_format_is_422(desk: Desk) -> None:
    assert _export(desk, "docx").status_code == 422


def test_pdf_without_a_unicode_font_still_prints_everything_it_can(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine without DejaVu the core font is used: typographic punctuation becomes
    its ASCII look-alike and nothing makes the export fail."""
    monkeypatch.setattr(export_pdf, "FONT_DIRS", ())
    _file(desk)
    desk.concern(description="Emoji \U0001f600 and Greek \u03b1\u03b2 are replaced, not fatal.")
    response = _export(desk, "pdf")
    assert response.status_code == 200, response.text
    flat = " ".join(" ".join(_pdf_text(response.content)).split())
    assert "OFFICIAL-SENSITIVE" in flat
    assert "Status new -> acknowledged" in flat
    assert 'said "a friend" gave it - she' in flat
    assert "Zoë had a new phone" in flat  # Latin-1 is kept
    assert "are replaced, not fatal." in flat
