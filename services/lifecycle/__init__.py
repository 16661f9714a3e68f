"""The records lifecycle (issue 21): concerns entered in error, legal holds, and
destroying a child's file when its time has come (``services.retention`` says when)."""

from services.lifecycle.destruction import destroy_file, place_hold, release_hold
from services.lifecycle.entered_in_error import mark_entered_in_error
from services.lifecycle.erasers import ERASERS, DoomedFile, Eraser

__all__ = [
    "ERASERS",
    "DoomedFile",
    "Eraser",
    "destroy_file",
    "mark_entered_in_error",
    "place_hold",
    "release_hold",
]
