"""The house's floors, checked from the source: imports only point down, and every module
stays small enough to hold in one's head.

Floors, from the ground up (README, "Layout"); a module imports only from its own floor or
below. The walk reads every import statement in the source, wherever it is (inside a
function or under ``TYPE_CHECKING`` too): an import against the grain is a dependency
whether or not it runs at import time.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

ROOT = Path(__file__).resolve().parent.parent

# The HTTP shell is two floors around the routers: its parts (dependencies, error mapping,
# answers, middleware, OpenAPI shaping) under them, and the wiring that mounts them (the
# app factory, the CLI that serves it) over them.
FLOORS = ("core", "db", "models", "services", "api", "routers", "api.main")
WIRING = ("api.main", "api.cli")
# Data, not code: any floor may read it, and it imports nothing of ours.
GROUND = ("guidance",)
APPLICATION = ("core", "db", "models", "services", "routers", "api", *GROUND)

# Third-party packages that belong to one place only.
WEB_FRAMEWORKS = ("fastapi", "starlette")
ONLY_IN = {
    "jose": {"core/tokens.py", "core/bundles.py"},
    "pwdlib": {"core/passwords.py"},
    # core/sealing.py: attachments sealed at rest in authenticated chunks (ADR 0105);
    # core/bundles.py: transfer bundles' ES256 keys (docs/adr/0085).
    "cryptography": {"core/signing.py", "core/sealing.py", "core/bundles.py"},
}

MAX_MODULE_LINES = 500


def _modules() -> Iterator[Path]:
    for package in APPLICATION:
        yield from sorted((ROOT / package).rglob("*.py"))


def _imported(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """Each absolute module name ``path`` (under ``root``) imports, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            yield node.lineno, name


def _floor(module: str) -> int | None:
    """The floor of a module (``services.audit``), or None for one not ours."""
    top = module.split(".")[0]
    if top in GROUND:
        return -1
    if any(module == wiring or module.startswith(wiring + ".") for wiring in WIRING):
        return FLOORS.index("api.main")
    return FLOORS.index(top) if top in FLOORS else None


def _arrows_against_the_grain() -> list[str]:
    found = []
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        own = _floor(".".join(path.relative_to(ROOT).with_suffix("").parts))
        assert own is not None
        for line, name in _imported(path):
            top = name.split(".")[0]
            floor = _floor(name)
            if floor is not None and floor > own:
                found.append(f"{relative}:{line} imports {name} (a higher floor)")
            if top in WEB_FRAMEWORKS and own < FLOORS.index("api"):
                found.append(f"{relative}:{line} imports {name} (the web framework, below HTTP)")
            allowed = ONLY_IN.get(top)
            if allowed is not None and relative not in allowed:
                found.append(f"{relative}:{line} imports {name} (only {sorted(allowed)} may)")
    return found


def test_imports_only_point_down() -> None:
    assert _arrows_against_the_grain() == []


def test_the_walk_sees_an_arrow_against_the_grain(tmp_path: Path) -> None:
    """The check itself can fail: an upward import, one in a function and a relative one."""
    module = tmp_path / "services" / "example.py"
    module.parent.mkdir()
    module.write_text(
        "from api.deps import UnitOfWork\n"
        "def later():\n    import routers.cases\n"
        "from ..api import main\n"
        "from fastapi import Request\n",
        encoding="utf-8",
    )
    names = [name for _, name in _imported(module, tmp_path)]
    assert sorted(names) == ["api", "api.deps", "fastapi", "routers.cases"]
    floors = [_floor(name) for name in names]
    assert all(floor is None or floor > FLOORS.index("services") for floor in floors)


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it by responsibility"
    )


def test_every_handler_is_async(public_app: FastAPI) -> None:
    """One handler mode: every route is ``async def`` and does its database work in one
    ``UnitOfWork.run`` (admitted for that hop only). A sync handler would use the unit of
    work in a worker thread without being admitted."""
    sync = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in public_app.routes
        if isinstance(route, APIRoute) and not inspect.iscoroutinefunction(route.endpoint)
    ]
    assert sync == []
