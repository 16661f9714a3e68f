"""The records lifecycle (issue 21): concerns entered in error, retention and legal holds,
and destroying a child's file when its time has come."""

from services.lifecycle.entered_in_error import mark_entered_in_error

__all__ = ["mark_entered_in_error"]
