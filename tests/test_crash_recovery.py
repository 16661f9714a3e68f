"""Nothing lost: SIGKILL the real server mid-load, restart it, retry what was not
acknowledged, and find every acknowledged concern exactly once.

Loopback only; bounded in requests and time.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, text
from sqlmodel import select

from core.clock import utcnow
from db.engine import Database
from models import Concern
from models.concern import IdempotencyKey
from services import audit
from tests.factories import auth, make_pupil, make_school, make_user
from tests.server import running_server

# A server process's pool and the clients' threads: not at the same time as another worker's
# many connections (one PostgreSQL server for every worker).
pytestmark = pytest.mark.xdist_group("many_connections")

CLIENT_THREADS = 4
ACKS_BEFORE_KILL = 24
MAX_KEYS = 200
DEADLINE_SECONDS = 60


def _body(pupil_id: uuid.UUID, n: int) -> dict[str, object]:
    return {
        "pupil_ids": [str(pupil_id)],
        "guidance_key": "cse",
        "indicators": ["secretive"],
        "description": f"Fictional crash-test observation number {n}.",
        "observed_at": (utcnow() - timedelta(hours=1)).isoformat(),
        "immediate_danger": False,
        "police_contacted": False,
    }


def _load(
    base_url: str,
    headers: dict[str, str],
    make_body: Callable[[int], dict[str, object]],
    acknowledged: dict[str, str],
    attempted: dict[str, dict[str, object]],
    stop: threading.Event,
    lock: threading.Lock,
    counter: list[int],
) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not stop.is_set():
            with lock:
                if counter[0] >= MAX_KEYS:
                    return
                counter[0] += 1
                n = counter[0]
            key = f"crash-{n}-{uuid.uuid4().hex[:8]}"
            body = make_body(n)
            with lock:
                attempted[key] = body
            try:
                response = client.post(
                    "/api/v1/concerns", json=body, headers=headers | {"Idempotency-Key": key}
                )
            except httpx.HTTPError:
                return  # the server is gone: this key stays unacknowledged
            if response.status_code == 201:
                with lock:
                    acknowledged[key] = response.json()["id"]


@pytest.mark.parametrize("round_number", [1, 2, 3])
def test_sigkill_mid_load_loses_nothing(
    app: FastAPI, database: Database, migrated_url: str, backend: str, tmp_path, round_number: int
) -> None:
    school = make_school(database)
    staff = make_user(database, school, "staff")
    pupil = make_pupil(database, school, "Robin", "Fictional")
    headers = auth(app, staff, lifetime=timedelta(minutes=30))
    acknowledged: dict[str, str] = {}
    attempted: dict[str, dict[str, object]] = {}
    stop, lock, counter = threading.Event(), threading.Lock(), [0]

    with running_server(migrated_url, tmp_path / "server.log") as server:
        threads = [
            threading.Thread(
                target=_load,
                args=(
                    server.base_url,
                    headers,
                    lambda n: _body(pupil.id, n),
                    acknowledged,
                    attempted,
                    stop,
                    lock,
                    counter,
                ),
            )
            for _ in range(CLIENT_THREADS)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(acknowledged) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        server.signal(signal.SIGKILL)  # mid-load: requests are in flight
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        server.wait(timeout=10)
        assert len(acknowledged) >= ACKS_BEFORE_KILL

        # Restart on the same database and retry every key that was not acknowledged, plus
        # a few that were (their replay must answer the same concern).
        server.start()
        unacknowledged = [key for key in attempted if key not in acknowledged]
        replayed = list(acknowledged)[:5]
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            for key in unacknowledged + replayed:
                response = client.post(
                    "/api/v1/concerns",
                    json=attempted[key],
                    headers=headers | {"Idempotency-Key": key},
                )
                assert response.status_code == 201, response.text
                if key in acknowledged:
                    assert response.json()["id"] == acknowledged[key]
                acknowledged[key] = response.json()["id"]

    with database.transaction() as session:
        stored_ids = {str(i) for i in session.exec(select(Concern.id)).all()}
        keys = session.exec(select(func.count()).select_from(IdempotencyKey)).one()
        verification = audit.verify_chain(session, school_id=school.id)
        if backend == "sqlite":
            assert session.exec(text("PRAGMA integrity_check")).one()[0] == "ok"  # type: ignore[call-overload]
    # Every key attempted is now acknowledged, and the store holds exactly those concerns.
    assert set(acknowledged) == set(attempted)
    assert stored_ids == set(acknowledged.values())
    assert len(stored_ids) == len(attempted)
    assert keys == len(attempted)
    assert verification.ok, verification
