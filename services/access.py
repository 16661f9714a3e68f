"""Who may see and do what: every rule in one place.

The routers' role guards (``api.deps``) decide first, from these same role sets; every
service asks this module again, so a route that forgot its guard still refuses. A rule
about *which records* a caller may see (their school; for staff, only what they recorded)
is a scope here too, and every query that reads those records takes it from here.

- Recorders (staff, DSLs, deputy DSLs) log concerns and add to them; staff see only the
  concerns they recorded, DSLs and deputies every concern of their school.
- The DSL desk (DSLs and deputies): triage, cases, chronologies, exports, reports.
- Pupil search: recorders; pupils who have left: the DSL desk only.
- Pupil records: admins and the DSL desk may create and correct them.
- MIS sync: the MIS service account and admins, never concern content.
- Admins and MIS accounts never see concern content (a 403, not a 404: the refusal is
  about their role, not about a record).
"""

from __future__ import annotations

from core.errors import Forbidden
from models.user import DSL_ROLES, Role
from services.principal import Principal

RECORDERS = frozenset({Role.staff, Role.dsl, Role.deputy_dsl})
DSL_DESK = DSL_ROLES
PUPIL_SEARCHERS = RECORDERS
PUPIL_EDITORS = frozenset({Role.admin, Role.dsl, Role.deputy_dsl})
MIS_SYNC = frozenset({Role.mis, Role.admin})


def _refused() -> Forbidden:
    return Forbidden("Your role does not allow this.")


def require_user_role(principal: Principal, roles: frozenset[Role]) -> None:
    """403 unless ``principal`` is a person (not a service account) with one of ``roles``."""
    if principal.kind != "user" or principal.role not in roles:
        raise _refused()


def require_recorder(principal: Principal) -> None:
    """403 unless the caller may log concerns and read their own (staff, DSLs, deputies)."""
    require_user_role(principal, RECORDERS)


def require_dsl(principal: Principal) -> None:
    """403 unless the caller works the DSL desk (a DSL or deputy DSL)."""
    if principal.kind != "user" or not principal.is_dsl:
        raise Forbidden("Only DSLs and deputy DSLs may do this.")


def require_mis_sync(principal: Principal) -> None:
    """403 unless the caller may sync the school's MIS records (the MIS account, admins)."""
    if principal.role not in MIS_SYNC:
        raise _refused()


def may_search_leavers(principal: Principal) -> bool:
    """Pupils who have left are for the DSL desk only."""
    return principal.is_dsl
