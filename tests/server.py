"""Run the real server (``concernlog serve``) as a subprocess on a loopback port.

Each server gets a free port of its own and the caller's database and log file, so servers
started by parallel test workers (pytest-xdist) never meet.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from tests.factories import TEST_SECRET

CONCERNLOG = str(Path(sys.executable).parent / "concernlog")


class PortTaken(RuntimeError):
    """Another process bound the port between ``free_port`` and the server's own bind."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        database_url: str,
        port: int,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.database_url = database_url
        self.port = port
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        # Generous: on a loaded machine (parallel test workers on few cores) importing the
        # app alone can take many seconds. Only a server that never answers fails here.
        env = os.environ | {
            "CONCERNLOG_DATABASE_URL": self.database_url,
            "CONCERNLOG_ENV": "test",
            "CONCERNLOG_SECRET_KEY": TEST_SECRET,
            "CONCERNLOG_LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        logged_before = log.tell()
        self.process = subprocess.Popen(
            [CONCERNLOG, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + (["--workers", str(self.workers)] if self.workers != 1 else []),
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: ``stop`` kills its workers too
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log_path.read_bytes()[logged_before:].decode(errors="replace")
                if "address already in use" in output:
                    raise PortTaken(output[-2000:])
                raise RuntimeError(f"server exited early: {output[-2000:]}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()  # never leave a half-started server behind the failed test
        raise RuntimeError("server did not become healthy in time")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Kill the server and every process of its group (``--workers``' children)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)


@contextmanager
def running_server(
    database_url: str,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    *,
    workers: int = 1,
) -> Iterator[ServerProcess]:
    # A port found free can be taken before the server binds it (by another worker's
    # server or any outgoing connection): then try another, a few times.
    for attempt in range(3):
        server = ServerProcess(database_url, free_port(), log_path, extra_env, workers)
        try:
            server.start()
            break
        except PortTaken:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()
