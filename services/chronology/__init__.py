"""A pupil's chronology: every concern, addendum, triage change, case event, action,
decision, task (set, completed), profile change, referral and referral outcome about the
child, in the order things happened.

DSLs and deputy DSLs of the pupil's school only (a pupil of another school is a 404).
Order: ``occurred_at`` (a concern's ``observed_at``, an action's ``occurred_at``, a
decision's ``decided_at``, for the rest the moment it was recorded), then
``recorded_at``, then the entry's id (time-ordered UUIDs), so the order is total and a
backdated concern (or decision) sits where it happened. Pages are keyset-based on that
triple. A concern about several children is in each one's
chronology, with its addenda and triage changes.

One SQL ``UNION ALL`` over the sources finds a page's entries (each arm an index
lookup by school and pupil), sent with the check that the pupil is of the school; the
page's rows are then loaded with one query per source, sent together, whatever the
page's size (on PostgreSQL two round trips for the page, see ``db.batch.Batch``; then the
audit event's). Who wrote each entry is on its row, under the name they had then.
Records ``chronology.read`` (with the pupil) for a page; the export records its own event.
"""

from services.chronology.reading import get_chronology, whole_chronology

__all__ = ["get_chronology", "whole_chronology"]
