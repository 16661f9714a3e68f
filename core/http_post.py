"""Posting to a URL over HTTP/1.1, keeping each host's connection open between posts: the
outbound side of webhooks.

A request written by hand on a socket and its answer parsed by ``httptools`` (llhttp, the
C parser uvicorn serves with), not an HTTP client library: a webhook post is the delivery
worker's hot path, and ``httpx`` spends about six times the CPU of ``http.client`` on the
same post, ``http.client`` itself most of its time in ``email.parser`` reading the answer's
headers, which a webhook does not look at (ADR 0068). What a library would add beyond this
module is what webhooks must not do anyway: this never follows a redirect (a 3xx is
returned as it is), never reads a proxy from the environment, and verifies TLS
certificates and host names with the default context. Each post has ``timeout_seconds``
in all, from its first byte sent to its answer read (a receiver that dribbles its answer
cannot hold the worker either).

A connection is reused while the receiver keeps it open; a post on a reused connection
that finds it closed (the receiver timed it out between posts) is sent once more on a
fresh one. A post can therefore reach a receiver twice, which webhook deliveries allow
(at least once, the same ``webhook-id``).
"""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import urlsplit

import httptools

# A receiver's answer is read up to this much, then the connection is dropped rather than
# kept reading: the status is all a delivery needs.
BODY_LIMIT = 64 * 1024
_CHUNK = 16 * 1024
ROUTES_KEPT = 1024
# What may not appear in a request's target or a header: it would end the line early.
_UNSAFE = frozenset("\r\n\0 \t")
_BREAKS = frozenset("\r\n\0")


class PostError(Exception):
    """Nothing was answered: ``timed_out``, or the host could not be reached or broke off.
    ``reason`` is short and names no URL."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class _Stale(Exception):
    """A reused connection was found closed before any of the answer came back."""


class _Answer:
    """Reads one response with ``httptools``: its status once its head has come, how much
    of its body came, whether it came whole. An interim answer (``100 Continue``) is
    passed over: the final one follows it on the same connection."""

    __slots__ = ("complete", "keep_alive", "parser", "received", "status")

    def __init__(self) -> None:
        self.complete = False
        self.keep_alive = False
        self.received = 0
        self.status = 0
        self.parser = httptools.HttpResponseParser(self)

    def next(self) -> _Answer:
        """Ready for the connection's next answer: the parser, which starts afresh after
        a whole message, is kept."""
        self.complete = False
        self.keep_alive = False
        self.received = 0
        self.status = 0
        return self

    def on_headers_complete(self) -> None:
        status = int(self.parser.get_status_code())
        self.status = status if status >= 200 else 0

    def on_body(self, body: bytes) -> None:
        self.received += len(body)

    def on_message_complete(self) -> None:
        if self.status:
            self.complete = True
            # Asked now: the parser forgets the message's headers once it returns.
            self.keep_alive = self.parser.should_keep_alive()


class _Connection:
    """An open connection; its answers are read by one parser, reused while it is kept
    (each ends a whole message, or the connection is dropped)."""

    __slots__ = ("answer", "host_header", "sock")

    def __init__(self, sock: socket.socket, host_header: bytes) -> None:
        self.sock = sock
        self.host_header = host_header
        self.answer = _Answer()


class Poster:
    """Posts bodies to URLs; one open connection per scheme, host and port. Not for
    sharing between threads (one worker, one poster)."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._tls: ssl.SSLContext | None = None  # the system's certificates, loaded when needed
        self._open: dict[tuple[str, str, int], _Connection] = {}
        # Each URL's connection key and request target, worked out once (a worker posts to
        # the same few URLs again and again).
        self._routes: dict[str, tuple[tuple[str, str, int], str]] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``url``; the status code of the answer (a 3xx is returned as
        it is, not followed). ``PostError`` if no answer came within the timeout."""
        route = self._routes.get(url)
        if route is None:
            route = _route(url)
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()
            self._routes[url] = route
        key, target = route
        head = _head(target, headers)
        reused = key in self._open
        try:
            return self._exchange(key, head, body)
        except _Stale:
            if not reused:
                raise PostError("the connection was closed before an answer") from None
        except TimeoutError:
            self._drop(key)
            raise PostError("timed out", timed_out=True) from None
        except (OSError, httptools.HttpParserError) as error:
            self._drop(key)
            raise PostError(f"unreachable ({type(error).__name__})") from None
        try:  # once more, on a fresh connection
            return self._exchange(key, head, body)
        except _Stale:
            raise PostError("the connection was closed before an answer") from None
        except TimeoutError:
            self._drop(key)
            raise PostError("timed out", timed_out=True) from None
        except (OSError, httptools.HttpParserError) as error:
            self._drop(key)
            raise PostError(f"unreachable ({type(error).__name__})") from None

    def _connect(self, key: tuple[str, str, int], timeout: float) -> _Connection:
        scheme, host, port = key
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                sock = self._tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        name = f"[{host}]" if ":" in host else host
        if port != (443 if scheme == "https" else 80):
            name += f":{port}"
        return _Connection(sock, name.encode("ascii") if name.isascii() else name.encode("idna"))

    def _exchange(self, key: tuple[str, str, int], head: bytes, body: bytes) -> int:
        """One request and its answer on the kept connection (or a new one). ``_Stale``
        if a reused connection is found closed before any answer (it is dropped)."""
        deadline = time.monotonic() + self.timeout_seconds
        connection = self._open.get(key)
        if connection is None:
            connection = self._connect(key, self.timeout_seconds)
            self._open[key] = connection
        sock = connection.sock
        request = b"POST %s\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            head,
            connection.host_header,
            len(body),
            body,
        )
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        try:
            sock.settimeout(left)
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            self._drop(key)
            raise _Stale from None
        answer = connection.answer.next()
        seen = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            try:
                chunk = sock.recv(_CHUNK)
            except ConnectionResetError:
                if seen:
                    raise
                self._drop(key)
                raise _Stale from None
            if not chunk:
                self._drop(key)
                if not seen:
                    raise _Stale
                if answer.status:
                    # An answer whose body ends when the connection does: whole now.
                    return answer.status
                raise ConnectionAbortedError
            seen = True
            answer.parser.feed_data(chunk)
            if answer.complete:
                if not answer.keep_alive:
                    self._drop(key)
                return answer.status
            if answer.received > BODY_LIMIT:
                # More than is worth reading: the connection is dropped, not drained.
                self._drop(key)
                return answer.status

    def _drop(self, key: tuple[str, str, int]) -> None:
        connection = self._open.pop(key, None)
        if connection is not None:
            connection.sock.close()

    def close(self) -> None:
        for key in list(self._open):
            self._drop(key)


def _route(url: str) -> tuple[tuple[str, str, int], str]:
    """Where ``url`` is posted: scheme, host and port, and the request's target."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise PostError("not an http(s) URL")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise PostError("the URL's port is not a number") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not _UNSAFE.isdisjoint(target) or not target.isascii():
        raise PostError("the URL's path holds spaces, control characters or non-ASCII")
    return (scheme, parts.hostname, port), target


def _head(target: str, headers: dict[str, str]) -> bytes:
    """The request line's target and protocol and the caller's header lines, checked for
    line breaks (all names at once, all values at once). Host and Content-Length are the
    poster's."""
    names = "".join(headers)
    values = "".join(headers.values())
    if (
        "" in headers
        or not _UNSAFE.isdisjoint(names)
        or ":" in names
        or not _BREAKS.isdisjoint(values)
    ):
        raise PostError("a header holds a line break")
    text = (
        target + " HTTP/1.1" + "".join([f"\r\n{name}: {value}" for name, value in headers.items()])
    )
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise PostError("a header or the URL's path is not latin-1") from None
