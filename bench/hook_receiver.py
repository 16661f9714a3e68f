"""A webhook receiver on loopback for the benches: answers every POST ``204 No Content``
after reading its body, as a subscriber that accepts each event would, and keeps nothing.

    python -m bench.hook_receiver PORT
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Accepting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a bench's receiver writes no line per event."""


def main(argv: list[str] | None = None) -> int:
    (port,) = argv if argv is not None else sys.argv[1:]
    ThreadingHTTPServer(("127.0.0.1", int(port)), Accepting).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
