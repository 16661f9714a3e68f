"""The delivery worker: drains the outbox. ``concernlog worker`` runs one on its own;
``concernlog serve`` runs one in each server process (unless ``CONCERNLOG_SERVE_WORKER``
is false). Any number may run against one database.

Each pass, with the worker's clock (injectable: tests move a ``FrozenClock``):

1. one worker at a time (``publishing.take_publisher_lock``) raises what is due
   (urgent reminders; pattern flags for the pupils of concerns just logged,
   ``services.patterns``; the daily digest; from the same hour, UK time, tasks and reviews
   come due, looked for every ``due_every``, after referrals without an outcome in time
   have given their case's owner a task) and publishes new events, fanning them out into
   deliveries; the others skip this step;
2. every worker claims due email deliveries for a lease, commits, sends them, and
   settles them in a new transaction (``delivery``); then the same for webhook posts
   (``webhook``: a few at a time, each with a timeout of seconds, redirects never
   followed).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import Clock
from core.http_post import Poster
from core.mail import MailError, SmtpServer
from core.settings import Settings
from db.engine import Database
from services import access, patterns, referrals, webhooks
from services.alerts import delivery, publishing, scheduling, webhook
from services.alerts.email import letters
from services.alerts.events import EVENT_TYPES
from services.school_calendar import SCHOOL_ZONE

logger = logging.getLogger("concernlog.alerts")

# Deliveries claimed per transaction, and claims per pass at most (then the next pass).
CLAIM_BATCH = 500
# Webhook posts claimed at once (two transactions a round, whatever its size: as many as
# an email claim, so a round's statements are shared by as many posts), and how long a
# round may post before it releases the rest untried: within the lease, so no other worker
# claims what this one is still sending.
WEBHOOK_BATCH = CLAIM_BATCH
WEBHOOK_ROUND_SECONDS = 30.0
ROUNDS_PER_PASS = 10


@dataclass(frozen=True)
class EmailSetup:
    """How the worker sends email: the server, who it is from, where readers sign in."""

    server: SmtpServer
    sender: str
    sign_in_url: str
    timeout_seconds: float


@dataclass(frozen=True)
class WebhookSetup:
    """How the worker posts webhooks: the key their secrets are sealed with, and each
    post's timeout."""

    seal_key: bytes
    timeout_seconds: float = 5.0


@dataclass
class PassReport:
    """What one pass did."""

    reminders: int = 0
    flags: int = 0
    digests: int = 0
    due: int = 0
    published: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    # Whether it stopped with work left (a full last claim): the next pass starts at once.
    more: bool = False

    @property
    def busy(self) -> bool:
        raised = (self.reminders, self.flags, self.digests, self.due, self.published)
        sent = (self.delivered, self.retried, self.dead, self.skipped)
        return any(raised) or any(sent)


def _log_error(error: BaseException) -> None:
    # By class only: a database error's message may quote a row.
    logger.error("alert worker pass failed: %s", type(error).__name__)


class DeliveryWorker:
    """Publishes events and delivers them (see the module's docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock,
        email: EmailSetup | None,
        lease: timedelta,
        webhooks: WebhookSetup | None = None,
        poll_seconds: float = 1.0,
        digest_hour: int = 7,
        due_every: timedelta = timedelta(minutes=5),
        batch: int = CLAIM_BATCH,
        on_error: Callable[[BaseException], None] = _log_error,
    ) -> None:
        self.database = database
        self.clock = clock
        self.email = email
        self.webhooks = webhooks
        self._poster: Poster | None = None
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.digest_hour = digest_hour
        self.due_every = due_every
        self.batch = batch
        self.on_error = on_error
        # The day (UK) this worker last saw every school's digest considered.
        self._digests_done_on: date | None = None
        # When this worker last raised tasks and reviews come due (its clock).
        self._due_checked_at: datetime | None = None
        fan_outs: list[publishing.FanOut] = []
        if email is not None:
            fan_outs.append(publishing.EmailFanOut())
        if webhooks is not None:
            fan_outs.append(webhook.WebhookFanOut())
        self.fan_outs: Sequence[publishing.FanOut] = fan_outs

    @classmethod
    def from_settings(
        cls,
        database: Database,
        settings: Settings,
        *,
        clock: Clock | None = None,
        on_error: Callable[[BaseException], None] = _log_error,
    ) -> DeliveryWorker:
        """A worker as ``concernlog serve`` and ``concernlog worker`` run it."""
        server = settings.smtp_server
        email = (
            EmailSetup(
                server=server,
                sender=settings.mail_from,
                sign_in_url=settings.public_base_url.rstrip("/") + "/app/",
                timeout_seconds=settings.smtp_timeout_seconds,
            )
            if server is not None
            else None
        )
        return cls(
            database,
            clock=clock or Clock(),
            email=email,
            lease=timedelta(seconds=settings.worker_lease_seconds),
            poll_seconds=settings.worker_poll_seconds,
            digest_hour=settings.alert_digest_hour,
            on_error=on_error,
            webhooks=WebhookSetup(
                seal_key=webhooks.sealing_key(settings.secret_key),
                timeout_seconds=settings.webhook_timeout_seconds,
            ),
        )

    def describe(self) -> str:
        if self.email is None:
            mail = "email off (CONCERNLOG_SMTP_URL is not set)"
        else:
            mail = f"email through {self.email.server.describe()}"
        return mail + ("; webhooks" if self.webhooks is not None else "")

    # --- one pass -----------------------------------------------------------------------

    def run_once(self) -> PassReport:
        """One pass: schedule and publish (if no other worker is), then deliver."""
        report = PassReport()
        done_on: date | None = None
        due_checked: datetime | None = None
        with self.database.transaction() as session:
            if publishing.take_publisher_lock(session):
                now = self.clock.now()
                report.reminders = scheduling.escalate(session, now=now)
                # Pattern rules for the pupils of concerns just logged (docs/adr/0110):
                # before publishing, so a flag raised now is published in this pass.
                report.flags = patterns.evaluate_queued(session, now=now)
                today = now.astimezone(SCHOOL_ZONE).date()
                due = scheduling.digest_due_since(now, self.digest_hour) is not None
                if due and self._digests_done_on != today:
                    report.digests = scheduling.digests(
                        session, now=now, digest_hour=self.digest_hour
                    )
                    # Every school is considered for today: no need to ask again.
                    done_on = today
                if due and self._due_looked_for(now):
                    # Referrals without an outcome in time give their case's owner a
                    # task due today, whose task.due the next line raises.
                    referrals.raise_overdue(session, now=now)
                    report.due = scheduling.raise_due(session, now=now)
                    report.due += scheduling.raise_overdue_transfers(session, now=now)
                    due_checked = now
                report.published = publishing.publish(session, now=now, fan_outs=self.fan_outs)
        if done_on is not None:  # committed
            self._digests_done_on = done_on
        if due_checked is not None:
            self._due_checked_at = due_checked
        if self.email is not None:
            self._deliver_email(self.email, report)
        if self.webhooks is not None:
            more = report.more
            self._deliver_webhooks(self.webhooks, report)
            report.more = report.more or more
        if report.busy:
            logger.info(
                "alert worker pass",
                extra={
                    "reminders": report.reminders,
                    "flags": report.flags,
                    "digests": report.digests,
                    "due": report.due,
                    "published": report.published,
                    "delivered": report.delivered,
                    "retried": report.retried,
                    "dead": report.dead,
                    "skipped": report.skipped,
                },
            )
        return report

    def _due_looked_for(self, now: datetime) -> bool:
        """Whether to look for tasks and reviews come due: every ``due_every`` (a task set
        today, due today, is told of within it; each is raised once whoever looks)."""
        last = self._due_checked_at
        return last is None or now - last >= self.due_every or now < last

    def _deliver_email(self, email: EmailSetup, report: PassReport) -> None:
        for _ in range(ROUNDS_PER_PASS):
            with self.database.transaction() as session:
                claimed = delivery.claim(
                    session,
                    channel=publishing.EMAIL,
                    now=self.clock.now(),
                    lease=self.lease,
                    batch=self.batch,
                )
            if not claimed:
                report.more = False
                return
            outcomes = self._send(email, claimed)
            with self.database.transaction() as session:
                settled = delivery.settle(session, outcomes, now=self.clock.now())
            report.delivered += settled.delivered
            report.retried += settled.retried
            report.dead += settled.dead
            report.skipped += settled.skipped
            report.more = len(claimed) == self.batch
            if not report.more:
                return

    def _http(self, setup: WebhookSetup) -> Poster:
        """The worker's poster, made when first needed and kept (connections reused):
        redirects never followed, no proxy from the environment, a timeout of seconds."""
        if self._poster is None:
            self._poster = Poster(timeout_seconds=setup.timeout_seconds)
        return self._poster

    def _round_seconds(self, setup: WebhookSetup) -> float:
        """How long one round may spend posting: well inside the claim's lease, so what it
        could not try is released before another worker could claim it."""
        return max(
            setup.timeout_seconds, min(WEBHOOK_ROUND_SECONDS, self.lease.total_seconds() / 2)
        )

    def _post_claimed(
        self,
        setup: WebhookSetup,
        claimed: list[delivery.Claimed],
        targets: dict[uuid.UUID, webhook.Target],
    ) -> list[delivery.Outcome]:
        """Post what was claimed, in order, for at most a round's time: what is left then
        is released untried. A subscription that timed out or could not be reached is not
        tried again in this round: its other deliveries fail alike, without a wait each."""
        ends = time.monotonic() + self._round_seconds(setup)
        down: dict[uuid.UUID, str] = {}
        outcomes = []
        poster = self._http(setup)
        for item in claimed:
            target = targets.get(item.target_id)
            if target is None:  # the subscription was deleted
                outcomes.append(delivery.Outcome(item, skipped=True))
                continue
            if time.monotonic() >= ends:
                outcomes.append(delivery.Outcome(item, released=True))
                continue
            if item.target_id in down:
                outcomes.append(delivery.Outcome(item, error=down[item.target_id]))
                continue
            outcome = webhook.post(poster, item, target, now=self.clock.now())
            if outcome.error is not None:
                logger.warning(
                    "alert webhook not delivered",
                    extra={"delivery_id": str(item.id), "reason": outcome.error},
                )
                if outcome.response_code is None and not outcome.permanent:
                    down[item.target_id] = outcome.error
            outcomes.append(outcome)
        return outcomes

    def _deliver_webhooks(self, setup: WebhookSetup, report: PassReport) -> None:
        for _ in range(ROUNDS_PER_PASS):
            with self.database.transaction() as session:
                claimed = delivery.claim(
                    session,
                    channel=webhooks.WEBHOOK,
                    now=self.clock.now(),
                    lease=self.lease,
                    batch=WEBHOOK_BATCH,
                )
                targets = webhook.targets(session, claimed, seal_key=setup.seal_key)
            if not claimed:
                report.more = False
                return
            outcomes = self._post_claimed(setup, claimed, targets)
            with self.database.transaction() as session:
                settled = delivery.settle(session, outcomes, now=self.clock.now())
            report.delivered += settled.delivered
            report.retried += settled.retried
            report.dead += settled.dead
            report.skipped += settled.skipped
            report.more = len(claimed) == WEBHOOK_BATCH
            if not report.more:
                return

    def _send(self, email: EmailSetup, claimed: list[delivery.Claimed]) -> list[delivery.Outcome]:
        """Send what was claimed, on one connection; what became of each."""
        outcomes: list[delivery.Outcome] = []
        sendable = []
        for item in claimed:
            if self._still_for(item):
                sendable.append(item)
            else:
                outcomes.append(delivery.Outcome(item, skipped=True))
        unreachable: MailError | None = None
        with email.server.connect(timeout=email.timeout_seconds) as mail:
            for letter in letters(
                sendable, sender=email.sender, sign_in_url=email.sign_in_url, now=self.clock.now()
            ):
                failure = unreachable
                if failure is None:
                    try:
                        mail.send(letter.message, sender=email.sender, recipient=letter.recipient)
                    except MailError as error:
                        failure = error
                        # The server is gone: the rest wait for their next try, not for
                        # a timeout each.
                        unreachable = None if error.answered else error
                if failure is None:
                    outcomes.append(delivery.Outcome(letter.delivery))
                    continue
                logger.warning(
                    "alert email not delivered",
                    extra={"delivery_id": str(letter.delivery.id), "reason": failure.reason},
                )
                outcomes.append(
                    delivery.Outcome(
                        letter.delivery, error=failure.reason, permanent=failure.permanent
                    )
                )
        return outcomes

    @staticmethod
    def _still_for(item: delivery.Claimed) -> bool:
        """Whether the recipient is still someone this email is for: an active account
        and, for the school's alerts, still on its DSL desk."""
        if item.recipient_email is None or not item.recipient_active:
            return False
        spec = EVENT_TYPES.get(item.event_type)
        if spec is None or spec.recipients != "dsl_desk":
            return True
        return item.recipient_role is not None and access.receives_school_alerts(
            item.recipient_role
        )

    # --- running ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set: straight on while there is more to do,
        else after ``poll_seconds``. A failed pass is logged and the next one tried."""
        logger.info("alert worker started", extra={"channels": self.describe()})
        while not stop.is_set():
            more = False
            try:
                more = self.run_once().more
            except Exception as error:
                self.on_error(error)
            if not more:
                stop.wait(self.poll_seconds)
        if self._poster is not None:
            self._poster.close()
        logger.info("alert worker stopped")

    def start_thread(self) -> WorkerThread:
        """Run in a daemon thread of this process (``concernlog serve``)."""
        return WorkerThread(self)


class WorkerThread:
    """A worker running in a thread, stopped with ``stop()`` (waits for its pass)."""

    def __init__(self, worker: DeliveryWorker) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run, args=(self._stop,), name="concernlog-alert-worker", daemon=True
        )
        self._thread.start()
        self._join_timeout = worker.email.timeout_seconds * 2 + 5 if worker.email else 10.0
        if worker.webhooks is not None:
            # A round of posts ends within its time, and its last post within a timeout.
            setup = worker.webhooks
            self._join_timeout += worker._round_seconds(setup) + setup.timeout_seconds

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._join_timeout)
