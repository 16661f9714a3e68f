"""The real server process: graceful shutdown on SIGTERM."""

from __future__ import annotations

import signal
import socket
import time

from tests.server import running_server


def test_sigterm_finishes_the_request_in_flight(migrated_url: str, database, tmp_path) -> None:
    body = b"grant_type=password&username=nobody%40fictional.example&password=not-a-real-password"
    with running_server(migrated_url, tmp_path / "server.log") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            head = (
                "POST /api/v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            conn.sendall(head + body[:10])  # the request is now in flight, its body unfinished
            time.sleep(0.3)
            server.signal(signal.SIGTERM)
            time.sleep(0.5)
            assert server.process is not None and server.process.poll() is None  # still finishing
            conn.sendall(body[10:])
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 401"), response[:200]
        # uvicorn re-raises SIGTERM once it has shut down cleanly, so the exit status is
        # the conventional "terminated by SIGTERM".
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "Finished server process" in server.log_path.read_text()
