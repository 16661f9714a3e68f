"""Where the time goes, from py-spy's collapsed stacks (``py-spy record --format raw``).

    .venv/bin/python -m bench.profile_summary bench/results/profiles/<stem>-gil.txt

Prints the share of samples whose stack passes through each layer (validation, ORM,
driver, audit append, commit, JSON encoding, ...: a sample can count in several, the
layers nest), then the functions with the most samples of their own.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# (label, pattern on a frame "function (file:line)"): first match per frame wins.
LAYERS: tuple[tuple[str, str], ...] = (
    ("audit.record_many (hash chain append)", r"^record_many \(services/audit/recording\.py"),
    ("audit hash (canonical JSON + sha256)", r"^hash_of \(services/audit/chain\.py"),
    ("commit (finish)", r"^finish \(db/unit_of_work\.py"),
    ("authenticate (token, on the event loop)", r"^authenticate \(api/deps\.py"),
    ("  decode_access_token (python-jose)", r"^decode_access_token \(core/tokens\.py"),
    ("account re-read (first statement of the transaction)", r"^_check \(services/identity\.py"),
    ("the unit of work (service + commit)", r"^(run|_run_and_finish) \(db/unit_of_work\.py"),
    ("service: create_concern", r"^create_concern \(services/concerns/commands\.py"),
    ("service: list_concerns", r"^list_concerns \(services/concerns/listing\.py"),
    ("service: get_concern", r"^get_concern \(services/concerns/reading\.py"),
    ("  shape_rows (4 queries + shaping)", r"^shape_rows \(services/concerns/shaping\.py"),
    ("session.flush (unit of work)", r"^flush \(.*sqlalchemy/orm/session\.py"),
    (
        "session.execute/exec (SQLAlchemy)",
        r"^(execute|exec) \(.*(sqlalchemy/orm/session|sqlmodel/orm/session)\.py",
    ),
    (
        "statement compile (SQLAlchemy)",
        r"^(compile|_compiler|process) \(.*sqlalchemy/sql/compiler\.py",
    ),
    (
        "driver: sqlite3 / psycopg",
        r"(sqlite3|psycopg/cursor|psycopg/connection|psycopg/_cursor_base)",
    ),
    (
        "request validation (FastAPI/pydantic)",
        r"^(solve_dependencies|request_params_to_args|_validate_value_with_model_field"
        r"|validate|_validate_body_params) ",
    ),
    ("response serialisation (serialize_response)", r"^serialize_response \("),
    ("JSON encoding (jsonable_encoder/render)", r"^(jsonable_encoder|render|dumps) \("),
    (
        "threadpool hop (anyio to_thread)",
        r"^(run_sync|run_sync_in_worker_thread|run_in_threadpool) ",
    ),
    ("middleware: request context + access log", r"^__call__ \(api/middleware\.py"),
    (
        "  access log line (logging + JSON)",
        r"^(info|_log|handle|emit|format) \(.*(logging/__init__|api/logs)\.py",
    ),
    ("middleware: metrics", r"^__call__ \(api/metrics\.py"),
    ("  metrics observe (prometheus)", r"^observe \(api/metrics\.py"),
    ("uvicorn/httptools protocol", r"uvicorn/protocols/http"),
)


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        stacks.append((frames, int(count)))
    return stacks


def summarise(path: Path, top: int = 25) -> str:
    stacks = load(path)
    total = sum(count for _, count in stacks)
    if not total:
        return f"{path}: no samples"
    compiled = [(label, re.compile(pattern)) for label, pattern in LAYERS]
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        seen = set()
        for frame in frames:
            for label, pattern in compiled:
                if label not in seen and pattern.search(frame):
                    seen.add(label)
        for label in seen:
            inclusive[label] += count
        if frames:
            own[re.sub(r":\d+\)$", ")", frames[-1])] += count
    lines = [f"{path.name}: {total} samples"]
    lines.append("layers (inclusive share of samples):")
    for label, _ in LAYERS:
        if inclusive[label]:
            lines.append(f"  {inclusive[label] / total:6.1%}  {label}")
    lines.append(f"top {top} functions by own samples:")
    for frame, count in own.most_common(top):
        lines.append(f"  {count / total:6.1%}  {frame}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    for path in args.profiles:
        print(summarise(path, args.top))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
