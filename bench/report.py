"""What ``make bench`` prints and keeps: the ratios (to the bare baseline, and to the
anchors of issue 23, ``bench.anchors``), the table, and the results document every bench
writes to ``bench/results/`` (machine, load, versions)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import alerts, anchors

if TYPE_CHECKING:
    from bench.run import Run

RESULTS_DIR = Path(__file__).resolve().parent / "results"
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
RSS_TARGET_MIB = 150


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
    """Ratios to the mean of the bare readings taken before and after (every row, as
    information), then concernlog's to the anchors and issue 23's targets."""
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
    anchors.compare(run.rows)
    return {"bare_baseline_rps": baseline, "anchors_code_size": anchors.code_size()}


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def table(run: Run, baseline: dict[str, float]) -> str:
    header = (
        f"{'backend':<11}{'app':<11}{'endpoint':<36}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'÷bare sync':>11}{'÷bare async':>12}{'÷limit':>8}{'÷naive':>8}  {'target':<30}"
    )
    lines = [header, "-" * len(header)]

    def line(row: dict[str, Any]) -> str:
        failures = sum(row["errors"].values())
        note = f"  {failures} errors" if failures else ""
        if not row["requests"]:
            note += "  no request completed within the duration"
        return (
            f"{row['backend']:<11}{row.get('app', 'concernlog'):<11}{row['label']:<36}"
            f"{row['rps']:>8.0f}{row['latency_ms']['p50']:>9.2f}{row['latency_ms']['p99']:>9.2f}"
            f"{_ratio(row.get('ratio_to_bare_sync')):>11}"
            f"{_ratio(row.get('ratio_to_bare_async')):>12}"
            f"{_ratio(row.get('ratio_to_limit')):>8}{_ratio(row.get('ratio_to_naive')):>8}"
            f"  {anchors.describe_target(row):<30}{note}"
        ).rstrip()

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
    sizes = anchors.code_size()
    lines.append(
        "anchors: "
        + ", ".join(
            f"{name} {size['lines']} lines ({size['code_lines']} of code)"
            for name, size in sizes.items()
        )
    )
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
