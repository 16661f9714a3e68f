"""A canary: what a concern says never leaves in an alert (issue 18, points 1 and 2).

A distinctive sentence in a concern's description (and its location), the pupil's name,
the indicators and the category are looked for in every email that arrives, every event
and delivery row the outbox keeps, and every log line written meanwhile, through every
path an alert takes: a concern logged, an urgent one and its reminder, the daily digest,
a refusal and its retry.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlmodel import select

from api.logs import JsonFormatter
from db.engine import Database
from models import AlertDelivery, AlertEvent
from tests.desk import Desk
from tests.factories import make_pupil
from tests.mailbox import Mailbox, drain, make_worker

CANARY = "Quentin the fictional heron whispered about the marmalade lighthouse."
PLACE = "Behind the imaginary bandstand"


# Names found nowhere else in the fictional world (not in "Fictional Academy").
GIVEN, FAMILY, FORM = "Ottoline", "Quillfeather", "9Zq"
SECRETS = [CANARY, PLACE, GIVEN, FAMILY, FORM, "secretive", "unexplained-money"]


def test_no_alert_and_no_log_line_carries_what_a_concern_says(
    desk: Desk,
    database: Database,
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    worker = make_worker(database, desk.clock, mailbox, digest_hour=0)
    pupil = make_pupil(database, desk.world.school, GIVEN, FAMILY, registration_group=FORM)
    said: dict[str, Any] = {"description": CANARY, "location": PLACE, "pupils": [pupil]}
    desk.concern(**said)
    desk.concern(**said, immediate_danger=True)
    mailbox.refuse_data = [451]
    drain(worker)
    desk.clock.advance(minutes=15)  # the urgent one's reminder, and the refused retry
    drain(worker)
    desk.clock.advance(hours=25)  # the digest of both, still new
    drain(worker)

    received = mailbox.messages() + mailbox.refused
    subjects = [m.subject for m in mailbox.messages()]
    assert any(s.startswith("URGENT: ") for s in subjects)
    assert any(s.startswith("URGENT (reminder") for s in subjects)
    assert any(s.startswith("Daily digest") for s in subjects)
    assert any(s.startswith("New concern") for s in subjects)
    with database.transaction() as session:
        stored = [e.data for e in session.exec(select(AlertEvent))]
        stored += [str(d.last_error) for d in session.exec(select(AlertDelivery))]
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    output = capfd.readouterr()
    assert any("alert worker pass" in line for line in lines)  # the worker did log

    everything = [
        *(m.raw.decode("utf-8", "replace") for m in received),
        *(m.text for m in received),
        *stored,
        *lines,
        output.out,
        output.err,
    ]
    for secret in SECRETS:
        assert not [text for text in everything if secret.lower() in text.lower()], secret
    # Not the category either (the CSE guidance's), as a word.
    assert not [text for text in everything if re.search(r"\bcse\b", text, re.IGNORECASE)]
