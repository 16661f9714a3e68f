"""The webhook poster (``core.http_post``) against real sockets on loopback: a kept
connection is reused, one the receiver closed between posts is replaced and the post sent
again, a receiver that never answers times out, and a long answer is not kept reading."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


@contextmanager
def _raw_server(answer: bytes, *, close: bool = False) -> Iterator[tuple[str, list[bytes]]]:
    """A receiver on a bare socket: reads one request head and its body, writes ``answer``
    as given (then closes, if ``close``), for as many requests as come."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def serve(connection: socket.socket) -> None:
        with connection:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(buffered) < length:
                    buffered += connection.recv(65536)
                requests.append(head + b"\r\n\r\n" + buffered[:length])
                buffered = buffered[length:]
                connection.sendall(answer)
                if close:
                    return

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/in", requests
    finally:
        listener.close()


def test_the_request_is_well_formed_and_carries_the_headers_given() -> None:
    poster = Poster(timeout_seconds=3)
    with _raw_server(b"HTTP/1.1 204 No Content\r\n\r\n") as (url, requests):
        headers = {"content-type": "application/json", "webhook-id": "msg_1"}
        assert poster.post(url + "?a=1", b'{"x":1}', headers) == 204
    (request,) = requests
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /in?a=1 HTTP/1.1"
    port = url.split(":")[2].split("/")[0]
    assert sorted(lines[1:]) == sorted(
        [
            b"content-type: application/json",
            b"webhook-id: msg_1",
            f"Host: 127.0.0.1:{port}".encode(),
            b"Content-Length: 7",
        ]
    )
    assert body == b'{"x":1}'
    poster.close()


def test_a_redirect_is_answered_as_it_is_and_not_followed() -> None:
    poster = Poster(timeout_seconds=3)
    answer = (
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n"
    )
    with _raw_server(answer) as (url, requests):
        assert poster.post(url, b"a", {}) == 302
    assert len(requests) == 1
    poster.close()


def test_interim_chunked_and_read_to_close_answers() -> None:
    poster = Poster(timeout_seconds=3)
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with _raw_server(interim) as (url, requests):
        assert poster.post(url, b"a", {}) == 200
        assert poster.post(url, b"b", {}) == 200  # the same connection, kept
    chunked = b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    with _raw_server(chunked) as (url, requests):
        assert poster.post(url, b"a", {}) == 202
    to_close = b"HTTP/1.0 200 OK\r\n\r\nthe body ends when the connection does"
    with _raw_server(to_close, close=True) as (url, requests):
        assert poster.post(url, b"a", {}) == 200
        assert poster.post(url, b"b", {}) == 200  # a new connection: the last one ended
    assert len(requests) == 2
    poster.close()


def test_a_connection_close_answer_is_not_reused() -> None:
    poster = Poster(timeout_seconds=3)
    answer = b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    with _raw_server(answer, close=True) as (url, requests):
        assert poster.post(url, b"a", {}) == 500
        assert poster.post(url, b"b", {}) == 500
    assert [r.rsplit(b"\r\n", 1)[-1] for r in requests] == [b"a", b"b"]
    poster.close()


def test_an_answer_that_is_not_http_or_breaks_off_is_unreachable() -> None:
    poster = Poster(timeout_seconds=3)
    with _raw_server(b"SMTP ready\r\n\r\n", close=True) as (url, _):
        with pytest.raises(PostError) as caught:
            poster.post(url, b"a", {})
    assert caught.value.reason.startswith("unreachable")
    with _raw_server(b"HTTP/1.1 200 OK\r\nContent-Le", close=True) as (url, _):
        with pytest.raises(PostError) as caught:
            poster.post(url, b"a", {})
    assert caught.value.reason.startswith("unreachable")
    poster.close()


def test_a_receiver_that_dribbles_its_answer_times_out_in_all() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def dribble() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(0.1):  # a byte every tenth of a second: never done
                try:
                    connection.sendall(b"x")
                except OSError:
                    return

    threading.Thread(target=dribble, daemon=True).start()
    poster = Poster(timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(PostError) as caught:
        poster.post(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"x", {})
    assert caught.value.timed_out
    assert time.monotonic() - started < 3
    stop.set()
    listener.close()
    poster.close()


def test_line_breaks_in_a_header_or_the_path_are_refused() -> None:
    poster = Poster(timeout_seconds=1)
    with pytest.raises(PostError):
        poster.post("http://127.0.0.1:9/", b"x", {"x-evil": "a\r\nHost: elsewhere"})
    with pytest.raises(PostError):
        poster.post("http://127.0.0.1:9/a b", b"x", {})


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_certificates_and_host_names_are_verified(tmp_path: Path) -> None:
    """A receiver whose certificate the system does not trust is unreachable; trusted,
    with the right name, the post goes through over TLS."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        untrusting = Poster(timeout_seconds=3)
        with pytest.raises(PostError) as caught:
            untrusting.post(f"https://localhost:{port}/in", b"x", {})
        assert "SSLCertVerificationError" in caught.value.reason
        trusting = Poster(timeout_seconds=3)
        trusting._tls = ssl.create_default_context(cafile=str(cert))
        assert trusting.post(f"https://localhost:{port}/in", b"x", {}) == 204
        assert trusting.post(f"https://localhost:{port}/in", b"y", {}) == 204
        with pytest.raises(PostError) as caught:  # the certificate names localhost only
            trusting.post(f"https://127.0.0.1:{port}/in", b"x", {})
        assert "SSLCertVerificationError" in caught.value.reason
        trusting.close()
    finally:
        server.shutdown()
        server.server_close()
