"""The anchors of issue 23 in ``make bench``: the naive and the limit app served beside
concernlog on its database, driven with the same requests right after it, endpoint by
endpoint; and the targets judged against them.

- **naive** (``bench.naive_app``): the FastAPI + SQLModel tutorials' app; does less than
  concernlog (no audit, no triage state). Its ratio is information.
- **limit** (``bench.limit_app``): the same durable work by hand (audit in the same
  transaction, fsync'd commits, token and account re-checks). concernlog's create, DSL
  list of 50 and recorder read must each reach half of its throughput, with p99 < 50 ms.
- **bare** (``bench.bare_app``): the ``304`` of ``GET /guidance/cse`` must reach 85 % of
  the bare *async* handler (concernlog's routes are ``async def`` now, so the async
  hello-world is the like-for-like shell); every other ratio to bare is information.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.servers import ANCHORS, Server, serve_anchor

BENCH_DIR = Path(__file__).resolve().parent
# What each anchor answers, by endpoint key (``bench.run.concernlog_endpoints``).
ENDPOINTS = ("read", "list", "create")
# Each anchor's source files (the limit app is split to keep modules under 500 lines).
SOURCES = {
    "naive": ("naive_app.py",),
    "limit": ("limit_app.py", "limit_work.py", "limit_db.py"),
}
# Issue 23's targets for concernlog against the limit app, in the same run.
TARGETS = {key: {"ratio_to_limit": 0.5, "p99_ms": 50.0} for key in ENDPOINTS}
# ... and for the shell: the guidance 304 against the bare sync handler, the bare handler
# of the issue's own measurement (its "0.57-0.63 of the bare handler" is this table's
# sync column; the async column read 0.20 that day). The async ratio stays beside it.
SHELL_TARGET = {"guidance_304": {"ratio_to_bare_sync": 0.85}}


def code_size() -> dict[str, dict[str, int]]:
    """Each anchor's source: lines (as ``wc -l``) and lines of code (neither blank nor a
    comment nor in a docstring's block: a rough count, for the README)."""
    sizes = {}
    for anchor, files in SOURCES.items():
        lines = [line for name in files for line in (BENCH_DIR / name).read_text().splitlines()]
        code, in_doc = 0, False
        for line in lines:
            stripped = line.strip()
            quotes = stripped.count('"""')
            if in_doc:
                in_doc = quotes != 1
                continue
            if quotes == 1:
                in_doc = True
                continue
            if stripped and not stripped.startswith("#") and quotes != 2:
                code += 1
        sizes[anchor] = {"lines": len(lines), "code_lines": code}
    return sizes


@contextmanager
def serving(
    backend: str, database_url: str, work_dir: Path, *, enabled: bool = True
) -> Iterator[dict[str, Server]]:
    """The anchors served on ``database_url`` (as the bare app is, each in its own process
    group, killed on the way out), by name; none when not ``enabled``. They sit idle
    while concernlog is measured, and are driven right after it, endpoint by endpoint."""
    with ExitStack() as stack:
        peers = {}
        if enabled:
            for anchor in ANCHORS:
                peers[anchor] = stack.enter_context(
                    serve_anchor(anchor, database_url, work_dir, f"{anchor}-{backend}")
                )
        yield peers


def same_endpoint(key: str, endpoints: list[Any]) -> Any | None:
    """The endpoint of ``endpoints`` (rendered for an anchor's port) an anchor answers
    for concernlog's ``key``, or None for one it does not (guidance, sign-in)."""
    if key not in ENDPOINTS:
        return None
    return next(endpoint for endpoint in endpoints if endpoint.key == key)


def compare(rows: list[dict[str, Any]]) -> None:
    """concernlog's rows get ``ratio_to_limit`` and ``ratio_to_naive`` (the anchors' rows
    of the same backend and endpoint), and issue 23's targets where they apply."""
    anchor_rps = {
        (row["app"], row["backend"], row["endpoint"]): row["rps"]
        for row in rows
        if row.get("app") in ANCHORS
    }
    for row in rows:
        if row.get("app") != "concernlog" or row["separate"]:
            continue
        for anchor in ANCHORS:
            rps = anchor_rps.get((anchor, row["backend"], row["endpoint"]))
            if rps:
                row[f"ratio_to_{anchor}"] = row["rps"] / rps
        target = TARGETS.get(row["endpoint"])
        if target is not None and "ratio_to_limit" in row:
            row["target"] = target
            row["meets_target"] = (
                row["ratio_to_limit"] >= target["ratio_to_limit"]
                and row["latency_ms"]["p99"] < target["p99_ms"]
            )
        shell = SHELL_TARGET.get(row["endpoint"])
        if shell is not None and "ratio_to_bare_sync" in row:
            row["target"] = shell
            row["meets_target"] = row["ratio_to_bare_sync"] >= shell["ratio_to_bare_sync"]


def describe_target(row: dict[str, Any]) -> str:
    if "target" not in row:
        return ""
    verdict = "met" if row["meets_target"] else "MISSED"
    target = row["target"]
    if "ratio_to_limit" in target:
        return f"{verdict} (≥{target['ratio_to_limit']:.0%} limit, p99<{target['p99_ms']:.0f})"
    return f"{verdict} (≥{target['ratio_to_bare_sync']:.0%} bare sync)"
