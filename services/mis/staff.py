"""Staff accounts from the MIS: batch upserts and leavers.

- Accounts are created with role ``staff`` and no password: they cannot sign in until an
  admin sets one. A role is never changed. A new MIS record whose email belongs to an
  existing account of the school that no other MIS record claims is linked to it
  (``linked_existing_account``), names updated, role and password untouched. An email of
  an account in another school, or claimed by another MIS record, is ``rejected``.
- A sync never links to, renames or deactivates a privileged account (a DSL's, deputy
  DSL's or admin's; ``services.access.mis_may_manage_account``), whoever calls it: a new
  record with such an account's email is ``rejected``, a record already linked to one
  (linked before the rule, or promoted since) is ``unchanged``, both with
  ``privileged_account_not_synced``; the leavers call answers ``last_admin_kept`` (the
  closest answer it has: the account is kept active) or ``already_inactive``. So no sync
  deactivates a school's last admin either.
- Deactivation (a ``leaving_date`` before today, or the staff leavers call) bumps the
  account's token version and revokes its refresh tokens: its tokens stop working at once.
  A sync never reactivates an account: reactivating is an admin's decision
  (``account_inactive`` says it is still off).
- Staff are never swept by a full run: a broken page walk must not lock people out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, select

from models.mis import (
    LeaverResult,
    MISKind,
    MISRecord,
    MISStaffRecord,
    SyncResult,
    SyncRun,
)
from models.user import Role, User
from services.access import mis_may_manage_account, require_mis_sync
from services.audit import AuditEntry
from services.auth import revoke_all_refresh_tokens
from services.context import RequestContext
from services.mis.outcomes import BatchOutcome, LeaversOutcome, RecordOutcome
from services.mis.records import (
    content_hash,
    mark_seen,
    mis_records,
    plan_with_values,
    record_events,
    refused_write_reason,
)
from services.mis.runs import add_counts, open_run_for_batch
from services.mis.validation import (
    check_batch_size,
    check_left_on,
    raw_external_id,
    validate_staff,
)
from services.school_calendar import school_date

DISPLAY_NAME_MAX = 200
PRIVILEGED_ACCOUNT_NOT_SYNCED = "privileged_account_not_synced"
_PRIVILEGED_REASON = (
    "email: belongs to a DSL's, deputy DSL's or admin's account; the MIS never links to, "
    "renames or deactivates DSL, deputy DSL or admin accounts"
)


def _display_name(record: MISStaffRecord) -> str:
    return f"{record.given_name} {record.family_name}"[:DISPLAY_NAME_MAX]


def _deactivate(session: Session, user: User, *, now: datetime) -> None:
    """Deactivate an account the MIS may manage and end its tokens at once."""
    user.active = False
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=now)


def _staff_hash(record: MISStaffRecord) -> str:
    return content_hash(
        {
            "email": str(record.email).lower(),
            "given_name": record.given_name,
            "family_name": record.family_name,
            "leaving_date": record.leaving_date,
        }
    )


@dataclass
class _StaffChange:
    user: User
    actions: list[str]


def _upsert_one_staff(
    session: Session,
    *,
    record: MISStaffRecord,
    outcome: RecordOutcome,
    stored: MISRecord | None,
    school_id: uuid.UUID,
    run: SyncRun | None,
    now: datetime,
) -> _StaffChange | None:
    """Decide and write one staff record (in the caller's savepoint)."""
    email = str(record.email).lower()
    record_hash = _staff_hash(record)
    leaving = record.leaving_date is not None and record.leaving_date < school_date(now)
    actions: list[str] = []

    if stored is not None:
        user = session.get(User, stored.entity_id)
        if user is None or user.school_id != school_id:
            outcome.reason = "external_id: its account no longer exists"
            return None
        if not mis_may_manage_account(user.role):
            # Our bookkeeping keeps the content last applied, so that it is applied if the
            # account is ever an ordinary one again.
            outcome.result = SyncResult.unchanged
            outcome.warnings.append(PRIVILEGED_ACCOUNT_NOT_SYNCED)
            mark_seen(stored, run)
            session.add(stored)
            return None
        if record.source_updated_at < stored.source_updated_at:
            outcome.result = SyncResult.stale
            mark_seen(stored, run)
            session.add(stored)
            return None
        if stored.content_hash != record_hash:
            if email != user.email:
                clash = session.exec(select(User.id).where(User.email == email)).first()
                if clash is not None:
                    outcome.reason = "email: belongs to another account"
                    return None
                user.email = email
            user.display_name = _display_name(record)
            user.updated_at = now
            session.add(user)
            actions.append("mis.staff_updated")
        stored.content_hash = record_hash
        stored.source_updated_at = max(stored.source_updated_at, record.source_updated_at)
        stored.updated_at = now
    else:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is not None:
            if user.school_id != school_id:
                outcome.reason = "email: belongs to an account that cannot be linked"
                return None
            if not mis_may_manage_account(user.role):
                outcome.reason = _PRIVILEGED_REASON
                outcome.warnings.append(PRIVILEGED_ACCOUNT_NOT_SYNCED)
                return None
            claimed = session.exec(
                select(MISRecord.id).where(
                    MISRecord.school_id == school_id,
                    MISRecord.kind == MISKind.staff.value,
                    MISRecord.entity_id == user.id,
                )
            ).first()
            if claimed is not None:
                outcome.reason = "email: its account is linked to another MIS record"
                return None
            user.display_name = _display_name(record)
            user.updated_at = now
            session.add(user)
            outcome.warnings.append("linked_existing_account")
            actions.append("mis.staff_linked")
        else:
            user = User(
                school_id=school_id,
                email=email,
                display_name=_display_name(record),
                role=Role.staff.value,
                password_hash=None,
                created_at=now,
                updated_at=now,
            )
            session.add(user)
            actions.append("mis.staff_created")
        stored = MISRecord(
            school_id=school_id,
            kind=MISKind.staff.value,
            source=record.source,
            external_id=record.external_id,
            entity_id=user.id,
            source_updated_at=record.source_updated_at,
            content_hash=record_hash,
            created_at=now,
            updated_at=now,
        )
    mark_seen(stored, run)
    session.add(stored)

    if leaving and user.active:
        session.flush()  # the new account must exist before its tokens are revoked
        _deactivate(session, user, now=now)
        outcome.warnings.append("account_deactivated")
        actions.append("mis.staff_deactivated")
    elif not user.active and not leaving:
        outcome.warnings.append("account_inactive")

    if "mis.staff_created" in actions:
        outcome.result = SyncResult.created
    elif actions:
        outcome.result = SyncResult.updated
    else:
        outcome.result = SyncResult.unchanged
    return _StaffChange(user=user, actions=actions)


def upsert_staff(
    session: Session,
    context: RequestContext,
    *,
    records: Sequence[Any],
    run_id: uuid.UUID | None = None,
) -> BatchOutcome:
    """Upsert up to 500 staff accounts of the caller's school, keyed by (source,
    external_id), for the school's MIS service account or admin (403 otherwise); one
    result per record, in order (see ``services.mis``). Records ``mis.staff_received``
    and one event per change."""
    require_mis_sync(context.principal)
    actor, now, request_id = context.actor, context.now, context.request_id
    check_batch_size(records)
    school_id = actor.school_id
    plan_with_values(session)
    run = open_run_for_batch(session, school_id=school_id, run_id=run_id)
    validated: list[tuple[RecordOutcome, MISStaffRecord | None]] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(records):
        outcome = RecordOutcome(
            index=index, external_id=raw_external_id(raw), result=SyncResult.rejected
        )
        record, reason = validate_staff(raw, now)
        if record is not None and run is not None and record.source != run.source:
            reason = f"source: this run's records come from {run.source!r}"
        if record is not None and (record.source, record.external_id) in seen:
            reason = "external_id: repeats an earlier record of this batch"
        if record is None or reason is not None:
            outcome.reason = reason
            validated.append((outcome, None))
            continue
        seen.add((record.source, record.external_id))
        outcome.external_id = record.external_id
        validated.append((outcome, record))

    stored = mis_records(session, school_id=school_id, kind=MISKind.staff, keys=seen)
    changes: list[_StaffChange] = []
    for outcome, record in validated:
        if record is None:
            continue
        try:
            with session.begin_nested():
                change = _upsert_one_staff(
                    session,
                    record=record,
                    outcome=outcome,
                    stored=stored.get((record.source, record.external_id)),
                    school_id=school_id,
                    run=run,
                    now=now,
                )
                session.flush()
        except (IntegrityError, DataError) as exc:
            outcome.result, outcome.warnings = SyncResult.rejected, []
            outcome.reason = refused_write_reason(exc)
            continue
        if change is not None:
            changes.append(change)

    outcome_all = BatchOutcome(run_id=run.id if run else None, results=[o for o, _ in validated])
    add_counts(run, "staff", outcome_all)
    events = [
        AuditEntry("mis.staff_received", "sync_run" if run else None, run.id if run else None)
    ]
    events.extend(
        AuditEntry(action, "user", change.user.id)
        for change in changes
        for action in change.actions
    )
    record_events(session, actor=actor, events=events, now=now, request_id=request_id, run=run)
    return outcome_all


def mark_staff_left(
    session: Session,
    context: RequestContext,
    *,
    source: str,
    external_ids: Sequence[str],
    left_on: date | None,
    run_id: uuid.UUID | None = None,
) -> LeaversOutcome:
    """Deactivate the school's staff accounts that ``source`` knows by these ids, at once:
    their access tokens stop working on the next request and their refresh tokens are
    revoked. ``left_on`` may not be in the future (422). A privileged account (a DSL's,
    deputy DSL's or admin's) is never deactivated: it answers ``last_admin_kept`` (kept
    active), so the school's last admin is kept too. Records ``mis.staff_deactivated``."""
    require_mis_sync(context.principal)
    school_id, now = context.principal.school_id, context.now
    check_left_on(left_on, now)
    plan_with_values(session)
    run = open_run_for_batch(session, school_id=school_id, run_id=run_id)
    ids = [external_id.strip() for external_id in external_ids]
    stored = mis_records(
        session, school_id=school_id, kind=MISKind.staff, keys=[(source, i) for i in ids]
    )
    results: list[tuple[str, LeaverResult]] = []
    events: list[AuditEntry] = []
    for external_id in ids:
        mis_record = stored.get((source, external_id))
        user = session.get(User, mis_record.entity_id) if mis_record is not None else None
        if user is None or user.school_id != school_id:
            results.append((external_id, LeaverResult.not_found))
            continue
        if not user.active:
            results.append((external_id, LeaverResult.already_inactive))
            continue
        if not mis_may_manage_account(user.role):
            # The leavers answer has no warnings (changing its shape would change the
            # contract); ``last_admin_kept`` is the one that says "kept active on purpose".
            results.append((external_id, LeaverResult.last_admin_kept))
            continue
        _deactivate(session, user, now=now)
        results.append((external_id, LeaverResult.deactivated))
        events.append(AuditEntry("mis.staff_deactivated", "user", user.id))
    record_events(
        session, actor=context.actor, events=events, now=now, request_id=context.request_id, run=run
    )
    return LeaversOutcome(results=results)
