"""Export of a pupil's whole file: JSON, CSV and a PDF a person can read, each audited
with its format, named by id and never by name.

Every name and every text here is invented.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from db.engine import Database
from services import export_pdf
from tests.desk import API, CONCERNS, Desk, events, iso
from tests.factories import make_pupil


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


# A summer afternoon: 14:35 UTC is 15:35 in the UK (BST, +01:00).
SUMMER = "2026-07-14T14:35:00Z"
SUMMER_LOCAL = "14 Jul 2026 15:35 (+01:00)"
SECRETIVE = "Be secretive"
UNEXPLAINED = "Have money or items that they can\u2019t or won\u2019t explain"


def test_json_export_is_the_whole_file_in_sections(desk: Desk, database: Database) -> None:
    made = _file(desk)
    summer = desk.concern(observed_at=SUMMER, description="Seen in the summer holidays.")
    response = _export(desk, "json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    name = _filename(response, "json", desk.world.zoe.id)
    assert "Zo" not in name and "Fictional" not in name
    document = json.loads(response.content)
    assert document["marking"] == "OFFICIAL-SENSITIVE"
    assert document["timezone"] == "Europe/London"
    assert document["generated_by"] == {"id": str(desk.world.dsl.id), "display_name": "Jo Lead"}
    school = document["school"]
    assert (school["name"], school["urn"]) == ("Fictional Academy", desk.world.school.urn)
    assert school["dsls"][0]["display_name"] == "Jo Lead"
    assert school["dsls"][0]["role"] == "Designated safeguarding lead"
    assert school["dsls"][0]["email"].endswith(".example")
    assert [d["role"] for d in school["dsls"]] == ["Designated safeguarding lead", "Deputy DSL"]
    # A social worker's order; the JSON keys follow it.
    assert document["sections"] == [
        "pupil",
        "profile",
        "chronology",
        "concerns",
        "actions_and_decisions",
        "referrals",
        "attachments",
        "body_maps",
        "administrative_events",
    ]
    keys = list(document)
    assert [k for k in keys if k in document["sections"]] == document["sections"]
    assert document["pupil"]["id"] == str(desk.world.zoe.id)
    assert document["pupil"]["family_name"] == "Fictional"
    # Concerns in full with their addenda and their indicators' words.
    concerns = document["concerns"]
    assert [c["id"] for c in concerns] == [summer["id"], made["first"]["id"], made["second"]["id"]]
    first = concerns[1]
    assert first["indicator_texts"]["secretive"] == SECRETIVE
    assert [a["text"] for a in first["addenda"]] == ["The friend is older, she says."]
    assert concerns[0]["observed_at"] == "2026-07-14T15:35:00+01:00"  # local, with its offset
    # The case with its actions and decisions, not again its concerns.
    (case,) = document["actions_and_decisions"]
    assert case["id"] == made["case"]["id"] and case["status"] == "closed"
    assert [a["description"] for a in case["actions"]] == ["Referred to the fictional MASH."]
    assert [d["decision"] for d in case["decisions"]] == ["Strategy meeting."]
    assert "concerns" not in case and "history" not in case
    # Administrative events in the appendix, out of the chronology.
    record = [(i["type"], i["details"].get("field")) for i in document["chronology"]]
    appendix = [(i["type"], i["details"].get("field")) for i in document["administrative_events"]]
    assert ("triage", "status") not in record and ("case_concern_linked", None) not in record
    assert ("triage", "risk_level") in record
    assert ("triage", "status") in appendix and ("case_concern_linked", None) in appendix
    assert all(t not in ("concern", "action", "decision") for t, _ in appendix)
    chronology = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/chronology",
        params={"limit": 200},
        headers=desk.headers(),
    ).json()["items"]
    assert len(document["chronology"]) + len(document["administrative_events"]) == len(chronology)
    exported = events(database, "pupil.export.json")
    assert [(e.pupil_id, e.entity_id, e.actor_id) for e in exported] == [
        (desk.world.zoe.id, desk.world.zoe.id, desk.world.dsl.id)
    ]


def test_csv_export_is_every_section_safe_for_spreadsheets(desk: Desk, database: Database) -> None:
    made = _file(desk)
    desk.concern(observed_at=SUMMER, description="Seen in the summer holidays.")
    desk.client.post(
        f"{CONCERNS}/{made['second']['id']}/addenda",
        json={"text": '=HYPERLINK("http://x.example","click")', "reason": "Fictional."},
        headers=desk.headers(desk.world.staff_b),
    )
    response = _export(desk, "csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    _filename(response, "csv", desk.world.zoe.id)
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(rows[0]) == [
        "section",
        "occurred_at",
        "recorded_at",
        "type",
        "recorded_by",
        "entry",
        "source_type",
        "source_id",
    ]
    sections = [row["section"] for row in rows]
    order = [
        "pupil",
        "profile",
        "chronology",
        "concerns",
        "actions_and_decisions",
        "referrals",
        "attachments",
        "body_maps",
        "administrative_events",
    ]
    # No profile and no referral yet: their sections have no rows.
    assert sorted(set(sections), key=order.index) == [
        s for s in order if s not in ("profile", "referrals", "attachments", "body_maps")
    ]
    assert sections == sorted(sections, key=order.index)  # each section whole, in order
    concerns = [row for row in rows if row["section"] == "concerns"]
    summer, first, second = (row for row in concerns if row["type"] == "concern")
    assert summer["occurred_at"] == SUMMER_LOCAL
    assert first["source_id"] == made["first"]["id"]
    assert f"Indicators: {SECRETIVE}; {UNEXPLAINED}" in first["entry"]
    assert "Categories: Child sexual exploitation (CSE)" in first["entry"]
    assert "secretive," not in first["entry"]  # words, not ids
    told, formula = (row for row in concerns if row["type"] == "addendum")
    assert told["entry"] == "The friend is older, she says.\nReason: Told at lunch."
    assert formula["entry"].startswith("'=HYPERLINK(")  # never run as a formula
    assert second["source_id"] == made["second"]["id"]
    chronology = [row for row in rows if row["section"] == "chronology"]
    assert chronology[0]["occurred_at"] == SUMMER_LOCAL
    acts = [row for row in rows if row["section"] == "actions_and_decisions"]
    assert [row["type"] for row in acts] == ["Action: referral childrens social care", "Decision"]
    appendix = [row["type"] for row in rows if row["section"] == "administrative_events"]
    assert "triage" in appendix and "case_concern_linked" in appendix
    assert len(events(database, "pupil.export.csv")) == 1


def _pdf_text(content: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(content))
    return [page.extract_text() for page in reader.pages]


def _flat(content: bytes) -> str:
    return " ".join(" ".join(_pdf_text(content)).split())


def test_pdf_export_is_fit_to_hand_over(desk: Desk, database: Database) -> None:
    _file(desk)
    desk.concern(observed_at=SUMMER, description="Seen in the summer holidays.")
    # A long concern: the tables must carry it across pages.
    desk.concern(description="Fictional long account. " * 700)
    response = _export(desk, "pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    _filename(response, "pdf", desk.world.zoe.id)
    assert response.content.startswith(b"%PDF-")
    if os.environ.get("CONCERNLOG_KEEP_PDF"):  # to look at it: pdftoppm -png FILE page
        Path(os.environ["CONCERNLOG_KEEP_PDF"]).write_bytes(response.content)
    pages = _pdf_text(response.content)
    assert len(pages) >= 3
    school = f"Fictional Academy (URN {desk.world.school.urn})"
    for number, page in enumerate(pages, start=1):
        assert page.count("OFFICIAL-SENSITIVE") >= 2, number  # top and bottom
        assert school in page, number
        assert f"Page {number} of {len(pages)}" in page
        assert "Generated" in page and "by Jo Lead" in page
    flat = " ".join("\n".join(pages).split())
    # The sections, in a social worker's order.
    headings = [
        "Child protection file",
        "Designated safeguarding lead Jo Lead",
        "Pupil",
        "Safeguarding profile",
        "Chronology (",
        "Concerns (",
        "Actions and decisions (1 case)",
        "Referrals (0)",
        "Appendix: administrative events",
    ]
    at = [flat.index(heading) for heading in headings]
    assert at == sorted(at), dict(zip(headings, at, strict=True))
    appendix = at[-1]
    for expected in (
        "Zoë Fictional",
        SUMMER_LOCAL,  # a 15:35 summer observation prints as 15:35, with its offset
        "Zoë had a new phone",
        "The friend is older, she says.",
        SECRETIVE,
        UNEXPLAINED,
        "Child sexual exploitation (CSE)",
        "Risk level none → high",
        "Referred to the fictional MASH.",
        "Strategy meeting.",
        "Plan agreed.",
        "Happened",
        "(continued)",
    ):
        assert expected in flat, expected
    assert "unexplained-money-or-items" not in flat  # words, not ids
    # Administrative events are in the appendix only.
    assert flat.index("Status new → acknowledged") > appendix
    assert flat.index("Concern linked to the case") > appendix
    assert len(events(database, "pupil.export.pdf")) == 1


@pytest.mark.skipif(
    export_pdf._unicode_font() is None,
    reason="DejaVu Sans is not installed (Debian: fonts-dejavu-core; .ci/run installs it)",
)
def test_pdf_prints_names_in_every_script(desk: Desk, database: Database) -> None:
    """Polish, Vietnamese and Arabic names print as written (DejaVu Sans, with Noto Sans
    behind it for the scripts it lacks, shaped by HarfBuzz)."""
    polish = make_pupil(database, desk.world.school, "Łucja", "Wiśniewska")
    desk.concern(
        pupils=[polish],
        description="Said Nguyễn Thị Ánh and Żaneta Łęcka saw it; so did Ilyas (إلياس) "
        "and Rahela (রাহেলা).",
    )
    response = _export(desk, "pdf", pupil=polish)
    assert response.status_code == 200, response.text
    if os.environ.get("CONCERNLOG_KEEP_PDF"):
        Path(os.environ["CONCERNLOG_KEEP_PDF"] + ".scripts.pdf").write_bytes(response.content)
    flat = unicodedata.normalize("NFC", _flat(response.content))
    for name in ("Łucja Wiśniewska", "Nguyễn Thị Ánh", "Żaneta Łęcka"):
        assert name in flat, name
    fonts = set()
    for page in PdfReader(io.BytesIO(response.content)).pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("DejaVuSans" in font for font in fonts), fonts
    if export_pdf._noto_faces():  # Bengali: a script DejaVu Sans lacks
        assert any("NotoSansBengali" in font for font in fonts), fonts


def test_an_empty_file_still_exports(desk: Desk) -> None:
    for fmt in ("json", "csv", "pdf"):
        response = _export(desk, fmt, pupil=desk.world.zack)
        assert response.status_code == 200, (fmt, response.text)
    text = "\n".join(_pdf_text(_export(desk, "pdf", pupil=desk.world.zack).content))
    assert "No case has been opened." in text
    assert "Nothing has been recorded about this pupil." in text


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
    flat = _flat(response.content)
    assert "OFFICIAL-SENSITIVE" in flat
    assert "Status new -> acknowledged" in flat
    assert 'said "a friend" gave it - she' in flat
    assert "Zoë had a new phone" in flat  # Latin-1 is kept
    assert "are replaced, not fatal." in flat
