"""Cases: the child protection file a DSL opens from concerns, and everything done in it.

DSLs and deputy DSLs of the case's school only; a case of another school is a 404.

Every change to a case (linking concerns, an action, a decision, closing, reopening, a
level change, a review date, another assignee) is a ``CaseChange`` run by
``change_case``: it needs ``If-Match`` with the case's ETag (428 without, 412 when stale)
and is a compare-and-set on ``safeguarding_case.version``, so two DSLs never overwrite
each other. Each change also writes its own never-changed row (``case_event``,
``case_action`` or ``case_decision``) with who, when and why. A closed case takes no
change but reopening (409). A pupil has one open case at a time (409
``open-case-exists`` naming it, for opening or reopening another). Closing a case closes
its linked concerns still open, with its reason.

Audit, ids only, in the same transaction, ``pupil_id`` set but on a list: ``case.create``,
``case.link``, ``case.action``, ``case.decision``, ``case.close`` (and ``concern.triage``
per pupil of each concern it closes), ``case.reopen``, ``case.level``, ``case.review``,
``case.reassign`` for writes; ``case.read`` for a case read and ``case.list``, one event
per listed page with its pupils in ``audit_event_pupil`` (ADR 0126).

Modules: ``reading`` (loading and shaping a case, ``get_case``), ``listing``
(``list_cases``, filters, keyset pages), ``opening`` (``create_case``), ``changes`` (the
changes as data and ``change_case``; linking, actions, decisions, levels), ``closing``
(closing, with its concerns, and reopening), ``planning`` (the review date, the
assignee), ``validation`` (checks on pupils, concerns, moments, dates, the one open case),
``history`` (the rows and audit every write leaves). A case's tasks are
``services.tasks``'.
"""

from services.cases.changes import ADD_ACTION as ADD_ACTION
from services.cases.changes import ADD_DECISION as ADD_DECISION
from services.cases.changes import CHANGE_LEVEL as CHANGE_LEVEL
from services.cases.changes import LINK_CONCERNS as LINK_CONCERNS
from services.cases.changes import CaseChange as CaseChange
from services.cases.changes import CaseWrite as CaseWrite
from services.cases.changes import change_case as change_case
from services.cases.closing import CLOSE_CASE as CLOSE_CASE
from services.cases.closing import REOPEN_CASE as REOPEN_CASE
from services.cases.listing import CaseFilters as CaseFilters
from services.cases.listing import CaseListPage as CaseListPage
from services.cases.listing import list_cases as list_cases
from services.cases.opening import create_case as create_case
from services.cases.planning import CHANGE_REVIEW as CHANGE_REVIEW
from services.cases.planning import REASSIGN_CASE as REASSIGN_CASE
from services.cases.reading import ETAG_KIND as ETAG_KIND
from services.cases.reading import ReadCase as ReadCase
from services.cases.reading import cases_of_pupil as cases_of_pupil
from services.cases.reading import get_case as get_case
from services.cases.reading import render_case as render_case
from services.cases.reading import summaries as summaries
