"""Instructions per request, counted by callgrind: the bench's ratios, free of the machine's noise.

    .venv/bin/python -m bench.instructions                    # SQLite, every endpoint
    .venv/bin/python -m bench.instructions --endpoints read,create --requests 100

Wall-clock throughput on this VM moves by ±30 % from hour to hour, more than most changes
measured here. Instructions do not: ``valgrind --tool=callgrind`` counts the same total
for the same code and inputs, whatever else the machine is doing. This runs the real
servers (``bench.bare_app`` and ``concernlog serve`` on SQLite, one worker, as in
``make bench``) under callgrind, sends each endpoint's requests one at a time over one
keep-alive connection, and counts every instruction the server process executes for
them (all threads: uvicorn, the app, the threadpool, the SQLite library): the counters
are zeroed after a warm-up (``callgrind_control --zero``) and read after the timed
requests (``--dump``). It prints instructions per request and, like ``make bench``, the
ratio of the bare sync handler's to each endpoint's: the share of the bare stack's speed
an endpoint would have if the CPU were all that limited it.

It leaves out what instructions cannot see: time waiting on the disk (the commit's
fsync), on PostgreSQL or for the GIL. Callgrind runs the server ~50x slower; a full run
takes a few minutes. Needs valgrind (Debian's ``valgrind`` package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import alerts, fixtures
from bench.run import (
    RESULTS_DIR,
    TARGETS,
    Endpoint,
    bare_endpoints,
    concernlog_endpoints,
    results_document,
)
from bench.servers import (
    CONCERNLOG,
    HOST,
    SECRET_KEY,
    Server,
    migrate,
    server_env,
    serving,
    throwaway_database,
)

# Under callgrind a server starts in tens of seconds, not one.
START_TIMEOUT_SECONDS = 300.0
WARM_UP = 20
DEFAULT_ENDPOINTS = (
    "bare_sync",
    "bare_async",
    "guidance_304",
    "read",
    "create",
    "list",
    "alerts",
)
# A list of 50 costs ten reads: fewer of them give as steady a count.
REQUESTS_FOR = {"list": 30}
_TOTAL = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def _under_callgrind(command: list[str], out_dir: Path) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--quiet",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
        # Start-up (imports, the app) runs uninstrumented, so faster, and is not counted:
        # instrumentation is switched on after it, counters zeroed after the warm-up.
        "--instr-atstart=no",
        *command,
    ]


def _exchange(connection: socket.socket, request: bytes) -> int:
    """Send one pre-rendered request; read its whole answer; return its status."""
    connection.sendall(request)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    remaining = int(length.group(1)) - len(body) if length else 0
    while remaining > 0:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-answer")
        remaining -= len(chunk)
    return int(head.split(b" ", 2)[1])


def _callgrind_control(*arguments: str) -> None:
    subprocess.run(["callgrind_control", *arguments], check=True, capture_output=True, timeout=120)


def count(
    server: Server,
    endpoint: Endpoint,
    requests: int,
    out_dir: Path,
    settled: Callable[[], bool] | None = None,
) -> int:
    """Instructions the server executes for ``requests`` of ``endpoint`` (after a warm-up),
    and, with ``settled``, for what it does after them until ``settled()`` is true (its
    delivery worker draining the outbox)."""
    before = set(out_dir.glob("callgrind.out.*"))
    if settled is not None:
        with socket.create_connection((HOST, server.port), timeout=600) as connection:
            for n in range(WARM_UP):
                _exchange(connection, endpoint.requests[n % len(endpoint.requests)])
        _wait_for(settled)  # the warm-up's own alerts are not counted
    with socket.create_connection((HOST, server.port), timeout=600) as connection:
        if settled is None:
            for n in range(WARM_UP):
                _exchange(connection, endpoint.requests[n % len(endpoint.requests)])
        _callgrind_control("--instr=on", str(server.pid))
        _callgrind_control("--zero", str(server.pid))
        for n in range(requests):
            status = _exchange(
                connection, endpoint.requests[(WARM_UP + n) % len(endpoint.requests)]
            )
            if status != endpoint.expect:
                raise RuntimeError(f"{endpoint.label} answered {status}, not {endpoint.expect}")
        _wait_for(settled)
        _callgrind_control("--dump", str(server.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for dump in set(out_dir.glob("callgrind.out.*")) - before:
            found = _TOTAL.search(dump.read_bytes())
            if found:
                return int(found.group(1))
        time.sleep(0.5)
    raise RuntimeError("callgrind wrote no dump")


def _wait_for(settled: Callable[[], bool] | None) -> None:
    deadline = time.monotonic() + 600
    while settled is not None and not settled():
        if time.monotonic() > deadline:
            raise RuntimeError("the server's worker did not drain the outbox in time")
        time.sleep(0.5)


def _bare(out_dir: Path, log_dir: Path) -> AbstractContextManager[Server]:
    return serving(
        "bare-callgrind",
        _under_callgrind([sys.executable, "-m", "bench.bare_app"], out_dir),
        env=os.environ,
        log_dir=log_dir,
        health_path="/",
        timeout=START_TIMEOUT_SECONDS,
    )


def _concernlog(
    url: str, out_dir: Path, log_dir: Path, extra_env: dict[str, str] | None = None
) -> AbstractContextManager[Server]:
    # The endpoints alone, as before issue 18: no delivery worker in the process (the
    # alerts' rows below count one).
    env = server_env(url) | {"CONCERNLOG_SERVE_WORKER": "false"} | (extra_env or {})
    return serving(
        "concernlog-callgrind",
        _under_callgrind([*CONCERNLOG, "serve"], out_dir),
        env=env,
        log_dir=log_dir,
        health_path="/healthz",
        timeout=START_TIMEOUT_SECONDS,
    )


def run(endpoints: Sequence[str], requests: int, work_dir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def measure(server: Server, endpoint: Endpoint) -> None:
        n = REQUESTS_FOR.get(endpoint.key, requests)
        total = count(server, endpoint, n, work_dir)
        rows.append({"key": endpoint.key, "label": endpoint.label, "requests": n,
                     "instructions_per_request": total // n})  # fmt: skip
        print(f"instructions: {endpoint.label:<40} {total // n:>12,} per request")

    wanted = [e for e in bare_endpoints(0) if e.key in endpoints]
    if wanted:
        with _bare(work_dir, work_dir) as server:
            for endpoint in bare_endpoints(server.port):
                if endpoint.key in endpoints:
                    measure(server, endpoint)
    with throwaway_database("sqlite") as url:
        migrate(url)
        school = fixtures.seed_school(url, secret_key=SECRET_KEY)
        with _concernlog(url, work_dir, work_dir) as server:
            for endpoint in concernlog_endpoints(school, server.port):
                if endpoint.key in endpoints:
                    measure(server, endpoint)
        if "alerts" in endpoints:
            rows += _alerts(url, school, requests, work_dir)
    return rows


def _alerts(
    url: str, school: fixtures.BenchSchool, requests: int, work_dir: Path
) -> list[dict[str, Any]]:
    """``POST /concerns`` with a delivery worker in the server (``concernlog serve``'s
    default), with no alert channel and with email to the DSL and two deputies (an SMTP
    sink on loopback): each counted until the worker has published, and emailed, what
    the requests logged."""
    alerts.add_deputies(url, school)
    rows = []
    with alerts.smtp_sink(work_dir) as smtp_url:
        for key, label, env in (
            ("create_alerts_none", "POST /concerns, worker, no channel", {}),
            ("create_alerts_email", "POST /concerns, worker, email to 3", {
                "CONCERNLOG_SMTP_URL": smtp_url,
                "CONCERNLOG_MAIL_FROM": "bench@fictional-school.example",
            }),
        ):  # fmt: skip
            worker_env = {
                "CONCERNLOG_SERVE_WORKER": "true",
                "CONCERNLOG_WORKER_POLL_SECONDS": "0.5",
            }
            with _concernlog(url, work_dir, work_dir, worker_env | env) as server:
                (create,) = [
                    e for e in concernlog_endpoints(school, server.port) if e.key == "create"
                ]
                endpoint = Endpoint(key, label, create.requests, create.expect)
                total = count(server, endpoint, requests, work_dir, settled=lambda: _drained(url))
            rows.append({"key": key, "label": label, "requests": requests,
                         "instructions_per_request": total // requests})  # fmt: skip
            print(f"instructions: {label:<40} {total // requests:>12,} per request")
    return rows


def _drained(url: str) -> bool:
    counts = alerts.outbox_counts(url)
    return not counts["unpublished"] and not counts.get("deliveries_pending", 0)


def render_table(rows: list[dict[str, Any]]) -> str:
    bare = next((r["instructions_per_request"] for r in rows if r["key"] == "bare_sync"), None)
    by_key = {r["key"]: r["instructions_per_request"] for r in rows}
    lines = [f"{'endpoint':<42}{'instructions':>14}{'÷bare sync':>12}  target"]
    lines.append("-" * (len(lines[0]) + 16))
    for row in rows:
        per = row["instructions_per_request"]
        ratio = f"{100 * bare / per:>11.1f}%" if bare and not row["key"].startswith("bare") else ""
        target = TARGETS.get(row["key"])
        verdict = ""
        if target is not None and bare:
            ratio_target = target["ratio"]
            met = "met" if bare / per >= ratio_target else "MISSED"
            verdict = f"≥{ratio_target * 100:.0f}%: {met}"
        lines.append(f"{row['label']:<42}{per:>14,}{ratio:>12}  {verdict}")
    if {"create_alerts_none", "create_alerts_email"} <= set(by_key):
        none, email = by_key["create_alerts_none"], by_key["create_alerts_email"]
        cost = 1 - none / email
        met = "met" if cost <= alerts.TARGET_COST else "MISSED"
        lines.append(
            f"alerts: email to 3 costs {cost:+.1%} of a create's throughput against no "
            f"channel (target ≤ {alerts.TARGET_COST:.0%}: {met})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoints", default=",".join(DEFAULT_ENDPOINTS))
    parser.add_argument("--requests", type=int, default=100, help="counted per endpoint")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("instructions: needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    started_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="concernlog-instructions-") as folder:
        rows = run(endpoints, args.requests, Path(folder))
    table = render_table(rows)
    print()
    print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = results_document(
        "concernlog-bench-instructions", started_at, table, backend="sqlite", rows=rows
    )
    (RESULTS_DIR / "instructions-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print("\ninstructions: results in bench/results/instructions-latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
