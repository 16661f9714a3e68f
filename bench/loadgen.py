"""A bounded HTTP/1.1 load generator, used when wrk is not installed.

Closed loop, like wrk: ``connections`` keep-alive connections, each sending its next
request as soon as the previous answer is complete, until ``duration`` seconds have
passed (or ``max_requests`` were sent). Requests are pre-rendered raw HTTP/1.1 messages
(see ``bench.requests``), cycled round-robin, so the generator does no per-request
formatting: an asyncio protocol per connection writes bytes and parses the status line,
the headers and a ``Content-Length`` (or chunked) body, nothing more.

Run it in its own process (``python -m bench.loadgen``) so that it never shares a GIL
with the orchestrator; it prints one JSON object. On a 2-core machine it still takes CPU
from the server under test: ``bench.run`` says which generator produced the numbers, and
the README gives its ceiling against the bare app.

    .venv/bin/python -m bench.loadgen --host 127.0.0.1 --port 8100 \\
        --requests-file /tmp/requests.bin --connections 16 --duration 10 --warmup 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.requests import read_requests


class ProtocolError(Exception):
    pass


def parse_response(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """The status and total length of the first complete response in ``buffer``, or None
    while it is incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
    status = int(parts[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    body_start = head_end + 4
    if status in (204, 304) or 100 <= status < 200:
        return status, body_start
    if not chunked:
        total = body_start + length
        return (status, total) if len(buffer) >= total else None
    position = body_start
    while True:
        size_end = buffer.find(b"\r\n", position)
        if size_end < 0:
            return None
        size = int(bytes(buffer[position:size_end]).split(b";")[0], 16)
        position = size_end + 2 + size + 2
        if len(buffer) < position:
            return None
        if size == 0:
            return status, position


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: only write() is used.
        self.transport: Any = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            parsed = parse_response(self.buffer)
        except (ProtocolError, ValueError) as exc:
            self.waiter.set_exception(exc)
            return
        if parsed is not None:
            status, length = parsed
            del self.buffer[:length]
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    async def exchange(self, request: bytes) -> int:
        assert self.transport is not None
        if self.lost is not None:
            raise self.lost
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


async def _worker(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    stop_at: float,
    measure_from: float,
    tally: Tally,
    budget: list[int],
) -> None:
    loop = asyncio.get_running_loop()
    connection: _Connection | None = None
    index = offset
    while budget[0] > 0:
        now = time.perf_counter()
        if now >= stop_at:
            return
        if connection is None or connection.lost is not None:
            _, connection = await loop.create_connection(_Connection, host, port)
        request = requests[index % len(requests)]
        index += 1
        budget[0] -= 1
        started = time.perf_counter()
        try:
            status = await connection.exchange(request)
        except (OSError, ProtocolError, ValueError):
            if started >= measure_from:
                tally.errors += 1
            connection = None
            continue
        finished = time.perf_counter()
        if started >= measure_from:
            tally.latencies.append(finished - started)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


async def run_load(
    *,
    host: str,
    port: int,
    requests: list[bytes],
    connections: int,
    duration: float,
    warmup: float,
    max_requests: int,
) -> dict[str, object]:
    """Drive the server for ``warmup + duration`` seconds; only requests started after the
    warm-up are counted. Returns the same shape as the wrk report (bench/wrk/replay.lua)."""
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    tally = Tally()
    budget = [max_requests]
    step = max(1, len(requests) // connections)
    await asyncio.gather(
        *(
            _worker(host, port, requests, i * step, stop_at, measure_from, tally, budget)
            for i in range(connections)
        )
    )
    elapsed = max(1e-9, min(time.perf_counter(), stop_at) - measure_from)
    ordered = sorted(tally.latencies)
    completed = len(ordered)
    non_2xx_3xx = sum(count for status, count in tally.statuses.items() if status >= 400)
    return {
        "requests": completed,
        "duration_s": elapsed,
        "rps": completed / elapsed,
        "latency_ms": {
            "p50": percentile(ordered, 0.50) * 1000,
            "p90": percentile(ordered, 0.90) * 1000,
            "p99": percentile(ordered, 0.99) * 1000,
            "max": (ordered[-1] * 1000) if ordered else float("nan"),
            "mean": (sum(ordered) / completed * 1000) if ordered else float("nan"),
        },
        "errors": {"socket": tally.errors, "status": non_2xx_3xx},
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Closed-loop HTTP/1.1 load, bounded in time")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests-file", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load generator only targets this machine (loopback)")
    load = run_load(
        host=args.host,
        port=args.port,
        requests=read_requests(args.requests_file),
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        max_requests=args.max_requests,
    )
    try:
        import uvloop  # comes with uvicorn[standard], as the server under test uses it

        result = uvloop.run(load)
    except ImportError:  # pragma: no cover
        result = asyncio.run(load)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
