"""``make bench``: concernlog against its anchors (the bare FastAPI stack, and issue 23's
naive and limit apps, ``bench.anchors``), in one run, on one machine.

    .venv/bin/python -m bench.run                    # 10 s per endpoint, 2 s warm-up
    .venv/bin/python -m bench.run --quick            # 3 s per endpoint, 1 s warm-up
    .venv/bin/python -m bench.run --backends sqlite --generator python
    .venv/bin/python -m bench.run --profile          # also py-spy the create and list loads

In one run: the bare baseline (``bench.bare_app``) is measured, then for each backend
(SQLite in a temporary file; PostgreSQL in a throwaway database, skipped with a message
when the server cannot be reached) a fresh database is migrated with ``concernlog
migrate``, a fictional school is seeded (``bench.fixtures``), ``concernlog serve`` is
started with one worker and each endpoint is driven with the same closed-loop load (16
connections, fixed duration, warm-up not counted), the naive and the limit app (served
beside it on the same database) right after it on the read, the list and the create;
then the bare baseline is measured again, so drift over the run shows. Ratios to bare
divide by the mean of the two bare readings; concernlog's read, list and create are also
divided by the anchors' (issue 23's targets: ``bench.anchors``).

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
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import alerts, anchors, fixtures
from bench.endpoints import (
    Endpoint,
    bare_endpoints,
    concernlog_endpoints,
    preflight,
)
from bench.generators import Generator, PythonLoad, choose_generator, profile_during
from bench.report import RESULTS_DIR, results_document, summarise, table
from bench.requests import write_requests
from bench.servers import (
    DEFAULT_PG_URL,
    SECRET_KEY,
    Server,
    migrate,
    postgres_unreachable,
    serve_bare,
    serve_concernlog,
    throwaway_database,
)

BENCH_DIR = Path(__file__).resolve().parent


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
    anchors: bool = True


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
    run: Run,
    server: Server,
    backend: str,
    endpoint: Endpoint,
    work_dir: Path,
    app: str = "concernlog",
) -> dict[str, Any]:
    settings = run.settings
    preflight(server.port, endpoint.requests[0], endpoint.expect)
    requests_file = write_requests(
        work_dir / f"{backend}-{app}-{endpoint.key}.bin", endpoint.requests
    )
    print(f"bench: {backend:<10} {app:<10} {endpoint.label:<34} ", end="", flush=True)
    report = settings.generator.drive(
        server.port,
        requests_file,
        connections=settings.connections,
        duration=settings.duration,
        warmup=settings.warmup,
    )
    row = {
        "backend": backend,
        "app": app,
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
        stem = f"{run.started_at}-{backend}-{app}-{endpoint.key}"
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
            measure(run, server, label, endpoint, work_dir, app="bare")
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
        with (
            serve_concernlog(url, work_dir, f"concernlog-{backend}") as server,
            anchors.serving(backend, url, work_dir, enabled=settings.anchors) as peers,
        ):
            for endpoint in concernlog_endpoints(school, server.port):
                if settings.endpoints and endpoint.key not in settings.endpoints:
                    continue
                measure(run, server, backend, endpoint, work_dir)
                # Each anchor right after concernlog, the same requests: seconds apart,
                # not minutes, so a busy machine's swings weigh less on the ratios.
                for app, peer in peers.items():
                    rendered = concernlog_endpoints(school, peer.port)
                    same = anchors.same_endpoint(endpoint.key, rendered)
                    if same is not None:
                        measure(run, peer, backend, same, work_dir, app=app)
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
    if settings.bare and settings.anchors and not settings.endpoints:
        # Investigation runs (--no-bare, --no-anchors, --endpoints) never replace the
        # latest full table.
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
    parser.add_argument(
        "--no-anchors",
        action="store_true",
        help="skip the naive and limit apps of issue 23 (investigation only)",
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
        anchors=not args.no_anchors,
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
