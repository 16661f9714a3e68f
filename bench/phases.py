"""Where one request's time goes, in process: before its unit of work, the unit, after it.

    .venv/bin/python -m bench.phases                       # SQLite, read/create/list
    .venv/bin/python -m bench.phases --backend postgresql  # a throwaway database
    .venv/bin/python -m bench.phases --requests 2000 --endpoints read

Calls the ASGI application directly (no socket, no HTTP parsing), one request at a time,
on the school ``bench.fixtures`` seeds, and times each hot request in three parts: from
the call to the start of its unit of work (middleware, routing, dependencies, token,
validation), the unit of work (``db.unit_of_work.UnitOfWork.run``: admission, the service's
statements and the commit, in a worker thread or, for SQLite's statements, on the event
loop), and from its end to the last byte (JSON, middleware on the way out). Prints the
medians. The unit of work is timed by wrapping ``UnitOfWork.run`` on its class for the
run: instrumentation for this tool only. Also prints the process's CPU time per
request (event loop and worker threads together): under load the server is CPU-bound,
so this, more than any wall time, is what throughput is the inverse of.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from api.cli import run_migrations
from bench import fixtures
from bench.servers import (
    DEFAULT_PG_URL,
    FILES_KEY,
    SECRET_KEY,
    TRANSFER_KEY,
    throwaway_database,
)
from db.unit_of_work import UnitOfWork

ENDPOINTS = ("read", "create", "list")
WARM_UP = 30


class Timings:
    def __init__(self) -> None:
        self.work_started = 0.0
        self.work_ended = 0.0
        self.before: list[float] = []
        self.work: list[float] = []
        self.after: list[float] = []
        # CPU seconds of the whole process (event loop and worker threads) per request.
        self.cpu_per_request = 0.0

    def wrap(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            self.work_started = time.perf_counter()
            try:
                return await run(*args, **kwargs)
            finally:
                self.work_ended = time.perf_counter()

        return timed


def _request(
    endpoint: str, school: fixtures.BenchSchool, n: int
) -> tuple[str, str, bytes, str, bytes]:
    if endpoint == "read":
        concern_id = school.concern_ids[n % len(school.concern_ids)]
        return "GET", f"/api/v1/concerns/{concern_id}", b"", school.staff_token, b""
    if endpoint == "list":
        return "GET", "/api/v1/concerns", b"limit=50", school.dsl_token, b""
    body = {
        "pupil_ids": [str(school.pupil_ids[n % len(school.pupil_ids)])],
        "guidance_key": fixtures.GUIDANCE_KEY,
        "indicators": school.indicator_ids[:2],
        "description": "A fictional account of what was seen at the gate this morning.",
        "observed_at": "2026-01-05T08:30:00Z",
        "immediate_danger": False,
        "police_contacted": False,
    }
    return "POST", "/api/v1/concerns", b"", school.staff_token, json.dumps(body).encode()


async def _call(app: Any, request: tuple[str, str, bytes, str, bytes]) -> int:
    method, path, query, token, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure(app: Any, school: fixtures.BenchSchool, endpoint: str, count: int) -> Timings:
    timings = Timings()
    UnitOfWork.run = timings.wrap(_RUN)  # type: ignore[method-assign, assignment]
    try:
        cpu_started = 0.0
        for n in range(WARM_UP + count):
            if n == WARM_UP:
                cpu_started = time.process_time()
            started = time.perf_counter()
            status = await _call(app, _request(endpoint, school, n))
            ended = time.perf_counter()
            if status not in (200, 201):
                raise RuntimeError(f"{endpoint} answered {status}")
            if n >= WARM_UP:
                timings.before.append(timings.work_started - started)
                timings.work.append(timings.work_ended - timings.work_started)
                timings.after.append(ended - timings.work_ended)
        timings.cpu_per_request = (time.process_time() - cpu_started) / count
    finally:
        UnitOfWork.run = _RUN  # type: ignore[method-assign]
    return timings


_RUN = UnitOfWork.run


async def _run(url: str, endpoints: list[str], count: int) -> list[tuple[str, Timings]]:
    os.environ.update(
        CONCERNLOG_DATABASE_URL=url,
        CONCERNLOG_SECRET_KEY=SECRET_KEY,
        CONCERNLOG_ENV="production",
        CONCERNLOG_FILES_KEY=FILES_KEY,
        CONCERNLOG_TRANSFER_SIGNING_KEY=TRANSFER_KEY,
        CONCERNLOG_LOG_LEVEL="WARNING",
    )
    from api.main import app_factory

    run_migrations(url)
    school = fixtures.seed_school(url, secret_key=SECRET_KEY)
    # Built as ``concernlog serve`` builds it, the process's tuning (GIL switch interval,
    # malloc, garbage collector) included.
    app = app_factory()
    results = []
    async with app.router.lifespan_context(app):
        for endpoint in endpoints:
            results.append((endpoint, await _measure(app, school, endpoint, count)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    args = parser.parse_args(argv)
    endpoints = [e for e in args.endpoints.split(",") if e]
    if unknown := set(endpoints) - set(ENDPOINTS):
        parser.error(f"unknown endpoint(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="concernlog-phases-") as folder:
        if args.backend == "sqlite":
            results = asyncio.run(
                _run(f"sqlite:///{Path(folder) / 'phases.db'}", endpoints, args.requests)
            )
        else:
            with throwaway_database("postgresql", pg_url=args.pg_url) as url:
                results = asyncio.run(_run(url, endpoints, args.requests))
    print(f"{args.backend}, {args.requests} sequential requests each, medians in ms;")
    print("CPU: the process's CPU time per request, all threads, mean")
    print(f"{'endpoint':<10}{'before':>9}{'unit of work':>14}{'after':>9}{'total':>9}{'CPU':>9}")
    for endpoint, t in results:
        parts = [statistics.median(x) * 1000 for x in (t.before, t.work, t.after)]
        print(
            f"{endpoint:<10}{parts[0]:>9.3f}{parts[1]:>14.3f}{parts[2]:>9.3f}{sum(parts):>9.3f}"
            f"{t.cpu_per_request * 1000:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
