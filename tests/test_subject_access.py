"""Subject access exports (issue 21, point 4): other pupils' names and ids and staff names
redacted, chosen entries withheld with their reasons kept, PDF and JSON, audited; the
request kept and rendered again as prepared.

Every name and every text here is invented.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from db.engine import Database
from tests.desk import API, CONCERNS, Desk, events, iso

SENSITIVE = "Fictional third-party detail that would put someone at risk."
REASON = "Serious harm exemption: disclosure would put a fictional adult at risk."


def _exports(desk: Desk, pupil: Any = None) -> str:
    return f"{API}/pupils/{(pupil or desk.world.zoe).id}/subject-access-exports"


def _file(desk: Desk) -> dict[str, Any]:
    """Zoë's file: a concern about her and Zack naming him and staff in the text, one to
    withhold (with an addendum), and a case with an action naming Zack."""
    w = desk.world
    both = desk.concern(
        w.staff_a,
        pupils=[w.zoe, w.zack],
        description="Zoë and Zack Madeup were seen with an older boy; ZACK said Alex Tutor "
        "saw them too.",
    )
    desk.client.post(
        f"{CONCERNS}/{both['id']}/addenda",
        json={"text": "Madeup's friend confirmed it to Sam.", "reason": "Told later."},
        headers=desk.headers(w.staff_a),
    )
    hidden = desk.concern(w.staff_b, description=SENSITIVE)
    addendum = desk.client.post(
        f"{CONCERNS}/{hidden['id']}/addenda",
        json={"text": "More of the fictional detail.", "reason": "Follow-up."},
        headers=desk.headers(w.staff_b),
    ).json()
    case, etag = desk.open_case(concern_ids=[both["id"]])
    desk.change_case(
        case["id"],
        "actions",
        {
            "type": "discussion",
            "description": "Spoke with Zoë about Zack and the older boy.",
            "occurred_at": iso(desk.clock.now()),
        },
        etag=etag,
    )
    return {"both": both, "hidden": hidden, "addendum": addendum, "case": case}


def _prepare(desk: Desk, body: dict[str, Any], who: Any = None, pupil: Any = None) -> Any:
    return desk.client.post(_exports(desk, pupil), json=body, headers=desk.headers(who))


def _pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_a_subject_access_export_redacts_other_pupils_and_staff(
    desk: Desk, database: Database
) -> None:
    w = desk.world
    made = _file(desk)
    body = {
        "redact_other_pupils": True,
        "redact_staff": True,
        "withhold": [{"entry_id": made["hidden"]["id"], "reason": REASON}],
    }
    response = _prepare(desk, body)
    assert response.status_code == 201, response.text
    prepared = response.json()
    assert response.headers["location"].endswith(f"/subject-access-exports/{prepared['id']}")
    assert prepared["pupil_id"] == str(w.zoe.id)
    assert prepared["requested_by"] == {"id": str(w.dsl.id), "display_name": "Jo Lead"}
    assert prepared["withhold"] == [{"entry_id": made["hidden"]["id"], "reason": REASON}]
    links = prepared["links"]
    assert links["pdf"].endswith(f"/subject-access-exports/{prepared['id']}/pdf")
    assert links["json"].endswith(f"/subject-access-exports/{prepared['id']}/json")

    pdf = desk.client.get(links["pdf"], headers=desk.headers())
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Zo" not in pdf.headers["content-disposition"]
    if os.environ.get("CONCERNLOG_KEEP_PDF"):  # to look at it: pdftoppm -png FILE page
        Path(os.environ["CONCERNLOG_KEEP_PDF"]).write_bytes(pdf.content)
    text = _pdf_text(pdf.content)
    assert "OFFICIAL-SENSITIVE" in text and "Fictional Academy" in text
    assert "Subject access copy" in text and "Zoë Fictional" in text
    # No other pupil's name, in any case, nor any member of staff's.
    for name in ("Zack", "Madeup", "Sam Teacher", "Alex Tutor", "Jo Lead", "Sam "):
        assert name.lower() not in text.lower(), name
    assert str(w.zack.id) not in text
    assert "[another pupil]" in text and "[member of staff]" in text
    assert "Zoë and [another pupil] were seen with an older boy; [another pupil] said" in text
    # The withheld concern and its addendum: shown as withheld, the reason not shown.
    assert "Withheld" in text
    assert SENSITIVE not in text and "More of the fictional detail." not in text
    assert REASON not in text

    document_response = desk.client.get(links["json"], headers=desk.headers())
    assert document_response.status_code == 200
    raw = document_response.content.decode("utf-8")
    for name in ("zack", "madeup", "sam teacher", "alex tutor", "jo lead", str(w.zack.id)):
        assert name not in raw.lower(), name
    assert SENSITIVE not in raw and REASON not in raw
    document = json.loads(raw)
    assert document["school"]["dsls"] == []
    assert document["subject_access"]["withheld_entry_ids"] == [made["hidden"]["id"]]
    assert document["subject_access"]["notice"] is None
    (both,) = [c for c in document["concerns"] if c["id"] == made["both"]["id"]]
    assert both["pupil_ids"] == [str(w.zoe.id)]
    hidden = next(c for c in document["concerns"] if c["id"] == made["hidden"]["id"])
    assert hidden["description"] == "Withheld"
    assert [a["text"] for a in hidden["addenda"]] == ["Withheld"]
    # Rendered again, the same bytes: the digest kept with the request.
    assert hashlib.sha256(document_response.content).hexdigest() == prepared["json_sha256"]
    again = desk.client.get(links["json"], headers=desk.headers())
    assert again.content == document_response.content

    # Audited, ids only.
    created = events(database, "subject_access.create")
    assert [(str(e.entity_id), e.pupil_id, e.actor_id) for e in created] == [
        (prepared["id"], w.zoe.id, w.dsl.id)
    ]
    assert len(events(database, "subject_access.export.pdf")) == 1
    assert len(events(database, "subject_access.export.json")) == 2


def test_what_is_recorded_later_stays_out(desk: Desk) -> None:
    made = _file(desk)
    prepared = _prepare(desk, {}).json()
    desk.clock.advance(minutes=5)
    later = desk.concern(description="A fictional concern recorded after the request.")
    desk.client.post(
        f"{CONCERNS}/{made['both']['id']}/addenda",
        json={"text": "A later fictional addendum.", "reason": "Later."},
        headers=desk.headers(desk.world.staff_a),
    )
    document = desk.client.get(prepared["links"]["json"], headers=desk.headers())
    assert later["id"] not in document.text
    assert "A later fictional addendum." not in document.text
    assert hashlib.sha256(document.content).hexdigest() == prepared["json_sha256"]
    full = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/export",
        params={"format": "json"},
        headers=desk.headers(),
    )
    assert later["id"] in full.text  # the ordinary export has it


def test_without_redaction_the_names_stay(desk: Desk) -> None:
    _file(desk)
    prepared = _prepare(desk, {"redact_other_pupils": False, "redact_staff": False}).json()
    text = _pdf_text(desk.client.get(prepared["links"]["pdf"], headers=desk.headers()).content)
    assert "Zack Madeup" in text and "Alex Tutor" in text and "Jo Lead" in text


def test_the_request_is_readable_with_its_reasons(desk: Desk, database: Database) -> None:
    made = _file(desk)
    body = {"withhold": [{"entry_id": made["addendum"]["id"], "reason": REASON}]}
    prepared = _prepare(desk, body).json()
    read = desk.client.get(
        f"{_exports(desk)}/{prepared['id']}", headers=desk.headers(desk.world.deputy)
    )
    assert read.status_code == 200, read.text
    assert read.json() == prepared
    assert len(events(database, "subject_access.read")) == 1
    text = _pdf_text(desk.client.get(prepared["links"]["pdf"], headers=desk.headers()).content)
    assert "More of the fictional detail." not in text
    assert SENSITIVE.split(" that")[0] in text  # only the addendum is withheld


@pytest.mark.parametrize(
    "withhold",
    [
        [{"entry_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10", "reason": REASON}],
        "twice",
    ],
)
def test_withholding_what_is_not_in_the_file_is_a_422(
    desk: Desk, database: Database, withhold: Any
) -> None:
    made = _file(desk)
    if withhold == "twice":
        entry = {"entry_id": made["hidden"]["id"], "reason": REASON}
        withhold = [entry, entry]
    response = _prepare(desk, {"withhold": withhold})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert "withhold[" in problem["detail"]
    assert problem["errors"][0]["loc"][:2] == ["body", "withhold"]
    assert events(database, "subject_access.create") == []


def test_a_reason_is_required(desk: Desk) -> None:
    made = _file(desk)
    response = _prepare(desk, {"withhold": [{"entry_id": made["hidden"]["id"], "reason": " "}]})
    assert response.status_code == 422


def test_only_the_schools_dsls(desk: Desk, database: Database) -> None:
    w = desk.world
    _file(desk)
    for who in (w.staff_a, w.admin):
        assert _prepare(desk, {}, who=who).status_code == 403
    assert _prepare(desk, {}, who=w.other_dsl).status_code == 404
    assert _prepare(desk, {}, pupil=w.elsewhere).status_code == 404
    prepared = _prepare(desk, {}).json()
    for link in (prepared["links"]["pdf"], prepared["links"]["json"]):
        assert desk.client.get(link, headers=desk.headers(w.other_dsl)).status_code == 404
        assert desk.client.get(link, headers=desk.headers(w.staff_a)).status_code == 403
    # Another pupil's path with this export's id: not found.
    wrong = prepared["links"]["pdf"].replace(str(w.zoe.id), str(w.zack.id))
    assert desk.client.get(wrong, headers=desk.headers()).status_code == 404
