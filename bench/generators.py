"""The load generators ``bench.run`` drives a server with: wrk with ``bench/wrk/replay.lua``
when it is installed, else ``bench.loadgen`` (asyncio + uvloop) in a process of its own.
Both replay the same pre-rendered requests (``bench.requests``) and report the same
numbers: requests per second, latency percentiles, errors by kind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.servers import HOST, Server

REPLAY_LUA = Path(__file__).resolve().parent / "wrk" / "replay.lua"


class Generator:
    name = ""

    def drive(
        self, port: int, requests_file: Path, *, connections: int, duration: int, warmup: int
    ) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class Wrk(Generator):
    name = "wrk"

    def __init__(self, executable: str, threads: int) -> None:
        self.executable = executable
        self.threads = threads

    def describe(self) -> str:
        banner = subprocess.run(
            [self.executable, "--version"], capture_output=True, text=True, check=False
        )
        first = (banner.stdout or banner.stderr).splitlines()
        version = first[0].split(" [")[0].strip() if first else "wrk"
        return f"{version}, {self.threads} threads, bench/wrk/replay.lua"

    def _wrk(self, port: int, requests_file: Path, connections: int, seconds: int) -> str:
        command = [
            self.executable,
            f"-t{min(self.threads, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(REPLAY_LUA),
            f"http://{HOST}:{port}",
            "--",
            str(requests_file),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
        if result.returncode != 0:
            raise RuntimeError(f"wrk failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def drive(
        self, port: int, requests_file: Path, *, connections: int, duration: int, warmup: int
    ) -> dict[str, Any]:
        if warmup > 0:
            self._wrk(port, requests_file, connections, warmup)
        output = self._wrk(port, requests_file, connections, duration)
        for line in reversed(output.splitlines()):
            if line.startswith("{"):
                report: dict[str, Any] = json.loads(line)
                errors = report["errors"]
                report["errors"] = {
                    "socket": errors["connect"] + errors["read"] + errors["write"],
                    "timeout": errors["timeout"],
                    "status": errors["status"],
                }
                return report
        raise RuntimeError(f"wrk printed no report:\n{output}")


class PythonLoad(Generator):
    name = "python"

    def describe(self) -> str:
        return "bench.loadgen (asyncio + uvloop, raw HTTP/1.1 keep-alive, one process)"

    def drive(
        self, port: int, requests_file: Path, *, connections: int, duration: int, warmup: int
    ) -> dict[str, Any]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--port",
                str(port),
                "--requests-file",
                str(requests_file),
                "--connections",
                str(connections),
                "--duration",
                str(duration),
                "--warmup",
                str(warmup),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=duration + warmup + 60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"bench.loadgen failed:\n{result.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return report


def choose_generator(wanted: str, wrk_threads: int) -> Generator:
    executable = shutil.which("wrk")
    if wanted == "wrk" and executable is None:
        raise SystemExit("bench: --generator wrk, but wrk is not installed (apt-get install wrk)")
    if wanted in ("auto", "wrk") and executable is not None:
        return Wrk(executable, wrk_threads)
    return PythonLoad()


# --- profiling -------------------------------------------------------------------------------


def profile_during(
    server: Server,
    out_dir: Path,
    stem: str,
    seconds: int,
    drive: Callable[[], dict[str, Any]],
) -> list[Path]:
    """Drive the load again with py-spy sampling the server: once holding the GIL (where
    CPU goes) and once over all active threads (where wall time goes). Collapsed stacks,
    summarised by ``bench.profile_summary``. These runs are not counted in the table."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("bench: --profile needs py-spy (pip install py-spy into the venv)", file=sys.stderr)
        return []
    written = []
    for mode, extra in (("gil", ["--gil"]), ("wall", [])):
        output = out_dir / f"{stem}-{mode}.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(seconds),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(output),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            time.sleep(0.5)
            drive()
            spy.wait(timeout=seconds + 30)
        finally:
            if spy.poll() is None:
                os.killpg(spy.pid, signal.SIGKILL)
                spy.wait(timeout=10)
        if output.exists():
            written.append(output)
    return written
