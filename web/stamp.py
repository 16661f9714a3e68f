"""The web client's build stamp: which sources the committed build was made from.

``make web`` runs ``python web/stamp.py write`` after building; the stamp
(``api/client_files/build-stamp.json``) holds the SHA-256 of the client's sources (``src/``
without the generated types, ``index.html``, the npm manifests, the build configuration and
the OpenAPI document the types are generated from) and of the built files.
``tests/test_web_client.py`` recomputes both (``check``), so CI fails on a build that is
stale against its sources, or edited by hand, without needing Node.js.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
BUILT = ROOT / "api" / "client_files"
STAMP = BUILT / "build-stamp.json"
SOURCE_FILES = (
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
    "openapi.json",
)


def sources() -> list[Path]:
    found = [WEB / name for name in SOURCE_FILES]
    found += [
        path
        for path in (WEB / "src").rglob("*")
        if path.is_file() and "generated" not in path.relative_to(WEB / "src").parts
    ]
    return sorted(found)


def built() -> list[Path]:
    return sorted(path for path in BUILT.rglob("*") if path.is_file() and path != STAMP)


def digest(paths: Iterable[Path]) -> str:
    """SHA-256 over each file's path (relative to the project) and content. Line endings
    are taken as they are on disk: the repository keeps these files with LF."""
    total = hashlib.sha256()
    for path in paths:
        total.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        total.update(hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()


def current() -> dict[str, str]:
    return {"sources": digest(sources()), "built": digest(built())}


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "write":
        STAMP.write_text(json.dumps(current(), indent=2) + "\n", encoding="utf-8")
        return 0
    if command == "check":
        kept = json.loads(STAMP.read_text(encoding="utf-8")) if STAMP.is_file() else {}
        if kept != current():
            print("the web client's build is stale: run `make web`", file=sys.stderr)
            return 1
        return 0
    print("usage: stamp.py write|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
