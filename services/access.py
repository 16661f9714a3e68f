"""Who may see and do what: every rule in one place.

The routers' role guards (``api.deps``) decide first, from these same role sets; every
service asks this module again, so a route that forgot its guard still refuses. A rule
about *which records* a caller may see (their school; for staff, only what they recorded)
is a scope here too, and every query that reads those records takes it from here: the
queries built per request (``concern_scope``) and the prepared statements built once
(``ScopedConcerns``) alike.

- Recorders (staff, DSLs, deputy DSLs) log concerns and add to them; staff see only the
  concerns they recorded, DSLs and deputies every concern of their school.
- The DSLs' assessment of a concern (risk level, assignee, hours waiting) is theirs: staff
  see its status only, and may not filter by it.
- The DSL desk (DSLs and deputies): triage, cases, chronologies, exports, reports. A
  concern or case is given to an active member of the DSL desk of the school only.
- The school's own guidance: the DSL desk drafts and publishes it, and reads the school's
  drafts (another school's are as good as absent); what it publishes anyone may read.
- Pupil search: recorders; pupils who have left: the DSL desk only.
- Pupil records: admins and the DSL desk may create and correct them.
- MIS sync: the MIS service account and admins, never concern content; a sync never
  links to, renames or deactivates a privileged account (a DSL's, deputy DSL's or admin's).
- Administration (users, roles, passwords, MFA resets, service accounts): admins.
- The audit log (ids and actions, never content): admins and the DSL desk; an admin's
  view never says which child an event is about (no pupil ids, no ids of children's
  records), and an admin may not filter by them.
- A profile (``/auth/me``, MFA enrolment): people, not service accounts.
- Admins and MIS accounts never see concern content (a 403, not a 404: the refusal is
  about their role, not about a record).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from core.errors import Forbidden
from db.prepared import Prepared
from models.concern import Concern
from models.user import DSL_ROLES, Role
from services.principal import Principal

RECORDERS = frozenset({Role.staff, Role.dsl, Role.deputy_dsl})
DSL_DESK = DSL_ROLES
ASSIGNEES = DSL_DESK
PUPIL_SEARCHERS = RECORDERS
PUPIL_EDITORS = frozenset({Role.admin, Role.dsl, Role.deputy_dsl})
MIS_SYNC = frozenset({Role.mis, Role.admin})
ADMINS = frozenset({Role.admin})
AUDIT_READERS = frozenset({Role.admin, Role.dsl, Role.deputy_dsl})
GUIDANCE_AUTHORS = DSL_DESK
# Accounts only people manage: whoever holds one reads concerns or grants those who do.
PRIVILEGED_ACCOUNTS = frozenset({Role.dsl, Role.deputy_dsl, Role.admin})

_CONCERNS: sa.Table = Concern.__table__  # type: ignore[attr-defined]


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
    """403 unless the caller works the DSL desk (a DSL or deputy DSL): triage, cases, a
    pupil's chronology, exports, reports."""
    if principal.kind != "user" or not principal.is_dsl:
        raise Forbidden("Only DSLs and deputy DSLs may do this.")


def require_guidance_author(principal: Principal) -> None:
    """403 unless the caller drafts and publishes the school's own guidance (the DSL
    desk). Drafts are read by their school's DSL desk only: every query of them is scoped
    to the caller's school (``services.guidance.drafts``)."""
    if principal.kind != "user" or principal.role not in GUIDANCE_AUTHORS:
        raise Forbidden("Only DSLs and deputy DSLs may draft and publish the school's guidance.")


def require_mis_sync(principal: Principal) -> None:
    """403 unless the caller may sync the school's MIS records (the MIS account, admins)."""
    if principal.role not in MIS_SYNC:
        raise _refused()


def mis_may_manage_account(role: str) -> bool:
    """Whether an MIS sync (by the MIS account or an admin alike) may link a record to,
    rename or deactivate an account with ``role``: never a DSL's, deputy DSL's or admin's.
    Otherwise whoever controls the MIS's data could take over or lock out the people who
    read concerns and grant access; their accounts are managed by people only."""
    return role not in PRIVILEGED_ACCOUNTS


def require_admin(principal: Principal) -> None:
    """403 unless the caller administers the school's accounts (an admin)."""
    require_user_role(principal, ADMINS)


def require_audit_reader(principal: Principal) -> None:
    """403 unless the caller may read the school's audit log (admins, the DSL desk)."""
    require_user_role(principal, AUDIT_READERS)


# The entities an admin's view of the audit log may name: administration, never a child's
# record (a pupil, a concern, an addendum, a case).
ADMIN_VISIBLE_ENTITIES = frozenset(
    {"user", "service_account", "school", "sync_run", "audit_log", "guidance_draft"}
)


def sees_which_child(principal: Principal) -> bool:
    """Whether the caller may see which child an audit event is about: the DSL desk."""
    return principal.kind == "user" and principal.is_dsl


def audit_entity_shown(principal: Principal, entity_type: str | None) -> bool:
    """Whether the caller's view of the audit log shows an event's entity id."""
    return sees_which_child(principal) or entity_type in ADMIN_VISIBLE_ENTITIES


def require_audit_filter(
    principal: Principal, *, pupil_id: object, entity_type: str | None, entity_id: object
) -> None:
    """403 when a caller who may not see which child an event is about filters by a pupil,
    or by the id of a record that is not administration's."""
    if sees_which_child(principal):
        return
    if pupil_id is not None or (
        entity_id is not None and entity_type not in ADMIN_VISIBLE_ENTITIES
    ):
        raise Forbidden(
            "Only DSLs and deputy DSLs may see which child an audit event is about; filter "
            "by a user, a service account or a sync run instead."
        )


def require_person(principal: Principal) -> None:
    """403 for a service account where only a person has what is asked for (a profile)."""
    if principal.kind != "user":
        raise Forbidden("Service accounts have no user profile.")


def may_search_leavers(principal: Principal) -> bool:
    """Pupils who have left are for the DSL desk only."""
    return principal.is_dsl


# --- concerns ---------------------------------------------------------------------------------


def _concern_rule(school_id: Any, recorded_by: Any | None) -> list[ColumnElement[bool]]:
    """The rule itself: the concerns of the school, and, for staff (``recorded_by`` given),
    only those they recorded. ``school_id`` and ``recorded_by`` are values or bound
    parameters."""
    rule: list[ColumnElement[bool]] = [_CONCERNS.c.school_id == school_id]
    if recorded_by is not None:
        rule.append(_CONCERNS.c.recorded_by == recorded_by)
    return rule


def concern_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """The concerns ``principal`` may see, as conditions on the concern table for a query
    built per request: 403 for admins and MIS accounts, who never see concern content.
    A concern outside the scope is as good as absent (the caller answers 404)."""
    require_recorder(principal)
    return _concern_rule(principal.school_id, None if principal.is_dsl else principal.id)


class ScopedConcerns:
    """A prepared select of concerns built once for each way ``concern_scope``'s rule can
    read (the whole school; the caller's own), from ``build``, which places the rule's
    conditions in its select. ``statement_for`` picks the one for a caller, with its
    parameters."""

    __slots__ = ("own_only", "whole_school")

    def __init__(self, build: Callable[[list[ColumnElement[bool]]], Any]) -> None:
        school: sa.BindParameter[uuid.UUID] = sa.bindparam("school_id")
        self.whole_school = Prepared(build(_concern_rule(school, None)))
        self.own_only = Prepared(build(_concern_rule(school, sa.bindparam("user_id"))))

    def statement_for(
        self, principal: Principal, parameters: dict[str, Any]
    ) -> tuple[Prepared, dict[str, Any]]:
        """The statement reading only what ``principal`` may see (403 as ``concern_scope``),
        and ``parameters`` with the scope's own."""
        require_recorder(principal)
        parameters["school_id"] = principal.school_id
        if principal.is_dsl:
            return self.whole_school, parameters
        parameters["user_id"] = principal.id
        return self.own_only, parameters

    def for_dsl_desk(
        self, principal: Principal, parameters: dict[str, Any]
    ) -> tuple[Prepared, dict[str, Any]]:
        """``statement_for`` for what only the DSL desk reads (a pupil's chronology): 403
        for anyone else."""
        require_dsl(principal)
        return self.statement_for(principal, parameters)


def sees_assessment(principal: Principal) -> bool:
    """Whether the caller sees the DSLs' assessment of a concern (risk level, assignee,
    hours waiting): the DSL desk only; staff see where it is (its status)."""
    return principal.is_dsl


def require_assessment_filter(principal: Principal, *, filtered: bool) -> None:
    """403 when a caller who may not see the DSLs' assessment filters by it (``filtered``):
    a filter would tell them what the DSL decided."""
    if filtered and not sees_assessment(principal):
        raise Forbidden("Only DSLs and deputy DSLs may filter by risk level or assignee.")
