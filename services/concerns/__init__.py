"""Concerns: logged by staff, read by their recorder and the school's DSLs, never edited.

Who sees what is ``services.access``'s rule: a DSL or deputy DSL sees every concern of
their school; a member of staff sees the concerns they recorded; admins and MIS accounts
see none (403). Anything outside that is a 404, exactly as if it did not exist.

Audit: every read and write of a concern records events in the same transaction, ids
only. A concern about several children records one event per child (``pupil_id`` set,
``entity_id`` the concern or addendum), so that "who has seen this child's records" is
one query on the audit log. A list records one ``concern.list`` event per page
(``entity_id`` and ``pupil_id`` empty), the children on it in ``audit_event_pupil``, which
its hash covers and the same query reads (ADR 0126).

Triage: each concern gets its ``concern_triage`` row (status ``new``, version 1) in the
transaction that records it; the concern row itself is never written again. DSLs see the
triage state in full (status, risk level, assignee, hours waiting); staff see the status
only.

Modules: ``statements`` (tables, statements built once), ``shaping`` (rows as the API
shows them), ``validation`` (what a new concern must satisfy), ``search`` (filters, text
search, sort, cursor), ``listing`` (a page, a set), ``reading`` (one concern, and its
lookup for other services), ``commands`` (record a concern, an addendum), ``outlines``
(a concern in a child's chronology).
"""

from services.concerns.commands import add_addendum, create_concern
from services.concerns.listing import ConcernListPage, list_concerns, shape_concerns_by_id
from services.concerns.outlines import add_pupil_outlines, outlines_from
from services.concerns.reading import (
    ETAG_KIND,
    ReadConcern,
    concern_row,
    get_concern,
    load_with_triage,
    lookup_concern,
    shape_concern,
)
from services.concerns.search import ConcernFilters, concern_query
from services.concerns.shaping import add_caller, caller_as_recorder, people_by_id, persons

__all__ = [
    "ETAG_KIND",
    "ConcernFilters",
    "ConcernListPage",
    "ReadConcern",
    "add_addendum",
    "add_caller",
    "add_pupil_outlines",
    "caller_as_recorder",
    "concern_query",
    "concern_row",
    "create_concern",
    "get_concern",
    "list_concerns",
    "load_with_triage",
    "lookup_concern",
    "outlines_from",
    "people_by_id",
    "persons",
    "shape_concern",
    "shape_concerns_by_id",
]
