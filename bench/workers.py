"""Throughput with one server process and with two (issue 23, "more than one process"):
``concernlog serve --workers 1`` against ``--workers 2`` on one PostgreSQL database.

    .venv/bin/python -m bench.workers                    # 10 s per endpoint, 2 s warm-up
    .venv/bin/python -m bench.workers --quick            # 3 s per endpoint, 1 s warm-up
    .venv/bin/python -m bench.workers --workers 1 2 4 --rounds 2
    .venv/bin/python -m bench.workers --schools 2        # two schools' requests in turn
    .venv/bin/python -m bench.workers --server-env CONCERNLOG_DATABASE_CONCURRENCY=2

One throwaway PostgreSQL database (``bench.servers``), migrated with ``concernlog migrate``
and seeded with ``bench.fixtures``' fictional school; then, for each worker count, ``serve
--workers N`` is started with production settings (its delivery worker in each process, as
by default) and, once every one of its N processes has started, the create, recorder-read
and DSL-list loads of ``bench.run`` are driven at it with the same generator and
connections (``bench.run.choose_generator``: wrk when installed, else ``bench.loadgen``).
With ``--rounds 2`` the counts run in the order 1, 2 then 2, 1, and each reading is the
mean of its rounds, so that a machine growing busier during the run favours neither.
Each school has its own audit chain, whose head every audited request of the school
locks: ``--schools 2`` seeds two and sends their requests in turn, to tell what a second
process adds across schools from what one school's chain allows.

Prints a table (req/s and p99 for each count, and the ratio of each count to one worker),
each process's resident memory after its loads, and the load average (the machine may be
shared); writes the same to ``bench/results/workers-latest.json``. Skipped, with a
message, when PostgreSQL cannot be reached. Every record is fictional.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fixtures
from bench.endpoints import concern_bodies, preflight
from bench.generators import Generator, choose_generator
from bench.requests import render, render_json, write_requests
from bench.servers import (
    CONCERNLOG,
    DEFAULT_PG_URL,
    HOST,
    SECRET_KEY,
    Server,
    migrate,
    postgres_unreachable,
    server_env,
    serving,
    throwaway_database,
)

RESULTS = Path(__file__).resolve().parent / "results" / "workers-latest.json"
API = "/api/v1"


@dataclass(frozen=True)
class Load:
    key: str
    label: str
    requests: list[bytes]
    expect: int


def _interleaved(per_school: list[list[bytes]]) -> list[bytes]:
    """One request of each school in turn (each connection cycles through the list)."""
    longest = max(len(requests) for requests in per_school)
    return [requests[n % len(requests)] for n in range(longest) for requests in per_school]


def loads(schools: list[fixtures.BenchSchool], port: int) -> list[Load]:
    """The three hot endpoints, as ``bench.run`` renders them; with several schools, their
    requests in turn."""
    host = f"{HOST}:{port}"

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    creates, reads, lists = [], [], []
    for school in schools:
        staff, dsl = bearer(school.staff_token), bearer(school.dsl_token)
        creates.append(
            [
                render_json("POST", f"{API}/concerns", body, host=host, headers=staff)
                for body in concern_bodies(school)
            ]
        )
        reads.append(
            [
                render("GET", f"{API}/concerns/{concern_id}", host=host, headers=staff)
                for concern_id in school.concern_ids
            ]
        )
        lists.append([render("GET", f"{API}/concerns?limit=50", host=host, headers=dsl)])
    return [
        Load("create", "POST /concerns (staff)", _interleaved(creates), 201),
        Load("read", "GET /concerns/{id} (recorder)", _interleaved(reads), 200),
        Load("list", "GET /concerns?limit=50 (DSL)", _interleaved(lists), 200),
    ]


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_processes(server: Server, workers: int) -> list[int]:
    """The processes that answer: the server itself with one worker; with more, uvicorn's
    children (the supervisor only watches them). Multiprocessing's resource tracker, a
    child too, is told apart by its command line."""
    if workers == 1:
        return [server.pid]
    found = []
    for child in _children(server.pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            found.append(child)
    return found


@contextmanager
def serve_workers(
    url: str, work_dir: Path, workers: int, extra_env: dict[str, str]
) -> Iterator[Server]:
    """``concernlog serve --workers N``, yielded once all N processes have started."""
    with serving(
        f"concernlog-workers-{workers}",
        [*CONCERNLOG, "serve", "--workers", str(workers)],
        env=server_env(url) | extra_env,
        log_dir=work_dir,
        health_path="/readyz",
        timeout=120.0,
    ) as server:
        deadline = time.monotonic() + 120
        while server.log_path.read_text(errors="replace").count("Application startup complete") < (
            workers
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all {workers} workers started within 120 s")
            time.sleep(0.2)
        yield server


def measure(
    generator: Generator,
    server: Server,
    load: Load,
    work_dir: Path,
    *,
    connections: int,
    duration: int,
    warmup: int,
) -> dict[str, Any]:
    preflight(server.port, load.requests[0], load.expect)
    requests_file = write_requests(work_dir / f"workers-{load.key}.bin", load.requests)
    report = generator.drive(
        server.port, requests_file, connections=connections, duration=duration, warmup=warmup
    )
    return report


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    why = postgres_unreachable(args.pg_url)
    if why is not None:
        print(f"bench.workers: PostgreSQL at {args.pg_url} is unreachable ({why}); skipped")
        return None
    generator = choose_generator(args.generator, wrk_threads=2)
    load_at_start = os.getloadavg()
    readings: dict[int, dict[str, list[dict[str, Any]]]] = {n: {} for n in args.workers}
    memory: dict[int, list[float]] = {}
    with (
        throwaway_database("postgresql", pg_url=args.pg_url) as url,
        _work_dir() as work_dir,
    ):
        migrate(url)
        schools = [
            fixtures.seed_school(url, secret_key=SECRET_KEY, number=n, seed=7 + n)
            for n in range(args.schools)
        ]
        for round_number in range(args.rounds):
            order = args.workers if round_number % 2 == 0 else list(reversed(args.workers))
            for workers in order:
                extra_env = dict(item.split("=", 1) for item in args.server_env)
                with serve_workers(url, work_dir, workers, extra_env) as server:
                    for load in loads(schools, server.port):
                        report = measure(
                            generator,
                            server,
                            load,
                            work_dir,
                            connections=args.connections,
                            duration=args.duration,
                            warmup=args.warmup,
                        )
                        readings[workers].setdefault(load.key, []).append(report)
                        print(
                            f"bench.workers: --workers {workers}  {load.label:<32}"
                            f"{report['rps']:9.1f} req/s  p99 "
                            f"{report['latency_ms']['p99']:7.2f} ms  errors {report['errors']}",
                            flush=True,
                        )
                    memory[workers] = [_rss_mib(pid) for pid in server_processes(server, workers)]
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": generator.describe(),
        "connections": args.connections,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "cores": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "schools": args.schools,
        "server_env": args.server_env,
        "labels": {load.key: load.label for load in loads(schools, 0)},
        "readings": {
            str(workers): {
                key: {
                    "rps": sum(r["rps"] for r in reports) / len(reports),
                    "p99_ms": sum(r["latency_ms"]["p99"] for r in reports) / len(reports),
                    "errors": sum(sum(r["errors"].values()) for r in reports),
                }
                for key, reports in by_load.items()
            }
            for workers, by_load in readings.items()
        },
        "rss_mib_per_process": {str(n): values for n, values in memory.items()},
    }


@contextmanager
def _work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="concernlog-bench-workers-") as folder:
        yield Path(folder)


def table(result: dict[str, Any]) -> str:
    counts = list(result["readings"])
    first = result["readings"][counts[0]]
    header = f"{'endpoint (PostgreSQL)':<34}" + "".join(
        f"{f'{n} worker req/s':>18}{'p99 ms':>9}" for n in counts
    )
    ratios = counts[1:]
    header += "".join(f"{f'{n}÷{counts[0]}':>8}" for n in ratios)
    lines = [header, "-" * len(header)]
    for key, label in result["labels"].items():
        line = f"{label:<34}"
        for n in counts:
            reading = result["readings"][n][key]
            errors = f" ({reading['errors']} errors)" if reading["errors"] else ""
            line += f"{reading['rps']:>18.0f}{reading['p99_ms']:>9.1f}{errors}"
        for n in ratios:
            line += f"{result['readings'][n][key]['rps'] / first[key]['rps']:>8.2f}"
        lines.append(line)
    lines.append("")
    for n, values in result["rss_mib_per_process"].items():
        shown = ", ".join(f"{value:.0f}" for value in values)
        lines.append(f"RSS after the loads, --workers {n}: {shown} MiB per process")
    start, end = result["load_average_at_start"][0], result["load_average_at_end"][0]
    lines.append(
        f"load average (1 min) at start {start:.2f}, at end {end:.2f}; "
        f"{result['cores']} cores; load: {result['generator']}"
    )
    lines.append(
        f"{result['connections']} connections, {result['duration_s']} s per endpoint after "
        f"{result['warmup_s']} s warm-up, {result['rounds']} round(s), "
        f"{result['schools']} school(s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="concernlog serve --workers 1 against 2")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--schools",
        type=int,
        default=1,
        help="schools seeded, their requests in turn (each school has its own audit chain)",
    )
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    parser.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", 2)))
    parser.add_argument(
        "--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 16))
    )
    parser.add_argument("--quick", action="store_true", help="3 s per endpoint, 1 s warm-up")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default=os.environ.get("BENCH_GENERATOR", "auto"),
    )
    parser.add_argument(
        "--server-env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="settings for the servers, e.g. CONCERNLOG_DATABASE_CONCURRENCY=2",
    )
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3, 1
    result = run(args)
    if result is None:
        return 0
    rendered = table(result)
    print()
    print(rendered)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result | {"table": rendered.splitlines()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
