"""Changes that make or keep someone a DSL: an admin asks, a DSL of the school decides
(docs/adr/0080-privileged-changes-need-a-dsl.md).

``requesting`` makes a pending request (one per account and kind); ``deciding`` approves
(and applies), rejects or withdraws it; ``reading`` lists and shapes them; ``alerts`` tells
the school's DSLs, content-free."""

from services.privileged.deciding import approve, approve_as_operator, reject, withdraw
from services.privileged.reading import get_request, list_requests, one, pending_in_school
from services.privileged.requesting import (
    effective_status,
    expire_due,
    lock_account,
    pending_grant,
    pending_roles,
    request_change,
)

__all__ = [
    "approve",
    "approve_as_operator",
    "effective_status",
    "expire_due",
    "get_request",
    "list_requests",
    "lock_account",
    "one",
    "pending_grant",
    "pending_in_school",
    "pending_roles",
    "reject",
    "request_change",
    "withdraw",
]
