"""Transfers of a child's safeguarding file to their next school (issue 21, point 1;
docs/adr/0085, 0086, 0087).

- ``commands``: send a file (due in 5 school days, signed as a bundle), confirm receipt
  and link it to the receiving school's pupil, import another service's bundle;
- ``reading``: one transfer, the sent and incoming lists, a bundle;
- ``bundle``: the bundle's payload, its JSON Schema and the checks on one imported;
- ``calendar``: a school's own closure days.
"""

from services.transfers.bundle import bundle_schema
from services.transfers.calendar import get_calendar, put_calendar
from services.transfers.commands import confirm_receipt, import_bundle, send_transfer
from services.transfers.reading import (
    JOSE,
    get_bundle,
    get_transfer,
    list_incoming,
    list_sent,
    pupil_of,
    shape,
)

__all__ = [
    "JOSE",
    "bundle_schema",
    "confirm_receipt",
    "get_bundle",
    "get_calendar",
    "get_transfer",
    "import_bundle",
    "list_incoming",
    "list_sent",
    "pupil_of",
    "put_calendar",
    "send_transfer",
    "shape",
]
