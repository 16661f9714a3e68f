"""What ``make bench`` measures: each endpoint's pre-rendered requests (``bench.requests``)
and the status it must answer, for concernlog, the bare baseline and (the same requests)
the anchors of issue 23; and the preflight that refuses to measure a wrong status."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import fixtures
from bench.loadgen import parse_response
from bench.requests import render, render_form, render_json
from bench.servers import HOST
from guidance import GUIDANCE_DIR
from services.guidance import GuidanceLibrary

API = "/api/v1"
# Issue 7's targets: share of the bare sync handler's req/s, and p99 at 16 connections.
# ``make bench`` now judges issue 23's (``bench.anchors``); ``bench.instructions`` still
# shows these against its instruction counts.
TARGETS = {
    "create": {"ratio": 0.35, "p99_ms": 50.0},
    "list": {"ratio": 0.25, "p99_ms": 50.0},
    "read": {"ratio": 0.40, "p99_ms": 50.0},
}


@dataclass
class Endpoint:
    key: str
    label: str
    requests: list[bytes]
    expect: int
    # Sign-in is reported apart: argon2 is slow by design, no ratio applies.
    separate: bool = False
    profile: bool = False


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def concern_bodies(school: fixtures.BenchSchool, count: int = 64) -> list[dict[str, Any]]:
    """Distinct fictional concerns: one pupil, one to three indicators, a paragraph."""
    rng = random.Random(11)
    observed = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    return [
        {
            "pupil_ids": [str(rng.choice(school.pupil_ids))],
            "guidance_key": fixtures.GUIDANCE_KEY,
            "indicators": rng.sample(school.indicator_ids, rng.randint(1, 3)),
            "description": (
                f"Benchmark concern {n}: a fictional pupil said an older friend collects "
                "them after school and gives them money; they seemed anxious when asked. " * 2
            ).strip(),
            "observed_at": observed,
            "location": "Fictional park",
            "immediate_danger": False,
            "police_contacted": False,
        }
        for n in range(count)
    ]


def concernlog_endpoints(school: fixtures.BenchSchool, port: int) -> list[Endpoint]:
    host = f"{HOST}:{port}"
    etag = GuidanceLibrary.load(GUIDANCE_DIR).document(fixtures.GUIDANCE_KEY).etag
    staff, dsl = _bearer(school.staff_token), _bearer(school.dsl_token)
    return [
        Endpoint(
            "guidance",
            "GET /guidance/cse",
            [render("GET", f"{API}/guidance/cse", host=host)],
            200,
        ),
        Endpoint(
            "guidance_304",
            "GET /guidance/cse (If-None-Match)",
            [render("GET", f"{API}/guidance/cse", host=host, headers={"If-None-Match": etag})],
            304,
            # No database, no token, no body: what every request costs in middleware,
            # routing and the threadpool hop, beside the bare app's.
            profile=True,
        ),
        Endpoint(
            "read",
            "GET /concerns/{id} (recorder)",
            [
                render("GET", f"{API}/concerns/{concern_id}", host=host, headers=staff)
                for concern_id in school.concern_ids
            ],
            200,
            profile=True,
        ),
        Endpoint(
            "list",
            "GET /concerns?limit=50 (DSL)",
            [render("GET", f"{API}/concerns?limit=50", host=host, headers=dsl)],
            200,
            profile=True,
        ),
        Endpoint(
            "create",
            "POST /concerns (staff)",
            [
                render_json("POST", f"{API}/concerns", body, host=host, headers=staff)
                for body in concern_bodies(school)
            ],
            201,
            profile=True,
        ),
        Endpoint(
            "token",
            "POST /auth/token (argon2)",
            [
                render_form(
                    f"{API}/auth/token",
                    {
                        "grant_type": "password",
                        "username": fixtures.STAFF_EMAIL,
                        "password": fixtures.STAFF_PASSWORD,
                    },
                    host=host,
                )
            ],
            200,
            separate=True,
        ),
    ]


def bare_endpoints(port: int) -> list[Endpoint]:
    host = f"{HOST}:{port}"
    return [
        Endpoint("bare_sync", "GET / (sync handler)", [render("GET", "/sync", host=host)], 200),
        Endpoint("bare_async", "GET / (async handler)", [render("GET", "/", host=host)], 200),
    ]


def preflight(port: int, request: bytes, expect: int) -> None:
    """Send the first request once and insist on the expected status: a load that
    answers 401s at great speed must fail the run, not fill the table."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(request)
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("the server closed the connection during the preflight")
            buffer += chunk
            parsed = parse_response(buffer)
            if parsed is not None:
                break
    status, length = parsed
    if status != expect:
        raise RuntimeError(
            f"preflight answered {status}, expected {expect}:\n"
            f"{buffer[:length].decode('utf-8', 'replace')[:2000]}"
        )
