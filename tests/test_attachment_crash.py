"""A real server killed with SIGKILL in the middle of uploads (issue 20: "a kill -9 during
an upload leaves neither an orphan record nor an orphan file that the service would
serve"; ADR 0105).

Uploads run from several threads, one of them sending its body slowly so that the kill
lands mid-body; after the kill every attachment row has an intact file that downloads as
recorded, every file no row names is refused (404) and is removed by the sweep."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from core.clock import utcnow
from db.engine import Database
from models.attachment import Attachment
from services import attachments
from services.attachments import FileStore
from tests.factories import TEST_SECRET, auth, make_pupil, make_school, make_user
from tests.server import running_server
from tests.test_attachments import pdf

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("many_connections")]

UPLOADS_BEFORE_KILL = 6


def _uploader(
    base_url: str,
    path: str,
    headers: dict[str, str],
    acknowledged: dict[str, str],
    stop: threading.Event,
    lock: threading.Lock,
) -> None:
    with httpx.Client(base_url=base_url, timeout=20) as client:
        n = 0
        while not stop.is_set():
            n += 1
            content = pdf(300_000 + n * 1000)
            try:
                response = client.post(
                    path,
                    files={"file": (f"minutes-{n}.pdf", content, "application/pdf")},
                    headers=headers,
                )
            except httpx.HTTPError:
                return
            if response.status_code == 201:
                with lock:
                    acknowledged[response.json()["id"]] = hashlib.sha256(content).hexdigest()


def _slow_upload(port: int, path: str, token: str, started: threading.Event) -> None:
    """Send an upload's headers and half its body, then wait: the kill comes mid-body."""
    boundary = "fictional-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + pdf(2_000_000)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body) + len(boundary) + 8}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        started.set()
        with contextlib.suppress(OSError):
            sock.recv(1)  # until the server dies


def test_sigkill_mid_upload_leaves_nothing_served(
    app: FastAPI, database: Database, migrated_url: str, tmp_path: Path
) -> None:
    school = make_school(database)
    staff = make_user(database, school, "staff")
    pupil = make_pupil(database, school, "Robin", "Fictional")
    token = auth(app, staff, lifetime=timedelta(minutes=30))["Authorization"].split()[1]
    headers = {"Authorization": f"Bearer {token}"}
    files_url = str(tmp_path / "files")
    acknowledged: dict[str, str] = {}
    stop, lock, slow_started = threading.Event(), threading.Lock(), threading.Event()

    with running_server(
        migrated_url, tmp_path / "server.log", {"CONCERNLOG_FILES_URL": files_url}
    ) as server:
        concern = httpx.post(
            f"{server.base_url}/api/v1/concerns",
            json={
                "pupil_ids": [str(pupil.id)],
                "guidance_key": "cse",
                "indicators": ["secretive"],
                "description": "Fictional crash-test observation.",
                "observed_at": (utcnow() - timedelta(hours=1)).isoformat(),
                "immediate_danger": False,
                "police_contacted": False,
            },
            headers=headers,
            timeout=20,
        )
        assert concern.status_code == 201, concern.text
        path = f"/api/v1/concerns/{concern.json()['id']}/attachments"
        threads = [
            threading.Thread(
                target=_uploader,
                args=(server.base_url, path, headers, acknowledged, stop, lock),
            )
            for _ in range(3)
        ]
        threads.append(
            threading.Thread(target=_slow_upload, args=(server.port, path, token, slow_started))
        )
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 90
        while (
            len(acknowledged) < UPLOADS_BEFORE_KILL or not slow_started.is_set()
        ) and time.monotonic() < deadline:
            time.sleep(0.01)
        server.signal(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.wait(timeout=10)
        assert len(acknowledged) >= UPLOADS_BEFORE_KILL

        with database.transaction() as session:
            recorded = {row.id: row.sha256 for row in session.exec(select(Attachment))}
        # Every acknowledged upload was committed; no row without its file.
        assert {uuid.UUID(key) for key in acknowledged} <= set(recorded)
        store = FileStore(files_url, app.state.settings.files_key_bytes)
        on_disk = {found.attachment_id for found in store.files()}
        assert set(recorded) <= on_disk

        server.start()
        with httpx.Client(base_url=server.base_url, timeout=20, headers=headers) as client:
            for attachment_id, sha256 in recorded.items():
                got = client.get(f"/api/v1/attachments/{attachment_id}")
                assert got.status_code == 200, got.text
                assert hashlib.sha256(got.content).hexdigest() == sha256
            orphans = on_disk - set(recorded)
            for orphan in orphans:
                assert client.get(f"/api/v1/attachments/{orphan}").status_code == 404

    def known(ids: list[uuid.UUID]) -> set[uuid.UUID]:
        with database.transaction() as session:
            return attachments.live_attachment_ids(session, ids)

    swept = attachments.sweep(store, known=known, now=utcnow() + timedelta(hours=2))
    assert swept.removed == len(on_disk - set(recorded))
    assert {found.attachment_id for found in store.files()} == set(recorded)
    assert TEST_SECRET  # the server and this test seal with the same derived key
