"""Who may see and do what: every rule in one place.

The routers' role guards (``api.deps``) decide first, from these same role sets; every
service asks this module again, so a route that forgot its guard still refuses. A rule
about *which records* a caller may see (their school; for staff, only what they recorded)
is a scope here too, and every query that reads those records takes it from here: the
queries built per request (``concern_scope``) and the prepared statements built once
(``ScopedConcerns``) alike.

- Recorders (staff, DSLs, deputy DSLs) log concerns and add to them; staff see only the
  concerns they recorded, DSLs and deputies every concern of their school.
- Names on the desk: the DSL desk's concern, case and task representations name the
  pupils (display name, year group) beside their ids; a member of staff's never gain
  them (they see ids, as they always have).
- The DSLs' assessment of a concern (risk level, assignee, hours waiting) is theirs: staff
  see its status only, and may not filter by it.
- The DSL desk (DSLs and deputies): triage, cases, chronologies, exports, reports, the
  inbox and the staff list. A concern or case is given to an active member of the DSL
  desk of the school only.
- Tasks: the DSL desk sets them on a case, for any active member of staff of the school
  who signs in and reads their own work (staff, DSLs, deputies; never an admin, who never
  sees case content). A member of staff sees the tasks given to them (title, due date,
  status), never the case; the DSL desk sees every task of the school. A task is
  completed by its assignee or the DSL desk.
- The school's own guidance: the DSL desk drafts and publishes it, and reads the school's
  drafts (another school's are as good as absent); what it publishes anyone may read.
- A child's context (issue 20): the safeguarding profile (statuses, people, professionals)
  and referrals on cases are the DSL desk's alone; a profile's current statuses show on the
  DSL desk's pupil record only (``pupil_fields_shown``), never on an admin's.
- Pupil search: recorders; pupils who have left: the DSL desk only.
- Pupil records: admins and the DSL desk may create and correct them. What a pupil answer
  shows is chosen by role (``pupil_fields_shown``): anyone who is not the DSL desk (an
  admin) reads the pupil's record as the school office and the MIS keep it, and nothing of
  the child's safeguarding file (whether they have concerns or cases, how many, when the
  last was, any flag or status a DSL keeps): the same answer for a child with a file and
  a child without. MIS answers (results, warnings, counts, sweeps) are decided from the
  MIS's own data alone.
- MIS sync: the MIS service account and admins, never concern content; a sync never
  links to, renames or deactivates a privileged account (a DSL's, deputy DSL's or admin's).
- Administration (users, roles, passwords, MFA resets, service accounts): admins. An
  admin's own password and MFA are never reset through administration (a stolen access
  token alone would do it): everyone changes their own with their current password and,
  once enrolled, a one-time code (``/auth/password``, ``/auth/mfa/reset``).
- Changes that make or keep someone a DSL (granting ``dsl`` or ``deputy_dsl``; setting the
  password or clearing the MFA of an account that holds one of those roles or is being
  granted one) are never an admin's alone: an admin asks, and a DSL or deputy DSL of the
  school approves, never one about their own account or one they asked for themselves
  (ADR 0080). Admins and the DSL desk read the requests; admins withdraw them.
- The audit log (ids and actions, never content): admins and the DSL desk; an admin's
  view never says which child an event is about (no pupil ids, no ids of children's
  records), and an admin may not filter by them.
- A profile (``/auth/me``, MFA enrolment, one's own alert emails): people, not service
  accounts.
- Alerts carry no content. The school's alerts go to the active members of its DSL desk
  (a task's to its assignee); urgent ones to every one of them, whatever their own
  choice. The school's alert settings and the deliveries given up on (dead letters) are
  the DSL desk's.
- Attachments and body maps (ADR 0105, 0106) are on a concern or a case. On a concern:
  whoever may read the concern (its recorder, the DSL desk) adds them and reads them; on
  a case: the DSL desk only. Anyone else: as good as absent (404). None is ever changed
  or deleted through the API.
- Step-up (RFC 9470): a pupil's chronology, exports, subject-access exports, destroying
  a file and sending one (its transfer, its bundle) need a sign-in with a one-time code
  in the last ``CONCERNLOG_STEP_UP_MINUTES`` (15); service accounts never step up.
- Retention, legal holds, destruction, entered-in-error marks: the DSL desk's.
- Transfers (issue 21): the sending school's DSL desk sends and reads what it sent; the
  receiving school's (on this service, or importing a bundle addressed to it) reads what
  was sent to it, confirms receipt and links it to its pupil. Nobody else's
  (``transfer_scope``: 404). The school's closure days are the DSL desk's.
- Pattern flags, the school's pattern rules, entities and links: the DSL desk's.
- Admins and MIS accounts never see concern content (a 403, not a 404: the refusal is
  about their role, not about a record).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from core.errors import Forbidden, StepUpRequired
from db.prepared import Prepared
from models.concern import Concern
from models.transfer import PupilTransfer
from models.user import DSL_ROLES, Role
from services.principal import Principal

RECORDERS = frozenset({Role.staff, Role.dsl, Role.deputy_dsl})
DSL_DESK = DSL_ROLES
ASSIGNEES = DSL_DESK
TASK_ASSIGNEES = RECORDERS
TASK_READERS = RECORDERS
PUPIL_SEARCHERS = RECORDERS
PUPIL_EDITORS = frozenset({Role.admin, Role.dsl, Role.deputy_dsl})
MIS_SYNC = frozenset({Role.mis, Role.admin})
ADMINS = frozenset({Role.admin})
AUDIT_READERS = frozenset({Role.admin, Role.dsl, Role.deputy_dsl})
# Who is told of the school's alerts (a concern logged, an urgent one, the digest): the DSL
# desk, its active members only.
ALERT_RECIPIENTS = DSL_DESK
GUIDANCE_AUTHORS = DSL_DESK
PROFILE_READERS = DSL_DESK
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


def require_profile_reader(principal: Principal) -> None:
    """A child's safeguarding profile and the referrals on their cases: the DSL desk."""
    require_user_role(principal, PROFILE_READERS)


def require_recent_second_factor(
    principal: Principal, *, now: datetime, max_age: timedelta
) -> None:
    """Step-up (RFC 9470): 401 (problem type ending ``step-up-required``, with the
    ``WWW-Authenticate`` challenge naming ``max_age``) unless the caller signed in with a
    one-time code (the token's ``auth_time``) no more than ``max_age`` before ``now``. A
    refresh keeps the sign-in's ``auth_time``; ``POST /auth/step-up`` gives a new one. A
    service account never passes (403): it has no second factor to prove."""
    if principal.kind != "user":
        raise Forbidden("Service accounts cannot step up; this needs a person.")
    auth_time = principal.auth_time
    if auth_time is None or now - auth_time > max_age or auth_time - now > _CLOCK_SKEW:
        raise StepUpRequired(
            "This needs a sign-in with a one-time code in the last "
            f"{int(max_age.total_seconds() // 60)} minutes: send a current code to "
            "POST /api/v1/auth/step-up and use the new access token.",
            max_age_seconds=int(max_age.total_seconds()),
        )


# An ``auth_time`` this far ahead of the service's clock is still taken (clocks of several
# servers): anything further is not a time this service issued.
_CLOCK_SKEW = timedelta(minutes=1)


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


SELF_SERVICE_REQUIRED = "self-service-required"

# --- changes that need a DSL (docs/adr/0080-privileged-changes-need-a-dsl.md) ------------

# Roles that read every concern: granting one, and changing the password or MFA of an
# account that holds one, needs a DSL's approval.
DSL_APPROVED_ROLES = DSL_ROLES
PRIVILEGED_REQUEST_READERS = frozenset({Role.admin, Role.dsl, Role.deputy_dsl})
PRIVILEGED_REQUEST_DECIDERS = DSL_DESK
ANOTHER_DSL_REQUIRED = "another-dsl-required"


def grant_needs_a_dsl(role: str) -> bool:
    """Whether giving an account ``role`` waits for a DSL's approval: a role that reads
    every concern. Otherwise an admin could make themselves a DSL in effect (create or
    promote an account they can sign in as)."""
    return role in DSL_APPROVED_ROLES


def credentials_need_a_dsl(role: str, *, being_granted: bool) -> bool:
    """Whether an admin's change of an account's password or MFA waits for a DSL's
    approval: the account reads every concern (``role``), or is about to (a grant of such
    a role is pending, ``being_granted``). Otherwise an admin could reset a DSL's
    credentials and sign in as them."""
    return role in DSL_APPROVED_ROLES or being_granted


def require_privileged_request_reader(principal: Principal) -> None:
    """403 unless the caller may read the requests for changes that need a DSL: admins
    (who make them) and the DSL desk (who decide them)."""
    require_user_role(principal, PRIVILEGED_REQUEST_READERS)


def require_decider(principal: Principal, *, user_id: uuid.UUID, requested_by: uuid.UUID) -> None:
    """403 unless the caller may approve or reject a request about the account
    ``user_id`` made by ``requested_by``: a DSL or deputy DSL, deciding neither about their
    own account nor on a request they made themselves (problem type ending
    ``another-dsl-required``). A second person always takes part."""
    require_dsl(principal)
    if principal.id in (user_id, requested_by):
        raise Forbidden(
            "A request about your own account, or one you made, is decided by another DSL "
            "or deputy DSL of the school (or, if there is none, by the service's operator "
            "at the command line).",
            slug=ANOTHER_DSL_REQUIRED,
        )


def require_withdrawer(principal: Principal) -> None:
    """403 unless the caller may withdraw a pending request: an admin (who make them)."""
    require_admin(principal)


def require_someone_else(principal: Principal, user_id: uuid.UUID, *, instead: str) -> None:
    """403 (problem type ending ``self-service-required``) when an administrative change
    of credentials (a password, an MFA reset) is aimed at the caller's own account: that
    needs proof an access token does not carry, and ``instead`` says where to go."""
    if principal.kind == "user" and principal.id == user_id:
        raise Forbidden(instead, slug=SELF_SERVICE_REQUIRED)


def require_audit_reader(principal: Principal) -> None:
    """403 unless the caller may read the school's audit log (admins, the DSL desk)."""
    require_user_role(principal, AUDIT_READERS)


# The entities an admin's view of the audit log may name: administration, never a child's
# record (a pupil, a concern, an addendum, a case).
ADMIN_VISIBLE_ENTITIES = frozenset(
    {
        "user",
        "service_account",
        "school",
        "sync_run",
        "audit_log",
        "alert_settings",
        "guidance_draft",
        "privileged_request",
        "webhook",
        "school_calendar",
    }
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


def require_alert_settings(principal: Principal) -> None:
    """403 unless the caller may read and change the school's alert settings and see the
    deliveries given up on: the DSL desk."""
    require_dsl(principal)


def require_webhooks(principal: Principal) -> None:
    """403 unless the caller may make, list and delete the school's webhooks and see
    their deliveries: the DSL desk."""
    require_dsl(principal)


def require_patterns(principal: Principal) -> None:
    """403 unless the caller may read and acknowledge pattern flags, change the school's
    pattern rules, record entities of concern and read the links between children: the
    DSL desk (docs/adr/0110, 0111)."""
    require_dsl(principal)


def receives_school_alerts(role: str) -> bool:
    """Whether an active account with ``role`` is told of the school's alerts."""
    return role in ALERT_RECIPIENTS


def may_search_leavers(principal: Principal) -> bool:
    """Pupils who have left are for the DSL desk only."""
    return principal.is_dsl


# --- pupil records ---------------------------------------------------------------------------

# A pupil's record as the school office and the MIS keep it: who the child is and where they
# are in school. Whoever manages pupils may read it; it tells nothing of the child's
# safeguarding file. A field added to the pupil answer that is not one of these is the DSL
# desk's alone (``pupil_fields_shown``), and must have a default for everyone else's answer.
PUPIL_RECORD_FIELDS = frozenset(
    {
        "id",
        "given_name",
        "family_name",
        "preferred_name",
        "display_name",
        "date_of_birth",
        "upn",
        "year_group",
        "registration_group",
        "status",
        "left_on",
        "source",
        "external_id",
        "created_at",
        "updated_at",
    }
)


def sees_safeguarding_file(principal: Principal) -> bool:
    """Whether the caller may know anything of a child's safeguarding file (that it
    exists, what is in it): the DSL desk."""
    return principal.kind == "user" and principal.is_dsl


def reads_case_files(principal: Principal) -> bool:
    """Whether the caller may attach files to a case and read those attached to one: the
    DSL desk (a member of staff is answered as if there were no such file)."""
    return sees_safeguarding_file(principal)


def pupil_fields_shown(principal: Principal) -> frozenset[str] | None:
    """The fields of a pupil answer the caller may read: every field for the DSL desk
    (None), the pupil's record (``PUPIL_RECORD_FIELDS``) for anyone else (an admin
    creating or correcting a pupil), whatever the child's file holds."""
    return None if sees_safeguarding_file(principal) else PUPIL_RECORD_FIELDS


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


# --- names on the desk, and tasks ---------------------------------------------------------


def sees_pupil_names(principal: Principal) -> bool:
    """Whether the caller's concern, case and task representations name the pupils
    (``pupils`` beside ``pupil_ids``): the DSL desk only."""
    return principal.kind == "user" and principal.is_dsl


def require_task_reader(principal: Principal) -> None:
    """403 unless the caller may read tasks (their own; the DSL desk: every one of the
    school): staff, DSLs, deputies."""
    require_user_role(principal, TASK_READERS)


def task_scope(principal: Principal, assigned_to: uuid.UUID | None) -> uuid.UUID | None:
    """Whose tasks the caller may list, given the ``assigned_to`` filter they asked for:
    the DSL desk, anyone's (``None``: the whole school's, unless filtered); anyone else,
    their own only (a 403 when they filter by someone else, rather than an empty page
    that would pass for "nobody has tasks")."""
    require_task_reader(principal)
    if principal.is_dsl:
        return assigned_to
    if assigned_to is not None and assigned_to != principal.id:
        raise Forbidden("You may list only the tasks given to you.")
    return principal.id


def may_see_task(principal: Principal, *, school_id: uuid.UUID, assigned_to: uuid.UUID) -> bool:
    """Whether the caller may see (and complete) a task: its assignee, or the DSL desk of
    its school. Anyone else is answered as if it did not exist (404)."""
    if principal.kind != "user" or principal.school_id != school_id:
        return False
    return principal.is_dsl or (principal.role in TASK_READERS and principal.id == assigned_to)


def sees_task_case(principal: Principal) -> bool:
    """Whether the caller sees a task's case, pupils and completion note: the DSL desk
    only; the assignee sees the task itself (title, due date, status)."""
    return principal.kind == "user" and principal.is_dsl


_TRANSFERS: sa.Table = PupilTransfer.__table__  # type: ignore[attr-defined]


def transfer_scope(principal: Principal) -> ColumnElement[bool]:
    """The transfers the caller's school may see: those it sent and those sent to it (a
    DSL desk's; the services ask ``require_dsl`` first)."""
    school = principal.school_id
    return sa.or_(_TRANSFERS.c.from_school_id == school, _TRANSFERS.c.to_school_id == school)
