"""The chronology's entries about a child's context (issue 20): a profile version written,
a referral made, a referral's outcome. Names are those stored on the rows (ADR 0056)."""

from __future__ import annotations

import json
from typing import Any

from models.chronology import ChronologyType
from models.referral import AGENCY_NAMES, ReferralAgency
from services.chronology.entries import API_BASE, SUMMARY_MAX


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_MAX else flat[: SUMMARY_MAX - 1] + "…"


def _by(row: Any) -> dict[str, Any]:
    return {"id": row.recorded_by, "display_name": row.recorded_by_name}


def _agency(value: str) -> str:
    return AGENCY_NAMES[ReferralAgency(value)]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def profile_item(version: Any) -> dict[str, Any]:
    """A profile version written: its statuses and how many people and professionals."""
    pupil_href = f"{API_BASE}/pupils/{version.pupil_id}/profile"
    if version.erased_at is not None:
        what = "its content erased with the child's file"
    else:
        statuses = json.loads(version.statuses)
        kinds = "; ".join(
            f"{s['kind'].replace('_', ' ')} from {s['from']}"
            + (f" to {s['to']}" if s.get("to") else "")
            for s in statuses
        )
        people = _plural(len(json.loads(version.people)), "person")
        people = people.replace("persons", "people")
        professionals = _plural(len(json.loads(version.professionals)), "professional")
        what = f"statuses: {kinds or 'none'}; {people}; {professionals}"
    return dict(
        id=version.id,
        type=ChronologyType.profile_changed,
        occurred_at=version.recorded_at,
        recorded_at=version.recorded_at,
        by=_by(version),
        source=dict(type="profile", id=version.pupil_id, href=pupil_href),
        summary=_shorten(f"Safeguarding profile, version {version.version}: {what}"),
        details=dict(version=version.version),
    )


def referral_item(referral: Any) -> dict[str, Any]:
    ref = f" (reference {referral.reference})" if referral.reference else ""
    return dict(
        id=referral.id,
        type=ChronologyType.referral,
        occurred_at=referral.made_at,
        recorded_at=referral.recorded_at,
        by=_by(referral),
        source=dict(type="case", id=referral.case_id, href=f"{API_BASE}/cases/{referral.case_id}"),
        summary=_shorten(f"Referral to {_agency(referral.agency)}{ref}"),
        details=dict(
            agency=referral.agency, reference=referral.reference, case_id=referral.case_id
        ),
    )


def referral_outcome_item(outcome: Any) -> dict[str, Any]:
    """``outcome``: a row of referral_outcome with its referral's agency and reference."""
    ref = f" (reference {outcome.reference})" if outcome.reference else ""
    return dict(
        id=outcome.id,
        type=ChronologyType.referral_outcome,
        occurred_at=outcome.outcome_at,
        recorded_at=outcome.recorded_at,
        by=_by(outcome),
        source=dict(type="case", id=outcome.case_id, href=f"{API_BASE}/cases/{outcome.case_id}"),
        summary=_shorten(
            f"Outcome of the referral to {_agency(outcome.agency)}{ref}: {outcome.outcome}"
        ),
        details=dict(
            agency=outcome.agency,
            reference=outcome.reference,
            outcome=outcome.outcome,
            referral_id=outcome.referral_id,
            case_id=outcome.case_id,
        ),
    )


CONTEXT_ITEMS = {
    "profile": profile_item,
    "referral": referral_item,
    "referral_outcome": referral_outcome_item,
}
