"""Posting to a URL over HTTP/1.1 with the standard library, keeping each host's
connection open between posts: the outbound side of webhooks.

``http.client`` and not an HTTP client library: a webhook post is the delivery worker's
hot path, and ``httpx`` spends about five times the CPU of ``http.client`` on the same
post (0.55 ms against 0.11 ms on this project's machine; ADR 0068). What a library would
add beyond this module is what webhooks must not do anyway: ``http.client`` never follows
a redirect, never reads a proxy from the environment, and verifies TLS certificates and
host names with the default context.

A connection is reused while the receiver keeps it open; a post on a reused connection
that finds it closed (the receiver timed it out between posts) is sent once more on a
fresh one. A post can therefore reach a receiver twice, which webhook deliveries allow
(at least once, the same ``webhook-id``).
"""

from __future__ import annotations

import http.client
import ssl
from urllib.parse import urlsplit

# A receiver's answer is read up to this much, then the connection is dropped rather than
# kept reading: the status is all a delivery needs.
BODY_LIMIT = 64 * 1024

# What a connection the receiver already closed raises on the next post.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class PostError(Exception):
    """Nothing was answered: ``timed_out``, or the host could not be reached or broke off.
    ``reason`` is short and names no URL."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class Poster:
    """Posts bodies to URLs; one open connection per scheme, host and port. Not for
    sharing between threads (one worker, one poster)."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._tls: ssl.SSLContext | None = None  # the system's certificates, loaded when needed
        self._open: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``url``; the status code of the answer (a 3xx is returned as
        it is, not followed). ``PostError`` if no answer came within the timeout."""
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
        key = (scheme, parts.hostname, port)
        reused = key in self._open
        try:
            return self._exchange(key, target, body, headers)
        except _STALE:
            self._drop(key)
            if not reused:
                raise PostError("the connection was closed before an answer") from None
        except TimeoutError:
            self._drop(key)
            raise PostError("timed out", timed_out=True) from None
        except (OSError, http.client.HTTPException) as error:
            self._drop(key)
            raise PostError(f"unreachable ({type(error).__name__})") from None
        try:  # once more, on a fresh connection
            return self._exchange(key, target, body, headers)
        except TimeoutError:
            self._drop(key)
            raise PostError("timed out", timed_out=True) from None
        except (OSError, http.client.HTTPException) as error:
            self._drop(key)
            raise PostError(f"unreachable ({type(error).__name__})") from None

    def _exchange(
        self, key: tuple[str, str, int], target: str, body: bytes, headers: dict[str, str]
    ) -> int:
        connection = self._open.get(key)
        if connection is None:
            scheme, host, port = key
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                connection = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout_seconds, context=self._tls
                )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=self.timeout_seconds)
            self._open[key] = connection
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(BODY_LIMIT)
        # More than was read is left, or the receiver closes it: not reused.
        if not response.isclosed() or response.will_close:
            self._drop(key)
        return response.status

    def _drop(self, key: tuple[str, str, int]) -> None:
        connection = self._open.pop(key, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for key in list(self._open):
            self._drop(key)
