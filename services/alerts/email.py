"""Alert emails: what each says. Content-free by construction: they are written from the
event's type, its ids, counts and times, and the school's name and URN, never from a
concern (nothing here reads one). Each says *that* something needs the reader and links
to where they sign in.

A delivery of several new concerns (published together, ``publishing.EmailFanOut``) is
one email ("3 new concerns"). Urgent ones are always one email each, their subject
starting ``URGENT``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.base64mime import body_encode
from email.header import Header
from email.utils import format_datetime, parseaddr
from typing import Any

from services.alerts.delivery import Claimed
from services.alerts.events import (
    CONCERN_CREATED,
    CONCERN_URGENT,
    CONCERNS_UNACKNOWLEDGED,
    FLAG_RAISED,
    PRIVILEGED_DECIDED,
    PRIVILEGED_REQUESTED,
    REVIEW_DUE,
    TASK_ASSIGNED,
    TASK_DUE,
    TRANSFER_OVERDUE,
    decoded,
)
from services.school_calendar import SCHOOL_ZONE

WHY_SO_SHORT = (
    "This email only says that something needs you. By design it never carries a "
    "child's name or anything that was seen, said or recorded: sign in to read it."
)


@dataclass(frozen=True)
class Letter:
    """One delivery's email, to its one recipient."""

    recipient: str
    delivery: Claimed
    message: bytes


def _when(moment: datetime) -> str:
    local = moment.astimezone(SCHOOL_ZONE)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B %Y} (UK time)"


def _school(delivery: Claimed) -> str:
    return f"{delivery.school_name} (URN {delivery.school_urn})"


def _one(delivery: Claimed) -> tuple[str, list[str]]:
    """The subject and paragraphs of an email about one event."""
    data = decoded(delivery.data)
    school = _school(delivery)
    kind = delivery.event_type
    if kind == CONCERN_URGENT:
        logged = _when(datetime.fromisoformat(data["recorded_at"]))
        reminder = int(data["reminder"])
        if reminder == 0:
            return (
                f"URGENT: a concern marked immediate danger was logged at {school}",
                [
                    f"A member of staff logged a concern at {school} at {logged}, and marked "
                    "it as a child in immediate danger.",
                    "Every DSL and deputy DSL of the school is told, and will be again until "
                    "one of you triages it.",
                ],
            )
        return (
            f"URGENT (reminder {reminder}): a concern marked immediate danger is still not "
            f"triaged at {school}",
            [
                f"A concern marked as a child in immediate danger was logged at {school} at "
                f"{logged}, and no DSL has triaged it yet.",
                f"This is reminder {reminder}. Every DSL and deputy DSL of the school is told.",
            ],
        )
    if kind == CONCERN_CREATED:
        return (
            f"New concern logged at {school}",
            [f"A member of staff logged a concern at {school} at {_when(delivery.occurred_at)}."],
        )
    if kind == CONCERNS_UNACKNOWLEDGED:
        count = int(data["count"])
        hours = int(data["older_than_hours"])
        oldest = _when(datetime.fromisoformat(data["oldest_recorded_at"]))
        noun = "concern has" if count == 1 else "concerns have"
        return (
            f"Daily digest: {count} {noun.split()[0]} waiting for triage at {school}",
            [
                f"{count} {noun} waited more than {hours} hours for a DSL to triage at "
                f"{school}. The oldest was logged at {oldest}.",
            ],
        )
    if kind in (TASK_ASSIGNED, TASK_DUE):
        due = data["due_on"]
        if kind == TASK_ASSIGNED:
            return (
                f"A task was given to you at {school}",
                [f"A DSL at {school} gave you a task, due on {due}."],
            )
        return (f"A task of yours is due at {school}", [f"A task given to you is due on {due}."])
    if kind == REVIEW_DUE:
        return (
            f"A case review is due at {school}",
            [f"A case at {school} is due for review on {data['review_on']}."],
        )
    if kind == TRANSFER_OVERDUE:
        return (
            f"A file transfer is overdue at {school}",
            [
                f"A child's safeguarding file sent from {school} was due to be received by "
                f"{data['due_by']} and has not been confirmed yet.",
            ],
        )
    if kind in (PRIVILEGED_REQUESTED, PRIVILEGED_DECIDED):
        return _account_change(delivery, data, school)
    if kind == FLAG_RAISED:
        again = " again, with new evidence" if data["reopened"] else ""
        return (
            f"A pattern flag was raised{again} at {school}",
            [
                f"Concerns logged at {school} about one child, read together, met one of "
                f"the school's pattern rules{again} at {_when(delivery.occurred_at)}.",
                "A flag is a prompt for a DSL to read those concerns together, never a "
                "finding; it changes nothing by itself.",
            ],
        )
    return (f"Something needs you at {school}", [f"An alert was raised at {school}."])


def _account_change(delivery: Claimed, data: dict[str, Any], school: str) -> tuple[str, list[str]]:
    """An account change that needs a DSL (docs/adr/0080): that one awaits a decision, or
    was decided; never whose account, what change or who asked."""
    if delivery.event_type == PRIVILEGED_REQUESTED:
        expires = _when(datetime.fromisoformat(data["expires_at"]))
        return (
            f"An account change awaits a DSL's decision at {school}",
            [
                f"An account change at {school} awaits a decision by a DSL or deputy DSL of "
                f"the school: it is not made unless one of you approves it before {expires}.",
            ],
        )
    decided = _when(datetime.fromisoformat(data["decided_at"]))
    if data["approved"]:
        return (
            f"An account change was approved at {school}",
            [f"An account change that needed a DSL's decision was approved at {decided}."],
        )
    return (
        f"An account change was not made at {school}",
        [
            f"An account change that needed a DSL's decision was rejected or withdrawn at "
            f"{decided}: nothing was changed.",
        ],
    )


def _many_created(delivery: Claimed, count: int) -> tuple[str, list[str]]:
    school = _school(delivery)
    return (
        f"{count} new concerns logged at {school}",
        [
            f"Members of staff logged {count} concerns at {school}, the first at "
            f"{_when(delivery.occurred_at)}.",
        ],
    )


@functools.lru_cache(maxsize=8)
def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else "concernlog.invalid"


def _header(value: str) -> str:
    """A header's value on one line, as RFC 2047 words when it is not ASCII (a school's
    name may not be); no line break can get in."""
    flat = " ".join(value.split())
    return flat if flat.isascii() else Header(flat, "utf-8").encode(linesep="\r\n")


def _message(
    delivery: Claimed,
    event_ids: list[str],
    subject: str,
    paragraphs: list[str],
    *,
    recipient: str,
    sender: str,
    sign_in_url: str,
    now: datetime,
) -> bytes:
    """The message as it is sent (RFC 5322, plain text). Written out here rather than
    through ``email.message``, whose header handling cost more than everything else a
    delivery does."""
    text = "\r\n\r\n".join([*paragraphs, f"Sign in to see it: {sign_in_url}", WHY_SO_SHORT])
    if text.isascii():
        encoding, body = "7bit", text + "\r\n"
    else:
        encoding, body = "base64", body_encode(text.encode("utf-8"), eol="\r\n")
    events = ",\r\n ".join(event_ids)  # folded: one id a line
    headers = [
        f"From: {_header(sender)}",
        f"To: {_header(recipient)}",
        f"Subject: {_header(subject)}",
        f"Date: {format_datetime(now)}",
        # The same for every attempt: a mail client shows a repeat once.
        f"Message-ID: <{delivery.id}@{_domain(sender)}>",
        "Auto-Submitted: auto-generated",
        f"X-Concernlog-Events: {events}",
        f"X-Concernlog-School-URN: {_header(delivery.school_urn)}",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("ascii")


def letters(
    deliveries: Sequence[Claimed], *, sender: str, sign_in_url: str, now: datetime
) -> list[Letter]:
    """The email of each claimed delivery (each with a recipient address), urgent ones
    first."""
    found: list[Letter] = []
    for delivery in sorted(deliveries, key=lambda d: d.event_type != CONCERN_URGENT):
        event_ids = json.loads(delivery.event_ids)
        if len(event_ids) > 1:
            subject, paragraphs = _many_created(delivery, len(event_ids))
        else:
            subject, paragraphs = _one(delivery)
        found.append(_letter(delivery, event_ids, subject, paragraphs, sender, sign_in_url, now))
    return found


def _letter(
    delivery: Claimed,
    event_ids: list[str],
    subject: str,
    paragraphs: list[str],
    sender: str,
    sign_in_url: str,
    now: datetime,
) -> Letter:
    recipient = delivery.recipient_email
    assert recipient is not None
    return Letter(
        recipient=recipient,
        delivery=delivery,
        message=_message(
            delivery,
            event_ids,
            subject,
            paragraphs,
            recipient=recipient,
            sender=sender,
            sign_in_url=sign_in_url,
            now=now,
        ),
    )
