"""Retention, legal hold and destruction (issue 21 point 3): ``retain_until`` on the DSL's
pupil record, the files past it, a legal hold that blocks destruction, and destruction
that leaves tombstones and an audit chain that still verifies."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from db.engine import Database
from models.lifecycle import DESTROYED
from services import audit
from tests.desk import API, CASES, CONCERNS, Desk, events, uid
from tests.factories import auth

SETTINGS = f"{API}/retention/settings"
DUE = f"{API}/retention/due"
SECRET_WORDS = "Fictional words only the file holds"


def _pupil(desk: Desk, pupil: Any, who: Any = None) -> dict[str, Any]:
    answer = desk.client.get(f"{API}/pupils/{pupil.id}", headers=desk.headers(who))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _destroy(desk: Desk, pupil: Any, headers: dict[str, str] | None = None) -> Any:
    return desk.client.post(
        f"{API}/pupils/{pupil.id}/destruction",
        json={"reason": "Past retention; reviewed by the DSL."},
        headers=headers or desk.headers(),
    )


def _fill(desk: Desk) -> dict[str, Any]:
    """Zoë's file with every kind of record, her words in each."""
    concern = desk.concern(description=f"{SECRET_WORDS}: a concern.", location="Fictional Park")
    desk.client.post(
        f"{CONCERNS}/{concern['id']}/addenda",
        json={"text": f"{SECRET_WORDS}: an addendum.", "reason": "Adding detail."},
        headers=desk.headers(),
    )
    desk.triage(concern["id"], {"status": "acknowledged", "reason": f"{SECRET_WORDS}: triage."})
    case, etag = desk.open_case(concern_ids=[concern["id"]], summary=f"{SECRET_WORDS}: case.")
    action = {
        "type": "meeting",
        "description": f"{SECRET_WORDS}: an action.",
        "with_whom": "Pat Fictional-Parent",
        "occurred_at": desk.clock.now().isoformat(),
    }
    etag = desk.change_case(case["id"], "actions", action, etag=etag).headers["etag"]
    decision = {"decision": f"{SECRET_WORDS}: decided.", "reason": "Fictional."}
    desk.change_case(case["id"], "decisions", decision, etag=etag)
    task = {
        "title": f"{SECRET_WORDS}: a task.",
        "assigned_to": str(desk.world.staff_a.id),
        "due_on": (desk.clock.now().date()).isoformat(),
    }
    assert (
        desk.client.post(
            f"{CASES}/{case['id']}/tasks", json=task, headers=desk.headers()
        ).status_code
        == 201
    )
    return {"concern": concern, "case": case}


def test_retain_until_on_the_dsls_pupil_record(client: TestClient, desk: Desk) -> None:
    zoe = desk.world.zoe  # born 2014-03-09
    record = _pupil(desk, zoe)
    assert record["retain_until"] == "2039-03-09"
    assert record["on_legal_hold"] is False
    assert record["file_destroyed_at"] is None
    assert client.get(SETTINGS, headers=desk.headers()).json() == {"years": 25, "default": True}
    assert client.put(SETTINGS, json={"years": 7}, headers=desk.headers()).status_code == 200
    assert _pupil(desk, zoe)["retain_until"] == "2021-03-09"
    # An admin reads the pupil's record, and nothing of the file.
    admin_view = client.get(f"{API}/pupils/{zoe.id}", headers=desk.headers(desk.world.admin))
    if admin_view.status_code == 200:
        assert admin_view.json().get("retain_until") is None


def test_files_due_hold_and_destruction(client: TestClient, desk: Desk, database: Database) -> None:
    world = desk.world
    made = _fill(desk)
    shared = desk.concern(pupil_ids=[uid(world.zoe), uid(world.zack)])
    # Not yet due: 25 years from 2014.
    refused = _destroy(desk, world.zoe)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/retention-not-passed")
    assert client.get(DUE, headers=desk.headers()).json()["items"] == []

    client.put(SETTINGS, json={"years": 7}, headers=desk.headers())
    due = client.get(DUE, params={"limit": 1}, headers=desk.headers()).json()
    assert len(due["items"]) == 1 and due["next_cursor"]
    rest = client.get(DUE, params={"cursor": due["next_cursor"]}, headers=desk.headers()).json()
    listed = {item["pupil_id"] for item in due["items"] + rest["items"]}
    assert listed == {uid(world.zoe), uid(world.zack)}  # each has a file; past 2021

    hold = client.post(
        f"{API}/pupils/{world.zoe.id}/legal-hold",
        json={"reason": "Claim notified by a fictional solicitor."},
        headers=desk.headers(),
    )
    assert hold.status_code == 201, hold.text
    assert _pupil(desk, world.zoe)["on_legal_hold"] is True
    due = client.get(DUE, headers=desk.headers()).json()["items"]
    assert {i["pupil_id"]: i["on_legal_hold"] for i in due}[uid(world.zoe)] is True
    held = _destroy(desk, world.zoe)
    assert held.status_code == 409 and held.json()["type"].endswith("/legal-hold")
    released = client.post(
        f"{API}/pupils/{world.zoe.id}/legal-hold/release",
        json={"reason": "Claim settled."},
        headers=desk.headers(),
    )
    assert released.status_code == 200, released.text
    assert released.json()["release_reason"] == "Claim settled."

    # Step-up: a token whose code sign-in is older than 15 minutes is refused.
    stale = auth(world.app, world.dsl, now=desk.clock.now(), auth_time=None)
    assert _destroy(desk, world.zoe, stale).status_code == 401

    destroyed = _destroy(desk, world.zoe)
    assert destroyed.status_code == 200, destroyed.text
    answer = destroyed.json()
    assert answer["kept_shared"] == [shared["id"]]
    assert answer["erased"]["concern"] == 1 and answer["erased"]["case"] == 1
    assert answer["records"] >= 7
    assert _destroy(desk, world.zoe).json()["type"].endswith("/file-destroyed")

    # Tombstones: the chronology and the export still work, ids and dates, no content.
    chronology = client.get(
        f"{API}/pupils/{world.zoe.id}/chronology", headers=desk.headers()
    ).json()["items"]
    ids = {item["id"] for item in chronology}
    assert made["concern"]["id"] in ids and shared["id"] in ids
    for fmt in ("json", "csv", "pdf"):
        exported = client.get(
            f"{API}/pupils/{world.zoe.id}/export", params={"format": fmt}, headers=desk.headers()
        )
        assert exported.status_code == 200, exported.text
        if fmt != "pdf":
            assert SECRET_WORDS not in exported.text
            assert "Fictional Park" not in exported.text
            assert "Pat Fictional-Parent" not in exported.text
    read = client.get(f"{CONCERNS}/{made['concern']['id']}", headers=desk.headers()).json()
    assert read["description"] == DESTROYED and read["location"] is None
    assert read["addenda"][0]["text"] == DESTROYED
    assert read["recorded_at"] == made["concern"]["recorded_at"]
    assert client.get(f"{CASES}/{made['case']['id']}", headers=desk.headers()).status_code == 200
    # Text search no longer finds the destroyed words.
    before = client.get(CONCERNS, params={"q": "phone"}, headers=desk.headers()).json()
    assert before["items"], "the search finds other concerns"
    found = client.get(CONCERNS, params={"q": "words only holds"}, headers=desk.headers())
    assert found.status_code == 200
    assert made["concern"]["id"] not in {c["id"] for c in found.json()["items"]}
    assert _pupil(desk, world.zoe)["file_destroyed_at"] is not None
    assert uid(world.zoe) not in {
        i["pupil_id"] for i in client.get(DUE, headers=desk.headers()).json()["items"]
    }

    # The audit chain still verifies, by the service and the API.
    with database.transaction() as session:
        assert audit.verify_chain(session, school_id=world.school.id).ok
    verified = client.get(f"{API}/audit/verify", headers=desk.headers()).json()
    assert verified["ok"] is True
    assert [str(e.pupil_id) for e in events(database, "pupil.file_destroyed")] == [uid(world.zoe)]


def test_only_the_dsl_desk(client: TestClient, desk: Desk) -> None:
    world = desk.world
    for who in (world.staff_a, world.admin):
        assert client.get(DUE, headers=desk.headers(who)).status_code == 403
        assert _destroy(desk, world.zoe, desk.headers(who)).status_code == 403
    assert _destroy(desk, world.elsewhere).status_code == 404


def test_destruction_erases_the_childs_context(
    client: TestClient, desk: Desk, database: Database
) -> None:
    """The safeguarding profile, referrals, attachments (their stored files too) and body
    maps of the file go with it (issue 20's records, erased by their own erasers)."""
    from tests.test_attachments import pdf, stored_files, upload

    world = desk.world
    made = _fill(desk)
    concern_id, case_id = made["concern"]["id"], made["case"]["id"]
    attached = upload(desk, f"{CONCERNS}/{concern_id}/attachments", pdf(), filename="minutes.pdf")
    assert attached.status_code == 201, attached.text
    body_map = {
        "marks": [{"view": "front", "x": 0.5, "y": 0.4, "kind": "bruise", "note": "Fictional."}]
    }
    assert (
        client.post(
            f"{CONCERNS}/{concern_id}/body-map", json=body_map, headers=desk.headers()
        ).status_code
        == 201
    )
    profile = {
        "statuses": [{"kind": "child_in_need", "from": "2026-01-05"}],
        "people": [{"name": "Pat Fictional-Parent", "relationship": "mother",
                    "parental_responsibility": True}],
        "professionals": [],
    }  # fmt: skip
    put = client.put(
        f"{API}/pupils/{world.zoe.id}/profile",
        json=profile,
        headers=desk.headers(**{"If-Match": '"profile-0"'}),
    )
    assert put.status_code == 200, put.text
    referral = {
        "agency": "early_help",
        "reference": "EH-FICTIONAL-1",
        "made_at": desk.clock.now().isoformat(),
    }
    assert (
        client.post(
            f"{CASES}/{case_id}/referrals", json=referral, headers=desk.headers()
        ).status_code
        == 201
    )
    assert stored_files(world.app)
    sent = client.post(
        f"{API}/pupils/{world.zoe.id}/transfers",
        json={"to_school_urn": world.other_school.urn},
        headers=desk.headers(),
    )
    assert sent.status_code == 201, sent.text
    bundle = f"{API}/transfers/{sent.json()['id']}/bundle"
    assert client.get(bundle, headers=desk.headers()).status_code == 200

    client.put(SETTINGS, json={"years": 7}, headers=desk.headers())
    destroyed = _destroy(desk, world.zoe)
    assert destroyed.status_code == 200, destroyed.text
    erased = destroyed.json()["erased"]
    assert (erased["profile"], erased["referral"], erased["attachment"], erased["body_map"]) == (
        1,
        1,
        1,
        1,
    )
    assert erased["transfer"] == 1
    assert stored_files(world.app) == []
    gone = client.get(bundle, headers=desk.headers())
    assert gone.status_code == 409 and gone.json()["type"].endswith("/file-destroyed")
    got = client.get(f"{API}/attachments/{attached.json()['id']}", headers=desk.headers())
    assert got.status_code != 200
    exported = client.get(
        f"{API}/pupils/{world.zoe.id}/export", params={"format": "json"}, headers=desk.headers()
    )
    assert exported.status_code == 200, exported.text
    for words in ("Pat Fictional-Parent", "EH-FICTIONAL-1", "minutes.pdf"):
        assert words not in exported.text
    with database.transaction() as session:
        assert audit.verify_chain(session, school_id=world.school.id).ok
