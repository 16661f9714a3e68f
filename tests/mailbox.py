"""A real SMTP server on loopback (aiosmtpd), for the alert email tests: it keeps what
arrives, and can refuse or stall on demand. The ``mailbox`` fixture in conftest.py starts
one per test."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from core.clock import FrozenClock
from core.mail import SmtpServer
from db.engine import Database
from services.alerts.worker import DeliveryWorker, EmailSetup
from tests.server import free_port

SENDER = "concernlog <alerts@fictional-school.example>"
SIGN_IN_URL = "https://concernlog.fictional-school.example/app/"


@dataclass(frozen=True)
class Received:
    """One message the server accepted (or was handed and refused: ``refused_with``)."""

    mail_from: str
    recipients: list[str]
    raw: bytes
    refused_with: str | None = None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def event_ids(self) -> list[str]:
        return [part.strip() for part in str(self.message["X-Concernlog-Events"]).split(",")]


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        code = self.box.refuse_recipients.get(address)
        if code is not None:
            return f"{code} Fictional refusal for this mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        box = self.box
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        if box.stall_next.is_set():
            box.stall_next.clear()
            box.stalled.set()
            # Held without an answer until the test lets go; then dropped, never kept.
            await asyncio.get_running_loop().run_in_executor(None, box.release.wait, 120)
            return "451 Dropped after a stall"
        if box.refuse_data:
            code = box.refuse_data.pop(0)
            with box.lock:
                box.refused.append(
                    Received(received.mail_from, received.recipients, received.raw, str(code))
                )
            return f"{code} Fictional refusal of this message"
        if box.delay_seconds:
            await asyncio.sleep(box.delay_seconds)
        with box.lock:
            box.received.append(received)
        return "250 Message accepted"


class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps every accepted message (``received``).

    ``refuse_recipients``: address -> reply code for RCPT; ``refuse_data``: reply codes
    for the next messages' DATA (kept in ``refused``); ``stall_next``: hold the next
    message's DATA without answering (``stalled`` is set) until ``release``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.refused: list[Received] = []
        self.refuse_recipients: dict[str, int] = {}
        self.refuse_data: list[int] = []
        self.delay_seconds = 0.0
        self.stall_next = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self.release.set()
        self._controller.stop()

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages() if address in m.recipients]

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """At least ``count`` messages, waiting (bounded) for a worker in another process
        or thread to send them."""
        deadline = time.monotonic() + timeout
        while len(self.messages()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages())} of {count} messages arrived")
            time.sleep(0.05)
        return self.messages()


def email_setup(mailbox: Mailbox) -> EmailSetup:
    return EmailSetup(
        server=SmtpServer.from_url(mailbox.url),
        sender=SENDER,
        sign_in_url=SIGN_IN_URL,
        timeout_seconds=10,
    )


def make_worker(
    database: Database, clock: FrozenClock, mailbox: Mailbox | None, **kwargs: Any
) -> DeliveryWorker:
    """A worker on the test's database and clock, emailing through ``mailbox``."""
    kwargs.setdefault("lease", timedelta(seconds=60))
    kwargs.setdefault("digest_hour", 7)
    return DeliveryWorker(
        database,
        clock=clock,
        email=email_setup(mailbox) if mailbox is not None else None,
        **kwargs,
    )


def drain(worker: DeliveryWorker, passes: int = 3) -> None:
    """A few passes: publish, then deliver what was published."""
    for _ in range(passes):
        worker.run_once()


def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)
