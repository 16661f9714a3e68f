"""``make bench``: concernlog against the bare FastAPI stack, in one run, on one machine.

    .venv/bin/python -m bench.run                    # 10 s per endpoint, 2 s warm-up
    .venv/bin/python -m bench.run --quick            # 3 s per endpoint, 1 s warm-up
    .venv/bin/python -m bench.run --backends sqlite --generator python
    .venv/bin/python -m bench.run --profile          # also py-spy the create and list loads

In one run: the bare baseline (``bench.bare_app``) is measured, then for each backend
(SQLite in a temporary file; PostgreSQL in a throwaway database, skipped with a message
when the server cannot be reached) a fresh database is migrated with ``concernlog
migrate``, a fictional school is seeded (``bench.fixtures``), ``concernlog serve`` is
started with one worker and each endpoint is driven with the same closed-loop load (16
connections, fixed duration, warm-up not counted); then the bare baseline is measured
again, so drift over the run shows. Ratios divide by the mean of the two bare readings.

Load comes from wrk when it is installed (``bench/wrk/replay.lua``), else from
``bench.loadgen``; the table and the JSON say which. Everything runs on loopback and
stops by itself; servers and databases are removed even when the run fails.

Environment (flags win): BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_GENERATOR,
BENCH_BACKENDS, BENCH_PG_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import alerts, fixtures
from bench.loadgen import parse_response
from bench.requests import render, render_form, render_json, write_requests
from bench.servers import (
    DEFAULT_PG_URL,
    HOST,
    SECRET_KEY,
    Server,
    migrate,
    postgres_unreachable,
    serve_bare,
    serve_concernlog,
    throwaway_database,
)
from guidance import GUIDANCE_DIR
from services.guidance import GuidanceLibrary

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPLAY_LUA = BENCH_DIR / "wrk" / "replay.lua"
API = "/api/v1"
PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic-core",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "psycopg-binary",
    "python-jose",
    "pwdlib",
    "argon2-cffi",
)
# The targets: share of the bare baseline's req/s, and p99 at 16 connections.
TARGETS = {
    "create": {"ratio": 0.35, "p99_ms": 50.0},
    "list": {"ratio": 0.25, "p99_ms": 50.0},
    "read": {"ratio": 0.40, "p99_ms": 50.0},
}
RSS_TARGET_MIB = 150


# --- load generators -------------------------------------------------------------------------


class Generator:
    name = ""

    def drive(
        self, port: int, requests_file: Path, *, connections: int, duration: int, warmup: int
    ) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class Wrk(Generator):
    name = "wrk"

    def __init__(self, executable: str, threads: int) -> None:
        self.executable = executable
        self.threads = threads

    def describe(self) -> str:
        banner = subprocess.run(
            [self.executable, "--version"], capture_output=True, text=True, check=False
        )
        first = (banner.stdout or banner.stderr).splitlines()
        version = first[0].split(" [")[0].strip() if first else "wrk"
        return f"{version}, {self.threads} threads, bench/wrk/replay.lua"

    def _wrk(self, port: int, requests_file: Path, connections: int, seconds: int) -> str:
        command = [
            self.executable,
            f"-t{min(self.threads, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(REPLAY_LUA),
            f"http://{HOST}:{port}",
            "--",
            str(requests_file),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
        if result.returncode != 0:
            raise RuntimeError(f"wrk failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def drive(
        self, port: int, requests_file: Path, *, connections: int, duration: int, warmup: int
    ) -> dict[str, Any]:
        if warmup > 0:
            self._wrk(port, requests_file, connections, warmup)
        output = self._wrk(port, requests_file, connections, duration)
        for line in reversed(output.splitlines()):
            if line.startswith("{"):
                report: dict[str, Any] = json.loads(line)
                errors = report["errors"]
                report["errors"] = {
                    "socket": errors["connect"] + errors["read"] + errors["write"],
                    "timeout": errors["timeout"],
                    "status": errors["status"],
                }
                return report
        raise RuntimeError(f"wrk printed no report:\n{output}")


class PythonLoad(Generator):
    name = "python"

    def describe(self) -> str:
        return "bench.loadgen (asyncio + uvloop, raw HTTP/1.1 keep-alive, one process)"

    def drive(
        self, port: int, requests_file: Path, *, connections: int, duration: int, warmup: int
    ) -> dict[str, Any]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--port",
                str(port),
                "--requests-file",
                str(requests_file),
                "--connections",
                str(connections),
                "--duration",
                str(duration),
                "--warmup",
                str(warmup),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=duration + warmup + 60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"bench.loadgen failed:\n{result.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return report


def choose_generator(wanted: str, wrk_threads: int) -> Generator:
    executable = shutil.which("wrk")
    if wanted == "wrk" and executable is None:
        raise SystemExit("bench: --generator wrk, but wrk is not installed (apt-get install wrk)")
    if wanted in ("auto", "wrk") and executable is not None:
        return Wrk(executable, wrk_threads)
    return PythonLoad()


# --- what is measured ------------------------------------------------------------------------


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


# --- profiling -------------------------------------------------------------------------------


def profile_during(
    server: Server,
    out_dir: Path,
    stem: str,
    seconds: int,
    drive: Callable[[], dict[str, Any]],
) -> list[Path]:
    """Drive the load again with py-spy sampling the server: once holding the GIL (where
    CPU goes) and once over all active threads (where wall time goes). Collapsed stacks,
    summarised by ``bench.profile_summary``. These runs are not counted in the table."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("bench: --profile needs py-spy (pip install py-spy into the venv)", file=sys.stderr)
        return []
    written = []
    for mode, extra in (("gil", ["--gil"]), ("wall", [])):
        output = out_dir / f"{stem}-{mode}.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(seconds),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(output),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            time.sleep(0.5)
            drive()
            spy.wait(timeout=seconds + 30)
        finally:
            if spy.poll() is None:
                os.killpg(spy.pid, signal.SIGKILL)
                spy.wait(timeout=10)
        if output.exists():
            written.append(output)
    return written


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Settings:
    duration: int
    warmup: int
    connections: int
    backends: list[str]
    pg_url: str
    profile: bool
    profile_seconds: int
    calibrate_python: bool
    generator: Generator
    endpoints: list[str]
    bare: bool
    alerts_rounds: int = 2


@dataclass
class Run:
    settings: Settings
    started_at: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    load_average: tuple[float, float, float] = field(default_factory=os.getloadavg)
    alerts: list[dict[str, Any]] = field(default_factory=list)


def measure(
    run: Run, server: Server, backend: str, endpoint: Endpoint, work_dir: Path
) -> dict[str, Any]:
    settings = run.settings
    preflight(server.port, endpoint.requests[0], endpoint.expect)
    requests_file = write_requests(work_dir / f"{backend}-{endpoint.key}.bin", endpoint.requests)
    print(f"bench: {backend:<10} {endpoint.label:<34} ", end="", flush=True)
    report = settings.generator.drive(
        server.port,
        requests_file,
        connections=settings.connections,
        duration=settings.duration,
        warmup=settings.warmup,
    )
    row = {
        "backend": backend,
        "endpoint": endpoint.key,
        "label": endpoint.label,
        "separate": endpoint.separate,
        "expected_status": endpoint.expect,
        **report,
    }
    run.rows.append(row)
    print(
        f"{report['rps']:9.1f} req/s  p50 {report['latency_ms']['p50']:7.2f} ms  "
        f"p99 {report['latency_ms']['p99']:7.2f} ms  errors {report['errors']}"
    )
    if settings.profile and endpoint.profile:
        stem = f"{run.started_at}-{backend}-{endpoint.key}"
        profile_dir = RESULTS_DIR / "profiles"
        profile_dir.mkdir(parents=True, exist_ok=True)
        written = profile_during(
            server,
            profile_dir,
            stem,
            settings.profile_seconds,
            lambda: settings.generator.drive(
                server.port,
                requests_file,
                connections=settings.connections,
                duration=settings.profile_seconds - 1,
                warmup=0,
            ),
        )
        run.profiles.extend(str(path.relative_to(BENCH_DIR.parent)) for path in written)
    return row


def bench_bare(run: Run, work_dir: Path, label: str) -> None:
    with serve_bare(work_dir) as server:
        for endpoint in bare_endpoints(server.port):
            measure(run, server, label, endpoint, work_dir)
        if run.settings.calibrate_python and not isinstance(run.settings.generator, PythonLoad):
            requests_file = write_requests(
                work_dir / "calibrate.bin", bare_endpoints(server.port)[1].requests
            )
            report = PythonLoad().drive(
                server.port,
                requests_file,
                connections=run.settings.connections,
                duration=run.settings.duration,
                warmup=run.settings.warmup,
            )
            run.calibration = {
                "what": "bench.loadgen against the bare async endpoint, same run",
                **report,
            }
            print(f"bench: calibration: bench.loadgen reaches {report['rps']:.0f} req/s on bare")
        run.memory[label] = server.memory_kib()


def bench_backend(run: Run, backend: str, work_dir: Path) -> None:
    settings = run.settings
    if backend == "postgresql":
        why = postgres_unreachable(settings.pg_url)
        if why is not None:
            message = f"PostgreSQL at {settings.pg_url} is unreachable ({why}); skipped"
            print(f"bench: {message}")
            run.skipped[backend] = message
            return
    with throwaway_database(backend, pg_url=settings.pg_url) as url:
        started = time.perf_counter()
        migrate(url)
        school = fixtures.seed_school(url, secret_key=SECRET_KEY)
        print(
            f"bench: {backend}: migrated and seeded {len(school.concern_ids)} concerns "
            f"in {time.perf_counter() - started:.1f} s"
        )
        with serve_concernlog(url, work_dir, f"concernlog-{backend}") as server:
            for endpoint in concernlog_endpoints(school, server.port):
                if settings.endpoints and endpoint.key not in settings.endpoints:
                    continue
                measure(run, server, backend, endpoint, work_dir)
            run.memory[backend] = server.memory_kib()
        if settings.alerts_rounds and (not settings.endpoints or "alerts" in settings.endpoints):
            run.alerts.append(
                alerts.bench_alerts(
                    backend=backend,
                    database_url=url,
                    school=school,
                    work_dir=work_dir,
                    rounds=settings.alerts_rounds,
                    measure_create=lambda server, label: _measure_apart(
                        run, server, backend, school, label, work_dir
                    ),
                )
            )


def _measure_apart(
    run: Run,
    server: Server,
    backend: str,
    school: fixtures.BenchSchool,
    label: str,
    work_dir: Path,
) -> dict[str, Any]:
    """The create load on ``server``, reported in the alerts' comparison, not the table."""
    (create,) = [e for e in concernlog_endpoints(school, server.port) if e.key == "create"]
    endpoint = Endpoint("create_alerts", label, create.requests, create.expect)
    row = measure(run, server, backend, endpoint, work_dir)
    run.rows.remove(row)
    return row


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def results_document(kind: str, started_at: str, table: str, **fields: Any) -> dict[str, Any]:
    """What every bench writes to ``bench/results/``: which bench, when, on which machine
    with which versions, its own ``fields``, and the table it printed."""
    return {
        "kind": kind,
        "started_at": started_at,
        "machine": machine(),
        "versions": versions(),
        **fields,
        "table": table.splitlines(),
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def summarise(run: Run) -> dict[str, Any]:
    """Ratios to the mean of the bare readings taken before and after."""
    bare: dict[str, list[float]] = {}
    for row in run.rows:
        if row["backend"].startswith("bare"):
            bare.setdefault(row["endpoint"], []).append(row["rps"])
    baseline = {key: sum(values) / len(values) for key, values in bare.items()}
    for row in run.rows:
        if row["backend"].startswith("bare") or row["separate"]:
            continue
        if "bare_sync" in baseline:
            row["ratio_to_bare_sync"] = row["rps"] / baseline["bare_sync"]
        if "bare_async" in baseline:
            row["ratio_to_bare_async"] = row["rps"] / baseline["bare_async"]
        target = TARGETS.get(row["endpoint"])
        if target is not None and "ratio_to_bare_sync" in row:
            row["target"] = target
            row["meets_target"] = (
                row["ratio_to_bare_sync"] >= target["ratio"]
                and row["latency_ms"]["p99"] < target["p99_ms"]
            )
    return {"bare_baseline_rps": baseline}


def table(run: Run, baseline: dict[str, float]) -> str:
    header = (
        f"{'backend':<11}{'endpoint':<36}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'÷bare sync':>12}{'÷bare async':>13}  {'target':<16}"
    )
    lines = [header, "-" * len(header)]

    def line(row: dict[str, Any]) -> str:
        sync = row.get("ratio_to_bare_sync")
        asynchronous = row.get("ratio_to_bare_async")
        target = ""
        if "target" in row:
            wanted = row["target"]
            verdict = "met" if row["meets_target"] else "MISSED"
            target = f"{verdict} (≥{wanted['ratio']:.0%})"
        failures = sum(row["errors"].values())
        note = f"  {failures} errors" if failures else ""
        if not row["requests"]:
            note += "  no request completed within the duration"
        return (
            f"{row['backend']:<11}{row['label']:<36}{row['rps']:>9.0f}"
            f"{row['latency_ms']['p50']:>9.2f}{row['latency_ms']['p99']:>9.2f}"
            f"{'' if sync is None else f'{sync:.1%}':>12}"
            f"{'' if asynchronous is None else f'{asynchronous:.1%}':>13}  {target:<16}{note}"
        )

    main_rows = [r for r in run.rows if not r["separate"]]
    lines += [line(row) for row in main_rows]
    separate = [r for r in run.rows if r["separate"]]
    if separate:
        lines += ["", "Reported apart (argon2id by design, no ratio):"]
        lines += [line(row) for row in separate]
    lines += [""]
    lines += [
        f"bare baseline (mean of before/after): sync {baseline.get('bare_sync', 0):.0f} req/s, "
        f"async {baseline.get('bare_async', 0):.0f} req/s"
    ]
    for name, readings in run.memory.items():
        if name.startswith("bare"):
            continue
        rss = readings.get("VmRSS", 0) / 1024
        peak = readings.get("VmHWM", 0) / 1024
        verdict = "met" if rss < RSS_TARGET_MIB else "MISSED"
        lines.append(
            f"server RSS after the run, {name}: {rss:.1f} MiB (peak {peak:.1f} MiB; "
            f"target < {RSS_TARGET_MIB} MiB: {verdict})"
        )
    if run.alerts:
        lines += ["", "Alerts (issue 18): POST /concerns with email and one webhook against none"]
        for result in run.alerts:
            lines += alerts.describe(result)
    for message in run.skipped.values():
        lines.append(f"skipped: {message}")
    lines.append(f"load: {run.settings.generator.describe()}")
    start_load, end_load = run.load_average[0], os.getloadavg()[0]
    # Only the load before the run says whether others were busy: by its end the load
    # average counts the bench's own server and load generator (about 2 on 2 cores).
    quiet = (
        ""
        if start_load < 1.0
        else (
            "  WARNING: other processes were busy on this machine; every number is lower than "
            "on a quiet one (ratios less so: bare was measured under the same load)"
        )
    )
    lines.append(
        f"load average (1 min) at start {start_load:.2f}, at end {end_load:.2f} (the end "
        f"counts the bench's own server and load generator){quiet}"
    )
    lines.append(
        f"{run.settings.connections} connections, {run.settings.duration} s per endpoint after "
        f"{run.settings.warmup} s warm-up; {os.cpu_count()} cores"
    )
    return "\n".join(lines)


def write_results(run: Run, baseline: dict[str, Any], rendered: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    settings = run.settings
    document = results_document(
        "concernlog-bench",
        run.started_at,
        rendered,
        load_generator={
            "name": settings.generator.name,
            "detail": settings.generator.describe(),
        },
        load={
            "connections": settings.connections,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
        },
        server="concernlog serve (uvicorn, one worker, CONCERNLOG_ENV=production)",
        **baseline,
        results=run.rows,
        server_memory_kib=run.memory,
        skipped=run.skipped,
        profiles=run.profiles,
        loadgen_calibration=run.calibration,
        load_average={"start": run.load_average, "end": os.getloadavg()},
        alerts=run.alerts,
    )
    path = RESULTS_DIR / f"{run.started_at}.json"
    text = json.dumps(document, indent=2, default=str) + "\n"
    path.write_text(text)
    if settings.bare and not settings.endpoints:
        # Investigation runs (--no-bare, --endpoints) never replace the latest full table.
        (RESULTS_DIR / "latest.json").write_text(text)
    return path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 s per endpoint, 1 s warm-up")
    parser.add_argument("--duration", type=int, help="seconds per endpoint (default 10)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up not counted (default 2)")
    parser.add_argument("--connections", type=int, help="keep-alive connections (default 16)")
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default=os.environ.get("BENCH_GENERATOR", "auto"),
        help="auto: wrk when installed, else bench.loadgen",
    )
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--backends",
        default=os.environ.get("BENCH_BACKENDS", "sqlite,postgresql"),
        help="comma-separated: sqlite, postgresql",
    )
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the read, list and create loads"
    )
    parser.add_argument("--profile-seconds", type=int, default=8)
    parser.add_argument(
        "--calibrate-python",
        action="store_true",
        help="also drive the bare app with bench.loadgen, to show its ceiling beside wrk",
    )
    parser.add_argument(
        "--endpoints",
        default="",
        help="only these (comma-separated keys: guidance, guidance_304, read, list, create, "
        "token, alerts); for investigation, the full table needs them all",
    )
    parser.add_argument(
        "--alerts-rounds",
        type=int,
        default=_env_int("BENCH_ALERTS_ROUNDS", 2),
        help="turns of each alerts configuration (create with email + webhook vs none); 0: skip",
    )
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare baseline (investigation only)"
    )
    args = parser.parse_args(argv)
    duration = args.duration or _env_int("BENCH_DURATION", 3 if args.quick else 10)
    warmup = (
        args.warmup if args.warmup is not None else _env_int("BENCH_WARMUP", 1 if args.quick else 2)
    )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return Settings(
        duration=max(1, duration),
        warmup=max(0, warmup),
        connections=args.connections or _env_int("BENCH_CONNECTIONS", 16),
        backends=backends,
        pg_url=args.pg_url,
        profile=args.profile,
        profile_seconds=max(3, args.profile_seconds),
        calibrate_python=args.calibrate_python,
        generator=choose_generator(args.generator, args.wrk_threads),
        endpoints=[e.strip() for e in args.endpoints.split(",") if e.strip()],
        bare=not args.no_bare,
        alerts_rounds=max(0, args.alerts_rounds),
    )


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so every server and database is cleaned up.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    run = Run(settings=settings, started_at=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    print(f"bench: load from {settings.generator.describe()}")
    with tempfile.TemporaryDirectory(prefix="concernlog-bench-run-") as folder:
        work_dir = Path(folder)
        try:
            if settings.bare:
                bench_bare(run, work_dir, "bare")
            for backend in settings.backends:
                bench_backend(run, backend, work_dir)
            if settings.bare:
                bench_bare(run, work_dir, "bare-after")
        except BaseException:
            for log in sorted(work_dir.glob("*.log")):
                tail = log.read_text(errors="replace")[-1500:]
                print(f"--- {log.name} (tail) ---\n{tail}", file=sys.stderr)
            raise
    baseline = summarise(run)
    rendered = table(run, baseline["bare_baseline_rps"])
    print()
    print(rendered)
    path = write_results(run, baseline, rendered)
    print(f"\nbench: results in {path.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
