"""Pre-rendered HTTP/1.1 requests: one file that both load generators replay.

The file holds raw request messages separated by a NUL byte (which no request here
contains). ``bench/wrk/replay.lua`` returns them from wrk's ``request()`` hook; the Python
generator writes them to its sockets. Rendering once, before the load, keeps formatting
out of the measured loop and guarantees both generators send identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

SEPARATOR = b"\0"


def render(
    method: str,
    path: str,
    *,
    host: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return message + (body or b"")


def render_json(
    method: str, path: str, payload: Any, *, host: str, headers: Mapping[str, str] | None = None
) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return render(
        method,
        path,
        host=host,
        headers={**(headers or {}), "Content-Type": "application/json"},
        body=body,
    )


def render_form(
    path: str, fields: Mapping[str, str], *, host: str, headers: Mapping[str, str] | None = None
) -> bytes:
    body = urlencode(fields).encode("ascii")
    return render(
        "POST",
        path,
        host=host,
        headers={**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"},
        body=body,
    )


def write_requests(path: Path, requests: Iterable[bytes]) -> Path:
    messages = list(requests)
    if not messages:
        raise ValueError("no requests to write")
    if any(SEPARATOR in message for message in messages):
        raise ValueError("a request contains the separator byte")
    path.write_bytes(SEPARATOR.join(messages))
    return path


def read_requests(path: Path) -> list[bytes]:
    return [message for message in path.read_bytes().split(SEPARATOR) if message]
