"""Server processes and throwaway databases for the benchmarks, cleaned up whatever happens.

Every server runs in its own process group on a loopback port and is killed (the whole
group) when its ``with`` block ends, on success, error or Ctrl-C. Every PostgreSQL
database made here is dropped (``WITH (FORCE)``) when its block ends.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core import bundles
from db.engine import normalise_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# ``concernlog`` is ``python -m api.cli``; run as a module from this checkout, so that the
# tree the bench lives in is the one measured (the venv's editable install may point at
# another).
CONCERNLOG = [sys.executable, "-m", "api.cli"]
HOST = "127.0.0.1"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The server and the bench mint tokens with the same key; random per run, long enough for
# CONCERNLOG_ENV=production.
SECRET_KEY = secrets.token_urlsafe(48)
# What production also needs to start, random per run as well: the key attachments are
# sealed with, and the key that signs transfer bundles.
FILES_KEY = secrets.token_hex(32)
TRANSFER_KEY = bundles.new_private_pem()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str) -> dict[str, str]:
    """What concernlog runs with: production settings (JSON access log at INFO, to a file),
    the default pool, the run's secret."""
    return os.environ | {
        "CONCERNLOG_DATABASE_URL": database_url,
        "CONCERNLOG_ENV": "production",
        "CONCERNLOG_SECRET_KEY": SECRET_KEY,
        "CONCERNLOG_FILES_KEY": FILES_KEY,
        "CONCERNLOG_FILES_URL": str(Path(tempfile.gettempdir()) / "concernlog-bench-files"),
        "CONCERNLOG_TRANSFER_SIGNING_KEY": TRANSFER_KEY,
        "CONCERNLOG_LOG_LEVEL": "INFO",
    }


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (resident now) and VmHWM (peak resident) of the server process, in KiB."""
        readings: dict[str, int] = {}
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return readings
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                readings[name] = int(value.split()[0])
        return readings


def _get_status(port: int, path: str, timeout: float = 1.0) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def serving(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    health_path: str,
    timeout: float = 30.0,
) -> Iterator[Server]:
    """Start ``command`` (which must take ``--host`` and ``--port``) and yield once it
    answers ``health_path`` with 200; kill its process group on the way out."""
    port = free_port()
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "--host", HOST, "--port", str(port)],
            env=dict(env),
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group, killed as one
        )
    server = Server(name=name, process=process, port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited early:\n{log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                if _get_status(port, health_path) == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {health_path} within {timeout} s")
            time.sleep(0.1)
        yield server
    finally:
        _kill_group(process)


def serve_concernlog(
    database_url: str, log_dir: Path, name: str, *, extra_env: Mapping[str, str] | None = None
) -> AbstractContextManager[Server]:
    return serving(
        name,
        [*CONCERNLOG, "serve"],
        env=server_env(database_url) | dict(extra_env or {}),
        log_dir=log_dir,
        health_path="/healthz",
    )


def serve_bare(log_dir: Path) -> AbstractContextManager[Server]:
    return serving(
        "bare",
        [sys.executable, "-m", "bench.bare_app"],
        env=os.environ,
        log_dir=log_dir,
        health_path="/",
    )


# The anchors of issue 23, by name: the module each is served from.
ANCHORS = {"naive": "bench.naive_app", "limit": "bench.limit_app"}


def serve_anchor(
    anchor: str, database_url: str, log_dir: Path, name: str
) -> AbstractContextManager[Server]:
    """``bench.naive_app`` or ``bench.limit_app`` on ``database_url``, served as the bare
    app is (``bench.bare_app.serve``), with concernlog's environment: they read its
    database URL and verify the tokens it signs with the same key."""
    return serving(
        name,
        [sys.executable, "-m", ANCHORS[anchor]],
        env=server_env(database_url),
        log_dir=log_dir,
        health_path="/healthz",
    )


def migrate(database_url: str) -> None:
    """``concernlog migrate``, as an operator runs it."""
    result = subprocess.run(
        [*CONCERNLOG, "migrate"],
        env=server_env(database_url),
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"concernlog migrate failed:\n{result.stderr[-3000:]}")


def postgres_unreachable(server_url: str) -> str | None:
    """Why PostgreSQL at ``server_url`` cannot be used, or None when it can."""
    engine = create_engine(normalise_url(server_url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        engine.dispose()
    return None


@contextmanager
def throwaway_database(backend: str, *, pg_url: str = DEFAULT_PG_URL) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in a temporary folder, or a PostgreSQL
    database created on ``pg_url``'s server (``concernlog_bench_<random>``) and dropped
    afterwards, even when the block fails."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="concernlog-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    server = make_url(normalise_url(pg_url))
    name = f"concernlog_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
