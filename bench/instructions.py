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

``alerts`` counts the delivery worker's share of a concern logged (with no alert channel,
and with email to the school's DSL and two deputies) in a ``concernlog worker --once`` of
its own, and adds it to the create's.

It leaves out what instructions cannot see: time waiting on the disk (the commit's
fsync), on PostgreSQL or for the GIL. Callgrind runs the server ~50x slower; a full run
takes a few minutes. Needs valgrind (Debian's ``valgrind`` package).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import alerts, fixtures
from bench.endpoints import TARGETS, Endpoint, bare_endpoints, concernlog_endpoints
from bench.report import RESULTS_DIR, results_document
from bench.servers import (
    CONCERNLOG,
    HOST,
    PROJECT_ROOT,
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
# Concerns the larger of two counted worker passes delivers (``_alerts``); at most a pass's
# publishing batch (``services.alerts.publishing.PUBLISH_BATCH``).
ALERT_CONCERNS = 500
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


def count(server: Server, endpoint: Endpoint, requests: int, out_dir: Path) -> int:
    """Instructions the server executes for ``requests`` of ``endpoint`` (after a warm-up)."""
    before = set(out_dir.glob("callgrind.out.*"))
    with socket.create_connection((HOST, server.port), timeout=600) as connection:
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
        _callgrind_control("--dump", str(server.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for dump in set(out_dir.glob("callgrind.out.*")) - before:
            found = _TOTAL.search(dump.read_bytes())
            if found:
                return int(found.group(1))
        time.sleep(0.5)
    raise RuntimeError("callgrind wrote no dump")


def _bare(out_dir: Path, log_dir: Path) -> AbstractContextManager[Server]:
    return serving(
        "bare-callgrind",
        _under_callgrind([sys.executable, "-m", "bench.bare_app"], out_dir),
        env=os.environ,
        log_dir=log_dir,
        health_path="/",
        timeout=START_TIMEOUT_SECONDS,
    )


def _concernlog(url: str, out_dir: Path, log_dir: Path) -> AbstractContextManager[Server]:
    # The endpoints alone: no delivery worker in the process (``_alerts`` counts one).
    return serving(
        "concernlog-callgrind",
        _under_callgrind([*CONCERNLOG, "serve"], out_dir),
        env=server_env(url) | {"CONCERNLOG_SERVE_WORKER": "false"},
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
            rows += _alerts(url, school, work_dir)
    return rows


def _worker_pass(url: str, env: dict[str, str], out_dir: Path) -> int:
    """Every instruction of ``concernlog worker --once`` (start-up included) on ``url``."""
    before = set(out_dir.glob("worker.out.*"))
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--quiet",
            f"--callgrind-out-file={out_dir}/worker.out.%p",
            *CONCERNLOG,
            "worker",
            "--once",
        ],
        env=server_env(url) | env | {"PYTHONHASHSEED": "0", "CONCERNLOG_LOG_LEVEL": "WARNING"},
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=1800,
    )
    (dump,) = set(out_dir.glob("worker.out.*")) - before
    found = _TOTAL.search(dump.read_bytes())
    if found is None:
        raise RuntimeError("callgrind wrote no total")
    return int(found.group(1))


def _alerts(url: str, school: fixtures.BenchSchool, work_dir: Path) -> list[dict[str, Any]]:
    """What the delivery worker executes per concern logged, with no alert channel and
    with email to the school's DSL and two deputies (an SMTP sink on loopback) and one
    webhook subscription (a receiver on loopback answering 204): the marginal count of a
    ``concernlog worker --once`` pass, that after ``ALERT_CONCERNS`` concerns less that
    after half as many, divided by the difference. What a pass does once whatever it
    sends (start-up, its first imports, connecting to the SMTP server and the receiver,
    compiling its statements) is in both and cancels out, as it does in a worker that runs
    for days. Counted in a process of its own, so the count cannot depend on when a pass
    meets a request."""
    alerts.add_deputies(url, school)
    rows = []
    with contextlib.ExitStack() as stack:
        smtp_url = stack.enter_context(alerts.smtp_sink(work_dir))
        receiver_url = stack.enter_context(alerts.webhook_receiver(work_dir))
        email = {
            "CONCERNLOG_SMTP_URL": smtp_url,
            "CONCERNLOG_MAIL_FROM": "bench@fictional-school.example",
        }
        for key, label, env in (
            ("worker_none", "worker, per concern, no channel", {}),
            ("worker_email", "worker, per concern, email to 3 + webhook", email),
        ):
            if key == "worker_email":  # the subscription lives from here to the end
                stack.enter_context(alerts.webhook_subscription(url, school, receiver_url))
            subprocess.run(  # what earlier endpoints logged: delivered, not counted
                [*CONCERNLOG, "worker", "--once"],
                env=server_env(url) | env | {"CONCERNLOG_LOG_LEVEL": "WARNING"},
                cwd=PROJECT_ROOT,
                capture_output=True,
                check=True,
                timeout=600,
            )
            half = ALERT_CONCERNS // 2
            alerts.log_concerns(url, school, half)
            fewer = _worker_pass(url, env, work_dir)
            alerts.log_concerns(url, school, ALERT_CONCERNS)
            more = _worker_pass(url, env, work_dir)
            per = (more - fewer) // (ALERT_CONCERNS - half)
            rows.append({"key": key, "label": label, "requests": ALERT_CONCERNS - half,
                         "instructions_per_request": per})  # fmt: skip
            print(f"instructions: {label:<40} {per:>12,} per concern")
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    bare = next((r["instructions_per_request"] for r in rows if r["key"] == "bare_sync"), None)
    by_key = {r["key"]: r["instructions_per_request"] for r in rows}
    lines = [f"{'endpoint':<42}{'instructions':>14}{'÷bare sync':>12}  target"]
    lines.append("-" * (len(lines[0]) + 16))
    for row in rows:
        per = row["instructions_per_request"]
        shown = bare is not None and not row["key"].startswith(("bare", "worker"))
        ratio = f"{100 * bare / per:>11.1f}%" if bare is not None and shown else ""
        target = TARGETS.get(row["key"])
        verdict = ""
        if target is not None and bare:
            ratio_target = target["ratio"]
            met = "met" if bare / per >= ratio_target else "MISSED"
            verdict = f"≥{ratio_target * 100:.0f}%: {met}"
        lines.append(f"{row['label']:<42}{per:>14,}{ratio:>12}  {verdict}")
    if {"create", "worker_none", "worker_email"} <= set(by_key):
        # A server running its worker does both for each concern logged.
        none = by_key["create"] + by_key["worker_none"]
        email = by_key["create"] + by_key["worker_email"]
        cost = 1 - none / email
        met = "met" if cost <= alerts.TARGET_COST else "MISSED"
        lines.append(
            f"alerts: a create and its worker's share, {none:,} with no channel, {email:,} "
            f"with email + webhook: {cost:.1%} of the throughput "
            f"(target ≤ {alerts.TARGET_COST:.0%}: {met})"
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
