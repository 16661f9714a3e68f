"""Round trips to PostgreSQL of concerns citing a school's own guidance (issue 19): the
same as for the built-in leaflet once the process knows the version (a version never
changes, so it is read once); one more, once, when it does not yet.

Counted as ``tests/test_postgres_trips.py`` counts (libpq's own trace)."""

from __future__ import annotations

from typing import Any

import pytest

from db.engine import Database
from tests.desk import API, CONCERNS, Desk, concern_body
from tests.test_postgres_trips import AUDITED, trips_for

DRAFT: dict[str, Any] = {
    "key": "neglect-signs",
    "title": "Signs of neglect",
    "category": "neglect",
    "sections": [
        {
            "id": "signs",
            "heading": "What might I notice?",
            "items": [{"id": "hungry", "text": "Arrives hungry", "indicator": "hungry"}],
        }
    ],
    "indicators": [{"id": "hungry", "text": "Arrives hungry"}],
    "actions": [{"id": "tell-dsl", "text": "Tell the DSL", "when": "always"}],
}


@pytest.fixture
def published(backend: str, desk: Desk) -> None:
    if backend != "postgresql":
        pytest.skip("round trips to a PostgreSQL server")
    draft = desk.client.post(f"{API}/guidance-drafts", json=DRAFT, headers=desk.headers())
    publish = f"{API}/guidance-drafts/{draft.json()['id']}/publish"
    assert desk.client.post(publish, headers=desk.headers()).status_code == 201


def test_creating_reading_and_listing_concerns_of_the_schools_guidance(
    published: None, desk: Desk, database: Database
) -> None:
    staff = desk.headers(desk.world.staff_a)
    body = concern_body(
        desk.clock,
        [desk.world.zoe, desk.world.zack],
        guidance_key="neglect-signs",
        indicators=["hungry"],
    )

    def create() -> Any:
        return desk.client.post(CONCERNS, json=body, headers=staff)

    # The first concern of this process under the version reads the version once.
    assert trips_for(database, create, expect=201) == AUDITED + 2
    # The pupils, the recorder, the version's number and the chain head; then the
    # concern, its pupils, indicators, categories and triage row with the audit events.
    assert trips_for(database, create, expect=201) == AUDITED + 1
    concern = create().json()
    assert concern["categories"] == ["neglect"]
    read = trips_for(
        database, lambda: desk.client.get(f"{CONCERNS}/{concern['id']}", headers=staff)
    )
    assert read == AUDITED + 1
    page = trips_for(
        database, lambda: desk.client.get(CONCERNS, params={"limit": 50}, headers=desk.headers())
    )
    assert page == AUDITED + 3
