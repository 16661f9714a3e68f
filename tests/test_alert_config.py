"""How alerts are configured (issue 18, point 2): the SMTP URL, and the settings refused
before anything starts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import select

from core.mail import SmtpServer
from core.settings import ConfigurationError, Settings
from db.engine import Database
from models import AlertDelivery
from services.alerts.worker import DeliveryWorker, EmailSetup
from tests.desk import Desk
from tests.mailbox import SENDER, SIGN_IN_URL, Mailbox, drain


def test_smtp_urls_name_the_server_and_how_to_reach_it() -> None:
    plain = SmtpServer.from_url("smtp://127.0.0.1:1025")
    assert (plain.scheme, plain.host, plain.port, plain.username) == (
        "smtp",
        "127.0.0.1",
        1025,
        None,
    )
    tls = SmtpServer.from_url("smtp+starttls://alerts%40school.example:p%3Ass@mail.example")
    assert (tls.port, tls.username, tls.password) == (587, "alerts@school.example", "p:ss")
    assert SmtpServer.from_url("smtps://mail.example").port == 465
    assert tls.describe() == "smtp+starttls://mail.example:587"  # never the password
    for bad in ("http://mail.example", "smtp://", "smtp://mail.example:port"):
        with pytest.raises(ValueError, match="SMTP URL"):
            SmtpServer.from_url(bad)


def test_unusable_alert_settings_are_refused_before_anything_starts() -> None:
    with pytest.raises(ConfigurationError, match="CONCERNLOG_SMTP_URL"):
        Settings(env="test", smtp_url=SecretStr("mailto:dsl@school.example")).check_usable()
    with pytest.raises(ConfigurationError, match="LEASE"):
        Settings(env="test", worker_lease_seconds=10, smtp_timeout_seconds=20).check_usable()
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        Settings(env="test", public_base_url="concernlog.school.example").check_usable()
    Settings(env="test", smtp_url=SecretStr("smtp://127.0.0.1:25")).check_usable()


def test_the_worker_is_built_from_the_settings(database: Database) -> None:
    settings = Settings(
        env="test",
        smtp_url=SecretStr("smtp://127.0.0.1:1025"),
        mail_from="concernlog <alerts@school.example>",
        public_base_url="https://concernlog.school.example/",
        worker_lease_seconds=90,
        alert_digest_hour=6,
    )
    worker = DeliveryWorker.from_settings(database, settings)
    assert worker.email is not None
    assert worker.email.sign_in_url == "https://concernlog.school.example/app/"
    assert worker.email.sender == "concernlog <alerts@school.example>"
    assert (worker.lease, worker.digest_hour) == (timedelta(seconds=90), 6)
    assert DeliveryWorker.from_settings(database, Settings(env="test")).email is None


def test_starttls_that_the_server_does_not_offer_is_not_sent_in_the_clear(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk.concern()
    setup = EmailSetup(
        server=SmtpServer.from_url(f"smtp+starttls://127.0.0.1:{mailbox.port}"),
        sender=SENDER,
        sign_in_url=SIGN_IN_URL,
        timeout_seconds=10,
    )
    worker = DeliveryWorker(database, clock=desk.clock, email=setup, lease=timedelta(minutes=1))
    drain(worker)
    assert mailbox.messages() == []
    with database.transaction() as session:
        errors = [d.last_error for d in session.exec(select(AlertDelivery))]
    assert errors == ["the SMTP server does not offer STARTTLS"] * 2
