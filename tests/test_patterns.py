"""Pattern flags (issue 25, point 1): scripted fortnights showing each rule firing and not
firing, evaluated by the worker (never the request), acknowledged and reopened by new
evidence, listed on the inbox, alerted without content, audited, and never changing a
concern. Every name and text here is invented."""

from __future__ import annotations

import json

from sqlmodel import col, func, select

from db.engine import Database
from models import AlertEvent
from models.pattern import PatternFlag, PatternQueue
from services.alerts import FLAG_RAISED, payload
from tests.desk import API, Desk, events
from tests.mailbox import Mailbox
from tests.pattern_support import (
    FLAGS,
    SETTINGS,
    evaluate,
    flags,
    raise_flag,
    set_rules,
    sign,
    third_teacher,
    three_signs_from_three_staff,
)


def _flag_events(database: Database) -> list[AlertEvent]:
    with database.transaction() as session:
        query = select(AlertEvent).where(AlertEvent.type == FLAG_RAISED)
        return list(session.exec(query.order_by(col(AlertEvent.id))))


def _count(database: Database, model: type) -> int:
    with database.transaction() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


# --- distinct-signs ------------------------------------------------------------------------


def test_three_signs_from_one_teacher_are_not_flagged_by_the_two_staff_rule(
    desk: Desk, database: Database
) -> None:
    set_rules(desk, rising={"enabled": False})
    world = desk.world
    sign(desk, world.staff_a, ["secretive"], days_ago=13)
    sign(desk, world.staff_a, ["unexplained-money-or-items"], days_ago=8)
    sign(desk, world.staff_a, ["older-partner-or-new-friends"], days_ago=2)
    evaluate(desk)
    assert flags(desk) == []
    assert _flag_events(database) == []


def test_the_same_three_signs_from_three_staff_are_flagged_and_explained(
    desk: Desk, database: Database
) -> None:
    set_rules(desk, rising={"enabled": False})
    logged = three_signs_from_three_staff(desk)
    # Logging evaluates nothing: the pupils wait in the queue for the worker.
    assert flags(desk) == []
    assert _count(database, PatternQueue) == 3
    evaluate(desk)
    assert _count(database, PatternQueue) == 0
    (flag,) = flags(desk, "open")
    world = desk.world
    assert flag["rule"] == "distinct-signs"
    assert flag["status"] == "open"
    assert flag["pupil_id"] == str(world.zoe.id)
    assert flag["pupil"]["display_name"] == "Zoë Fictional"
    assert [e["concern_id"] for e in flag["evidence"]] == [c["id"] for c in logged]
    assert [e["recorded_by"]["display_name"] for e in flag["evidence"]] == [
        "Sam Teacher",
        "Alex Tutor",
        "Pat Coach",
    ]
    explanation = flag["explanation"]
    assert explanation.startswith("3 different signs were noticed by 3 members of staff")
    # In the guidance's own wording, with who noticed each and on which concern.
    assert "\u201cBe secretive\u201d (Sam Teacher," in explanation
    assert "Pat Coach" in explanation and logged[2]["id"] in explanation
    assert "prompt for a human" in explanation
    # Raised once: another pass with nothing new raises nothing more.
    evaluate(desk)
    assert len(_flag_events(database)) == 1
    assert [e.action for e in events(database, "flag.raise")] == ["flag.raise"]


def test_a_concern_entered_in_error_is_not_evidence(desk: Desk) -> None:
    """Marked as recorded in error before the worker reads it, the third sign does not
    count: two signs are not three."""
    set_rules(desk, rising={"enabled": False})
    logged = three_signs_from_three_staff(desk)
    marked = desk.client.post(
        f"{API}/concerns/{logged[2]['id']}/entered-in-error",
        json={"reason": "Logged about the wrong child (fictional)."},
        headers=desk.headers(),
    )
    assert marked.status_code == 200, marked.text
    evaluate(desk)
    assert flags(desk) == []


def test_signs_outside_the_window_do_not_count(desk: Desk) -> None:
    set_rules(desk, window_days=30, rising={"enabled": False})
    world = desk.world
    sign(desk, world.staff_a, ["secretive"], days_ago=45)
    sign(desk, world.staff_b, ["unexplained-money-or-items"], days_ago=8)
    sign(desk, third_teacher(desk), ["older-partner-or-new-friends"], days_ago=2)
    evaluate(desk)
    assert flags(desk) == []


def test_a_rule_switched_off_does_not_fire(desk: Desk) -> None:
    set_rules(desk, distinct_signs={"enabled": False}, rising={"enabled": False})
    three_signs_from_three_staff(desk)
    evaluate(desk)
    assert flags(desk) == []


# --- high-weight -----------------------------------------------------------------------------


def test_a_high_weight_sign_fires_only_once_the_school_marks_it(desk: Desk) -> None:
    set_rules(desk, rising={"enabled": False})
    world = desk.world
    sign(desk, world.staff_a, ["older-partner-or-new-friends"], days_ago=3)
    evaluate(desk)
    assert flags(desk) == []  # none marked by default
    set_rules(
        desk,
        rising={"enabled": False},
        high_weight={"indicators": ["older-partner-or-new-friends", "stays-out-late-or-overnight"]},
    )
    sign(desk, world.staff_a, ["secretive"], pupils=[world.zack])
    sign(desk, world.staff_b, ["stays-out-late-or-overnight"], days_ago=1)
    evaluate(desk)
    (flag,) = flags(desk)
    assert flag["rule"] == "high-weight" and flag["pupil_id"] == str(world.zoe.id)
    assert sorted(e["indicator"] for e in flag["evidence"]) == [
        "older-partner-or-new-friends",
        "stays-out-late-or-overnight",
    ]
    assert flag["explanation"].startswith("A sign the school marks as high-weight")


# --- rising ----------------------------------------------------------------------------------


def test_a_rising_count_fires_against_the_fortnight_before(desk: Desk) -> None:
    set_rules(desk, window_days=14, distinct_signs={"enabled": False})
    world = desk.world
    # The fortnight before: one concern about Zoë, three about Zack.
    sign(desk, world.staff_a, [], days_ago=20)
    for days in (16, 18, 20):
        sign(desk, world.staff_a, [], days_ago=days, pupils=[world.zack])
    # This fortnight: three about each.
    for days in (2, 5, 9):
        sign(desk, world.staff_b, ["secretive"], days_ago=days)
        sign(desk, world.staff_b, ["secretive"], days_ago=days, pupils=[world.zack])
    evaluate(desk)
    (flag,) = flags(desk)
    assert flag["rule"] == "rising" and flag["pupil_id"] == str(world.zoe.id)
    assert len(flag["evidence"]) == 3
    assert flag["explanation"].startswith("3 concerns were logged by 1 member of staff in the 14")


def test_fewer_than_the_minimum_or_a_first_fortnight_do_not_rise(desk: Desk) -> None:
    set_rules(desk, window_days=14, distinct_signs={"enabled": False})
    world = desk.world
    sign(desk, world.staff_a, [], days_ago=20)
    sign(desk, world.staff_a, [], days_ago=2)
    sign(desk, world.staff_a, [], days_ago=3)
    # Zack's first concerns: nothing before to rise from (the other rules' to catch).
    for days in (1, 2, 3, 4):
        sign(desk, world.staff_a, [], days_ago=days, pupils=[world.zack])
    evaluate(desk)
    assert flags(desk) == []


# --- acknowledgement and reopening -------------------------------------------------------------


def test_an_acknowledged_flag_stays_quiet_until_new_evidence_reopens_it(
    desk: Desk, database: Database
) -> None:
    flag = raise_flag(desk)
    concern_id = flag["evidence"][0]["concern_id"]
    answer = desk.client.post(
        f"{FLAGS}/{flag['id']}/acknowledge",
        json={"reason": "Already known: on a child protection plan."},
        headers=desk.headers(),
    )
    assert answer.status_code == 200, answer.text
    acknowledged = answer.json()
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged"]["by"]["display_name"] == "Jo Lead"
    assert acknowledged["acknowledged"]["reason"] == "Already known: on a child protection plan."
    assert flags(desk, "open") == []
    again = desk.client.post(
        f"{FLAGS}/{flag['id']}/acknowledge", json={"reason": "Twice."}, headers=desk.headers()
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/flag-acknowledged")

    # A concern that adds no sign: the same evidence, still acknowledged, nothing alerted.
    sign(desk, desk.world.staff_a, [], days_ago=1)
    evaluate(desk)
    assert flags(desk, "open") == []
    assert len(_flag_events(database)) == 1

    # A new sign: the flag reopens, alerted again, with the new concern in its evidence.
    new = sign(desk, desk.world.staff_b, ["changes-in-mood-or-behaviour"], days_ago=0.5)
    evaluate(desk)
    (reopened,) = flags(desk, "open")
    assert reopened["id"] == flag["id"]
    assert reopened["reopened_at"] is not None
    assert new["id"] in [e["concern_id"] for e in reopened["evidence"]]
    assert reopened["acknowledged"]["reason"].startswith("Already known")
    raised = _flag_events(database)
    assert [json.loads(e.data)["reopened"] for e in raised] == [False, True]
    assert [e.action for e in events(database) if e.action.startswith("flag.")] == [
        "flag.raise",
        "flag.read",
        "flag.acknowledge",
        "flag.read",
        "flag.read",
        "flag.reopen",
        "flag.read",
    ]
    # Flags never change a concern.
    concern, _ = desk.read_concern(concern_id)
    assert concern["status"] == "new" and concern["risk_level"] is None


def test_open_flags_are_on_the_inbox(desk: Desk) -> None:
    flag = raise_flag(desk)
    inbox = desk.client.get(f"{API}/desk/inbox", headers=desk.headers()).json()
    assert [f["id"] for f in inbox["flags"]] == [flag["id"]]
    desk.client.post(
        f"{FLAGS}/{flag['id']}/acknowledge", json={"reason": "Known."}, headers=desk.headers()
    )
    assert desk.client.get(f"{API}/desk/inbox", headers=desk.headers()).json()["flags"] == []


def test_flags_are_paged_by_cursor(desk: Desk) -> None:
    set_rules(desk, distinct_signs={"enabled": False}, window_days=14)
    for pupil in (desk.world.zoe, desk.world.zack):
        for days in (1, 2, 3, 20):
            sign(desk, desk.world.staff_a, [], days_ago=days, pupils=[pupil])
    evaluate(desk)
    first = desk.client.get(FLAGS, params={"limit": 1}, headers=desk.headers()).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = desk.client.get(
        FLAGS, params={"limit": 1, "cursor": first["next_cursor"]}, headers=desk.headers()
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert first["items"][0]["id"] != second["items"][0]["id"]


# --- alerts without content --------------------------------------------------------------------


def test_a_flag_alert_carries_no_name_sign_or_staff(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    set_rules(desk, rising={"enabled": False})
    three_signs_from_three_staff(desk)
    evaluate(desk, mailbox)
    (raised,) = _flag_events(database)
    data = json.loads(raised.data)
    assert set(data) == {"flag_id", "raised_at", "reopened"}
    (flag,) = flags(desk)
    assert data["flag_id"] == flag["id"]
    # What a webhook posts (and the stream shows): the same ids and times, and the URN.
    shown = payload(
        event_type=raised.type,
        occurred_at=raised.occurred_at,
        data=raised.data,
        school_urn=desk.world.school.urn,
    )
    assert set(shown["data"]) == {"flag_id", "raised_at", "reopened", "school_urn"}
    (message,) = [m for m in mailbox.to(desk.world.dsl.email) if "pattern flag" in m.subject]
    words = (message.subject + message.text).casefold()
    for secret in ("zo", "fictional zo", "secretive", "money", "older", "sam", "alex", "pat "):
        assert secret not in words.replace("fictional academy", ""), secret
    assert "prompt" in words


# --- settings and who may --------------------------------------------------------------------


def test_settings_have_defaults_and_changes_are_audited(desk: Desk, database: Database) -> None:
    got = desk.client.get(SETTINGS, headers=desk.headers()).json()
    assert got == {
        "window_days": 90,
        "distinct_signs": {"enabled": True, "min_indicators": 3, "min_staff": 2},
        "high_weight": {"enabled": True, "indicators": []},
        "rising": {"enabled": True, "min_concerns": 3},
    }
    changed = set_rules(desk, window_days=30, distinct_signs={"min_staff": 3})
    assert changed["window_days"] == 30 and changed["distinct_signs"]["min_staff"] == 3
    assert len(events(database, "pattern_settings.update")) == 1
    bad = desk.client.put(SETTINGS, json=got | {"window_days": 2}, headers=desk.headers())
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "window_days"]


def test_staff_are_refused_and_another_school_sees_nothing(desk: Desk) -> None:
    flag = raise_flag(desk)
    world = desk.world
    for path in (FLAGS, SETTINGS):
        assert desk.client.get(path, headers=desk.headers(world.staff_a)).status_code == 403
    refused = desk.client.post(
        f"{FLAGS}/{flag['id']}/acknowledge",
        json={"reason": "Not mine."},
        headers=desk.headers(world.staff_a),
    )
    assert refused.status_code == 403
    assert flags(desk, who=world.other_dsl) == []
    elsewhere = desk.client.post(
        f"{FLAGS}/{flag['id']}/acknowledge",
        json={"reason": "Not mine."},
        headers=desk.headers(world.other_dsl),
    )
    assert elsewhere.status_code == 404


def test_the_worker_evaluates_each_pupil_of_a_concern(desk: Desk, database: Database) -> None:
    set_rules(desk, distinct_signs={"enabled": False}, window_days=14)
    world = desk.world
    for days in (1, 2, 3, 20):
        sign(desk, world.staff_a, [], days_ago=days, pupils=[world.zoe, world.zack])
    evaluate(desk)
    assert sorted(f["pupil_id"] for f in flags(desk)) == sorted(
        [str(world.zoe.id), str(world.zack.id)]
    )
    with database.transaction() as session:
        assert session.exec(select(func.count()).select_from(PatternFlag)).one() == 2
