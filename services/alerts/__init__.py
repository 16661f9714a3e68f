"""Alerts that never carry content: the outbox of events, their deliveries per channel,
the worker that drains it, and the settings that shape it.

- ``events``: the event types and ``emit``, the one way to record one (in the caller's
  transaction; ids, flags, counts and times only);
- ``scheduling``: a concern's alerts as it is logged, urgent reminders, the daily digest;
- ``publishing``: sequence numbers in commit order, and the fan-out into deliveries;
- ``delivery``: claims with a lease, outcomes, backoff, dead letters;
- ``reading``: a school's published events in order, after the last one a reader saw;
- ``email``: what an alert email says; ``worker``: the loop;
- ``settings``: the school's alert settings and each person's own choice.
"""

from services.alerts.delivery import list_dead_letters
from services.alerts.events import (
    CONCERN_CREATED,
    CONCERN_URGENT,
    CONCERNS_UNACKNOWLEDGED,
    EVENT_TYPES,
    FLAG_RAISED,
    PRIVILEGED_DECIDED,
    PRIVILEGED_REQUESTED,
    REVIEW_DUE,
    TASK_ASSIGNED,
    TASK_DUE,
    TRANSFER_OVERDUE,
    emit,
    payload,
)
from services.alerts.scheduling import concern_logged
from services.alerts.settings import (
    get_alert_preferences,
    get_alert_settings,
    put_alert_preferences,
    put_alert_settings,
)

__all__ = [
    "CONCERNS_UNACKNOWLEDGED",
    "CONCERN_CREATED",
    "CONCERN_URGENT",
    "EVENT_TYPES",
    "FLAG_RAISED",
    "PRIVILEGED_DECIDED",
    "PRIVILEGED_REQUESTED",
    "REVIEW_DUE",
    "TASK_ASSIGNED",
    "TASK_DUE",
    "TRANSFER_OVERDUE",
    "concern_logged",
    "emit",
    "get_alert_preferences",
    "get_alert_settings",
    "list_dead_letters",
    "payload",
    "put_alert_preferences",
    "put_alert_settings",
]
