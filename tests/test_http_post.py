"""The webhook poster (``core.http_post``) against real sockets on loopback: a kept
connection is reused, one the receiver closed between posts is replaced and the post sent
again, a receiver that never answers times out, and a long answer is not kept reading."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.http_post import BODY_LIMIT, Poster, PostError


class _Seen:
    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self.bodies: list[bytes] = []


@contextmanager
def _keep_alive_server(
    *, answer_bytes: int = 0, close_after: bool = False
) -> Iterator[tuple[str, _Seen]]:
    seen = _Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            seen.peers.append(self.client_address[:2])
            seen.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(201)
            self.send_header("Content-Length", str(answer_bytes))
            self.end_headers()
            self.wfile.write(b"x" * answer_bytes)
            if close_after:  # closed without saying so: the next post finds it gone
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks?school=1", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_kept_connection_is_reused() -> None:
    poster = Poster(timeout_seconds=3)
    with _keep_alive_server() as (url, seen):
        assert [poster.post(url, f"{n}".encode(), {}) for n in range(3)] == [201, 201, 201]
    assert seen.bodies == [b"0", b"1", b"2"]
    assert len(set(seen.peers)) == 1  # one connection, three posts
    poster.close()


def test_a_connection_closed_between_posts_is_replaced_and_the_post_sent() -> None:
    poster = Poster(timeout_seconds=3)
    with _keep_alive_server(close_after=True) as (url, seen):
        assert poster.post(url, b"first", {}) == 201
        time.sleep(0.2)  # the receiver has closed its end by now
        assert poster.post(url, b"second", {}) == 201
    assert seen.bodies == [b"first", b"second"]
    assert len(set(seen.peers)) == 2
    poster.close()


def test_a_long_answer_is_not_read_to_its_end() -> None:
    poster = Poster(timeout_seconds=3)
    with _keep_alive_server(answer_bytes=BODY_LIMIT * 2) as (url, seen):
        assert poster.post(url, b"a", {}) == 201
        assert poster.post(url, b"b", {}) == 201
    assert len(set(seen.peers)) == 2  # the first connection was dropped, not drained
    poster.close()


def test_a_receiver_that_never_answers_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    poster = Poster(timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(PostError) as caught:
        poster.post(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"x", {})
    assert caught.value.timed_out and caught.value.reason == "timed out"
    assert time.monotonic() - started < 3
    for connection in accepted:
        connection.close()
    listener.close()


def test_nothing_listening_is_unreachable_and_a_bad_url_is_refused() -> None:
    poster = Poster(timeout_seconds=1)
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    with pytest.raises(PostError) as caught:
        poster.post(f"http://127.0.0.1:{port}/", b"x", {})
    assert caught.value.reason.startswith("unreachable") and not caught.value.timed_out
    with pytest.raises(PostError):
        poster.post("ftp://127.0.0.1/", b"x", {})
