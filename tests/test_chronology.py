"""A pupil's chronology: every entry about the child, where it happened in time, with
who, when recorded and a link to its source; pages; reads audited; a fixed number of
queries per page.

Every name and every text here is invented.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from db.engine import Database
from services.chronology import entries as chronology_entries
from tests.desk import API, CONCERNS, Desk, events, iso


def _chronology(desk: Desk, pupil: Any, **params: Any) -> Any:
    return desk.client.get(
        f"{API}/pupils/{pupil.id}/chronology", params=params, headers=desk.headers()
    )


def test_only_the_schools_dsls_read_a_chronology(desk: Desk) -> None:
    w = desk.world
    assert _chronology(desk, w.zoe).status_code == 200
    for who in (w.staff_a, w.admin, w.mis):
        response = desk.client.get(f"{API}/pupils/{w.zoe.id}/chronology", headers=desk.headers(who))
        assert response.status_code == 403
    outsider = desk.client.get(
        f"{API}/pupils/{w.zoe.id}/chronology", headers=desk.headers(w.other_dsl)
    )
    assert outsider.status_code == 404
    ghost = desk.client.get(f"{API}/pupils/{uuid.uuid4()}/chronology", headers=desk.headers())
    assert ghost.status_code == 404


def test_a_concern_about_two_children_is_in_both_files_and_no_one_elses(desk: Desk) -> None:
    w = desk.world
    both = desk.concern(pupils=[w.zoe, w.zack])
    desk.triage(both["id"], {"status": "acknowledged", "reason": "Seen."})
    only_zack = desk.concern(pupils=[w.zack])
    zoe = [(i["type"], i["source"]["id"]) for i in _chronology(desk, w.zoe).json()["items"]]
    zack = [(i["type"], i["source"]["id"]) for i in _chronology(desk, w.zack).json()["items"]]
    assert zoe == [("concern", both["id"]), ("triage", both["id"])]
    assert zack == [
        ("concern", both["id"]),
        ("concern", only_zack["id"]),  # observed an hour ago, like the first
        ("triage", both["id"]),  # happened now
    ]


def test_order_is_when_it_happened_then_when_recorded_then_id(desk: Desk) -> None:
    moment = iso(desk.clock.now() - timedelta(hours=5))
    first = desk.concern(observed_at=moment)
    same_time = desk.concern(observed_at=moment)  # recorded at the same instant too
    desk.clock.advance(minutes=1)
    recorded_later = desk.concern(observed_at=moment)
    backdated = desk.concern(observed_at=iso(desk.clock.now() - timedelta(days=3)))
    items = _chronology(desk, desk.world.zoe).json()["items"]
    assert [i["id"] for i in items] == [
        backdated["id"],
        first["id"],
        same_time["id"],
        recorded_later["id"],
    ]
    assert first["id"] < same_time["id"]


def test_entries_carry_type_times_author_and_source(desk: Desk) -> None:
    w = desk.world
    concern = desk.concern(w.staff_a, description="A fictional worry.")
    desk.clock.advance(minutes=10)
    added = desk.client.post(
        f"{CONCERNS}/{concern['id']}/addenda",
        json={"text": "More fictional detail.", "reason": "Forgot it."},
        headers=desk.headers(w.dsl),
    )
    assert added.status_code == 201
    items = _chronology(desk, w.zoe).json()["items"]
    assert [i["type"] for i in items] == ["concern", "addendum"]
    entry = items[1]
    assert entry["id"] == added.json()["id"]
    assert entry["occurred_at"] == entry["recorded_at"] == iso(desk.clock.now())
    assert entry["by"] == {"id": str(w.dsl.id), "display_name": "Jo Lead"}
    assert entry["source"] == {
        "type": "concern",
        "id": concern["id"],
        "href": f"{API}/concerns/{concern['id']}",
    }
    assert entry["summary"] == "Addendum: More fictional detail."
    assert entry["details"]["reason"] == "Forgot it."
    assert items[0]["details"]["description"] == "A fictional worry."
    assert items[0]["details"]["indicators"] == ["secretive", "unexplained-money-or-items"]
    long_one = desk.concern(description="word " * 500, observed_at=iso(desk.clock.now()))
    summary = _chronology(desk, w.zoe, limit=200).json()["items"][-1]
    assert summary["id"] == long_one["id"]
    assert len(summary["summary"]) == 280 and summary["summary"].endswith("…")
    assert summary["details"]["description"] == "word " * 500


def test_pages_split_entries_that_happened_and_were_recorded_at_once(desk: Desk) -> None:
    # Same occurred_at and recorded_at: the id decides, across a page's edge too.
    moment = iso(desk.clock.now() - timedelta(hours=1))
    made = sorted(desk.concern(observed_at=moment)["id"] for _ in range(5))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _chronology(desk, desk.world.zoe, **params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made


def test_another_schools_pupil_is_a_404_whatever_the_cursor(desk: Desk) -> None:
    w = desk.world
    response = desk.client.get(
        f"{API}/pupils/{w.zoe.id}/chronology",
        params={"cursor": "junk"},
        headers=desk.headers(w.other_dsl),
    )
    assert response.status_code == 404


def test_entries_of_each_kind_once_in_lists_of_any_size(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fetched in IN lists of at most IDS_PER_QUERY ids, each padded to a power of two.
    monkeypatch.setattr(chronology_entries, "IDS_PER_QUERY", 2)
    concern = desk.concern()
    added = []
    for n in range(5):
        response = desk.client.post(
            f"{CONCERNS}/{concern['id']}/addenda",
            json={"text": f"Fictional detail {n}.", "reason": "R."},
            headers=desk.headers(),
        )
        assert response.status_code == 201
        added.append(response.json()["id"])
        desk.clock.advance(minutes=1)
    changed = []
    for status in ("acknowledged", "in_progress", "closed"):
        desk.triage(concern["id"], {"status": status, "reason": "R."})
        changed.append(status)
        desk.clock.advance(minutes=1)
    items = _chronology(desk, desk.world.zoe).json()["items"]
    assert [i["type"] for i in items] == ["concern"] + ["addendum"] * 5 + ["triage"] * 3
    assert [i["id"] for i in items[1:6]] == added
    assert [i["details"]["to_value"] for i in items[6:]] == changed
    assert len({i["id"] for i in items}) == len(items)


def test_ids_are_chunked_and_padded() -> None:
    ids = [uuid.uuid4() for _ in range(2500)]
    lists = chronology_entries.id_lists(ids)
    assert [len(ids) for ids in lists] == [1024, 1024, 512]
    assert [i for ids in lists for i in dict.fromkeys(ids)] == ids


def test_ids_are_padded_to_a_power_of_two() -> None:
    ids = [uuid.uuid4() for _ in range(9)]
    for n, size in ((1, 1), (2, 2), (3, 4), (5, 8), (8, 8), (9, 16)):
        padded = chronology_entries.padded(ids[:n])
        assert len(padded) == size
        assert padded[:n] == ids[:n] and set(padded) == set(ids[:n])


def test_pages_and_bad_cursors(desk: Desk) -> None:
    made = [
        desk.concern(observed_at=iso(desk.clock.now() - timedelta(hours=n)))["id"] for n in range(7)
    ]
    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = _chronology(desk, desk.world.zoe, **params).json()
        pages.append([i["id"] for i in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [entry for page in pages for entry in page] == list(reversed(made))
    for bad in ("junk", "eyJ4IjoxfQ"):
        response = _chronology(desk, desk.world.zoe, cursor=bad)
        assert response.status_code == 422
    assert _chronology(desk, desk.world.zoe, limit=201).status_code == 422


def test_reads_are_audited_with_the_pupil(desk: Desk, database: Database) -> None:
    _chronology(desk, desk.world.zoe)
    reads = events(database, "chronology.read")
    assert [(e.pupil_id, e.entity_type, e.actor_id) for e in reads] == [
        (desk.world.zoe.id, "pupil", desk.world.dsl.id)
    ]


def test_a_page_takes_a_fixed_number_of_queries(desk: Desk, database: Database) -> None:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def queries() -> int:
        statements.clear()
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            assert _chronology(desk, desk.world.zoe, limit=200).status_code == 200
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        return len(statements)

    desk.fill_file(1)
    small = queries()
    desk.fill_file(8)
    assert queries() == small
