"""The export's sections about a child's context: the safeguarding profile and the
referrals, for the PDF (``pdf_profile``, ``pdf_referrals``: drawn on the export's own PDF
with its ``heading``, ``paragraph`` and ``facts``) and the CSV (``profile_csv_rows``,
``referral_csv_rows``: rows in the export's columns). The JSON document carries both as they are
(``PupilFile.profile``, ``PupilFile.referrals``).

Nothing here imports the export (``services.export`` calls these): each section shapes its
own text, and guards its own CSV cells against spreadsheet formulas as the export does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Protocol

from core.clock import utcnow
from models.chronology import PupilFile
from models.profile import ProfilePublic
from models.profile_status import ProfileStatus
from models.referral import AGENCY_NAMES, ReferralPublic
from services.export_text import format_when
from services.school_calendar import school_date

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class FilePDF(Protocol):
    """What a section draws with: the export's PDF (``services.export_pdf``)."""

    def heading(self, text: str, size: int = 13) -> None: ...
    def paragraph(self, text: str) -> None: ...
    def facts(self, rows: Iterable[tuple[str, str]]) -> None: ...


def _when(moment: datetime) -> str:
    return format_when(moment)  # the school's local time, with its offset


def _iso(moment: datetime) -> str:
    return format_when(moment)


def _label(value: str) -> str:
    return value.replace("_", " ")


def status_text(status: ProfileStatus) -> str:
    """A status as a person reads it: "Child protection plan from 2026-09-14 (to ...)"."""
    until = f" to {status.to.isoformat()}" if status.to else " (current)"
    note = f". {status.note}" if status.note else ""
    return f"{_label(status.kind.value).capitalize()} from {status.from_.isoformat()}{until}{note}"


def _contact(phone: str | None, email: str | None) -> str:
    return ", ".join(part for part in (phone, email) if part) or "-"


def referral_text(referral: ReferralPublic) -> str:
    """A referral in full: where, reference, when made, and every outcome as written."""
    ref = f" (reference {referral.reference})" if referral.reference else ""
    lines = [f"Referral to {AGENCY_NAMES[referral.agency]}{ref}, made {_when(referral.made_at)}"]
    if not referral.outcomes:
        lines.append("No outcome recorded.")
    for outcome in referral.outcomes:
        lines.append(f"Outcome ({_when(outcome.outcome_at)}): {outcome.outcome}")
    return "\n".join(lines)


# --- PDF ---------------------------------------------------------------------------------

# A table row cannot be split across pages: long texts are cut into rows of this many
# characters, each continuing the last (as the export's chronology does).
PDF_CHUNK = 800


def _chunks(text: str) -> list[str]:
    return [text[i : i + PDF_CHUNK] for i in range(0, len(text), PDF_CHUNK)] or [""]


def pdf_profile(pdf: FilePDF, profile: ProfilePublic | None, *, today: date | None = None) -> None:
    """The profile section: its statuses (those holding ``today`` marked), people with
    parental responsibility, and professionals."""
    if profile is None:
        return
    if profile.version == 0:
        pdf.heading("Safeguarding profile")
        pdf.paragraph("No safeguarding profile has been written.")
        return
    by = profile.recorded_by.display_name if profile.recorded_by else "-"
    when = _when(profile.recorded_at) if profile.recorded_at else "-"
    pdf.heading(f"Safeguarding profile (version {profile.version})")
    pdf.paragraph(f"Written {when} by {by}.")
    if profile.erased:
        pdf.paragraph("Its content was erased with the child's file.")
        return
    pdf.heading(f"Statuses ({len(profile.statuses)})", 11)
    if profile.statuses:
        day = today or school_date(utcnow())
        pdf.facts(
            ("current" if status.holds_on(day) else "ended", status_text(status))
            for status in profile.statuses
        )
    pdf.heading(f"People ({len(profile.people)})", 11)
    if profile.people:
        pdf.facts(
            (
                person.name,
                f"{person.relationship}; parental responsibility: "
                f"{'yes' if person.parental_responsibility else 'no'}; "
                f"{_contact(person.phone, person.email)}",
            )
            for person in profile.people
        )
    pdf.heading(f"Professionals ({len(profile.professionals)})", 11)
    if profile.professionals:
        pdf.facts(
            (
                professional.name,
                f"{professional.role}, {professional.agency}; "
                f"{_contact(professional.phone, professional.email)}",
            )
            for professional in profile.professionals
        )


def pdf_referrals(pdf: FilePDF, referrals: Sequence[ReferralPublic] | None) -> None:
    """The referrals section: each referral with its outcomes, by when it was made."""
    if referrals is None:
        return
    pdf.heading(f"Referrals ({len(referrals)})")
    if not referrals:
        pdf.paragraph("No referral has been recorded.")
    for n, referral in enumerate(referrals, start=1):
        outcomes = [
            (f"Outcome {i}" if j == 0 else "(continued)", chunk)
            for i, o in enumerate(referral.outcomes, start=1)
            for j, chunk in enumerate(_chunks(f"{_when(o.outcome_at)}: {o.outcome}"))
        ]
        pdf.heading(f"Referral {n}: {AGENCY_NAMES[referral.agency]}", 11)
        pdf.facts(
            [
                ("Reference", referral.reference or "-"),
                ("Made", _when(referral.made_at)),
                (
                    "Recorded",
                    f"{_when(referral.recorded_at)} by {referral.recorded_by.display_name}",
                ),
                ("Case id", str(referral.case_id)),
                *(outcomes or [("Outcome", "none recorded")]),
            ]
        )


# --- CSV ---------------------------------------------------------------------------------


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def profile_csv_rows(document: PupilFile) -> Iterator[list[str]]:
    """The profile's current version: one row per status, person and professional, in
    the export's columns after its section (occurred_at, recorded_at, type, recorded_by,
    entry, source_type, source_id)."""
    profile = document.profile
    if profile is not None and profile.recorded_at is not None and not profile.erased:
        at = _iso(profile.recorded_at)
        by = profile.recorded_by.display_name if profile.recorded_by else ""
        pupil = str(profile.pupil_id)
        for status in profile.statuses:
            row = [status.from_.isoformat(), at, "profile_status", by, status_text(status)]
            yield [_safe(cell) for cell in (*row, "profile", pupil)]
        for person in profile.people:
            text = (
                f"{person.name}, {person.relationship}; parental responsibility: "
                f"{'yes' if person.parental_responsibility else 'no'}; "
                f"{_contact(person.phone, person.email)}"
            )
            yield [_safe(cell) for cell in (at, at, "profile_person", by, text, "profile", pupil)]
        for professional in profile.professionals:
            text = (
                f"{professional.name}, {professional.role}, {professional.agency}; "
                f"{_contact(professional.phone, professional.email)}"
            )
            row = [at, at, "profile_professional", by, text, "profile", pupil]
            yield [_safe(cell) for cell in row]


def referral_csv_rows(document: PupilFile) -> Iterator[list[str]]:
    """Each referral in full, one row, in the same columns."""
    for referral in document.referrals or ():
        row = [
            _iso(referral.made_at),
            _iso(referral.recorded_at),
            "referral_summary",
            referral.recorded_by.display_name,
            referral_text(referral),
            "case",
            str(referral.case_id),
        ]
        yield [_safe(cell) for cell in row]
