"""Sending email through an SMTP server named by a URL (``CONCERNLOG_SMTP_URL``).

- ``smtp://host:port``: plain SMTP (a relay on this machine or the school's network);
- ``smtp+starttls://user:password@host:587``: STARTTLS, required (refused if the server
  does not offer it);
- ``smtps://user:password@host:465``: TLS from the first byte.

User and password are percent-decoded. Only this module speaks SMTP; what a message says
is the caller's.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from types import TracebackType
from urllib.parse import unquote, urlsplit

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(Exception):
    """A message was not accepted. ``permanent``: the server refused it for good (a 5xx
    reply to the message), so trying again cannot help; otherwise (a 4xx reply, a
    network error, a timeout) it may be tried again. ``answered``: the server replied (so
    the next message may fare better); not, when it could not be reached or went silent.
    ``reason`` is short: our words and the server's reply code and text."""

    def __init__(self, reason: str, *, permanent: bool = False, answered: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.answered = answered


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: parsed from a URL once (``ValueError`` if it is unusable)."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ValueError(f"the SMTP URL's scheme must be one of {', '.join(SCHEMES)}")
        if not parts.hostname:
            raise ValueError("the SMTP URL names no host")
        try:
            port = parts.port or SCHEMES[scheme]
        except ValueError:
            raise ValueError("the SMTP URL's port is not a number") from None
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def describe(self) -> str:
        """The server without its credentials, for a log line."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def connect(self, *, timeout: float) -> SmtpConnection:
        return SmtpConnection(self, timeout=timeout)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trusted certificates, verified (loading them costs more than sending
    a message: once per process)."""
    return ssl.create_default_context()


@functools.lru_cache(maxsize=8)
def _address(sender: str) -> str:
    """The address of a "Name <address>" (the envelope's sender)."""
    return parseaddr(sender)[1] or sender


def _reply_text(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return " ".join(text.split())[:200]


class SmtpConnection:
    """One SMTP session for several messages (``with server.connect(...) as mail:``),
    opened on first use, so a pass with nothing to send opens nothing."""

    def __init__(self, server: SmtpServer, *, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _open(self) -> smtplib.SMTP:
        server = self.server
        client: smtplib.SMTP
        if server.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=self.timeout, context=_tls_context()
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        try:
            client.ehlo_or_helo_if_needed()
            if server.scheme == "smtp+starttls":
                if not client.has_extn("starttls"):
                    raise MailError("the SMTP server does not offer STARTTLS", answered=False)
                client.starttls(context=_tls_context())
                client.ehlo()
            if server.username is not None:
                client.login(server.username, server.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Send ``message`` (RFC 5322, CRLF line ends) from ``sender`` (an address, or a
        "Name <address>") to one ``recipient``; ``MailError`` if it was not accepted (the
        connection is then closed, and the next message opens a new one)."""
        try:
            if self._client is None:
                self._client = self._open()
            self._client.sendmail(_address(sender), [recipient], message)
        except MailError:
            self._drop()
            raise
        except smtplib.SMTPRecipientsRefused as error:
            self._drop()
            ((code, reply),) = error.recipients.values()
            raise MailError(f"SMTP {code}: {_reply_text(reply)}", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as error:
            self._drop()
            # Only the message itself refused for good is permanent; a refused sign-in or
            # sender is the configuration's, and is worth trying again once it is fixed.
            refused_message = isinstance(error, smtplib.SMTPDataError)
            raise MailError(
                f"SMTP {error.smtp_code}: {_reply_text(error.smtp_error)}",
                permanent=refused_message and error.smtp_code >= 500,
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise MailError(
                f"{type(error).__name__}: the SMTP server could not be reached or stopped "
                "answering",
                answered=False,
            ) from None

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
