"""Issue 18, point 4: the desk's stream, read by a real client (httpx) from a live server
(``concernlog serve`` with its delivery worker publishing): the same content-free payloads
as the webhooks, ids that are the events' sequence numbers, resumable with
``Last-Event-ID``, keep-alive pings.

Every name and every text here is invented.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.desk import CONCERNS, Desk, concern_body
from tests.server import running_server

pytestmark = pytest.mark.slow

STREAM = "/api/v1/desk/stream"
CANARY = "Barnaby the fictional badger counted teaspoons under the velvet bridge."


def _events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """The next ``count`` events read from the stream (each: id, event, data)."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                found.append(current)
                if len(found) == count:
                    return found
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    raise AssertionError("the stream ended")


def _env() -> dict[str, str]:
    return {"CONCERNLOG_WORKER_POLL_SECONDS": "0.2", "CONCERNLOG_STREAM_POLL_SECONDS": "0.2"}


def _log(desk: Desk, base_url: str, **overrides: Any) -> dict[str, Any]:
    response = httpx.post(
        base_url + CONCERNS,
        json=concern_body(desk.clock, [desk.world.zoe], **overrides),
        headers=desk.headers(desk.world.staff_a),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_stream_carries_content_free_events_and_resumes(
    desk: Desk, migrated_url: str, tmp_path: Path
) -> None:
    headers = desk.headers(desk.world.dsl)
    with (
        running_server(migrated_url, tmp_path / "server.log", extra_env=_env()) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        with client.stream("GET", STREAM, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            first = _log(desk, server.base_url, description=CANARY)
            urgent = _log(desk, server.base_url, immediate_danger=True)
            lines = response.iter_lines()
            read = _events(lines, 3)
        assert [event["event"] for event in read] == [
            "concern.created",
            "concern.created",
            "concern.urgent",
        ]
        ids = [int(event["id"]) for event in read]
        assert ids == sorted(ids) and len(set(ids)) == 3
        data = json.loads(read[0]["data"])
        assert data["type"] == "concern.created"
        assert data["data"] == {
            "concern_id": first["id"],
            "school_urn": desk.world.school.urn,
            "urgent": False,
            "recorded_at": first["recorded_at"],
        }
        assert json.loads(read[2]["data"])["data"]["concern_id"] == urgent["id"]
        assert all(CANARY not in event["data"] for event in read)
        assert all("Zoe" not in event["data"] for event in read)

        # Resumed after the first: the two after it, nothing missed, nothing again.
        resume = headers | {"Last-Event-ID": str(ids[0])}
        with client.stream("GET", STREAM, headers=resume) as again:
            assert [int(e["id"]) for e in _events(again.iter_lines(), 2)] == ids[1:]

        # Another school's DSL sees none of it.
        other = desk.headers(desk.world.other_dsl) | {"Last-Event-ID": "0"}
        with client.stream("GET", STREAM, headers=other) as elsewhere:
            _log(desk, server.base_url)
            # Its first line is a keep-alive, not one of this school's events.
            for line in elsewhere.iter_lines():
                assert not line.startswith(("data", "id", "event")), line
                if line.startswith(":"):
                    break

        assert client.get(STREAM, headers=desk.headers(desk.world.staff_a)).status_code == 403
        assert CANARY not in (tmp_path / "server.log").read_text()


def test_an_idle_stream_sends_keep_alive_pings(
    desk: Desk, migrated_url: str, tmp_path: Path
) -> None:
    env = _env() | {"CONCERNLOG_STREAM_PING_SECONDS": "0.5"}
    with (
        running_server(migrated_url, tmp_path / "server.log", extra_env=env) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
        client.stream("GET", STREAM, headers=desk.headers(desk.world.dsl)) as response,
    ):
        pings = 0
        for line in response.iter_lines():
            if line.startswith(":"):
                pings += 1
                if pings == 2:
                    break
            else:
                assert line == "", line
    assert pings == 2
