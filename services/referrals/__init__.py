"""Referrals on a case: to which agency (children's social care and the MASH, the police,
early help, CAMHS, the LADO, Channel, health, another), its reference, when it was made,
and its outcome, recorded then or later (append-only, kept as written).

The DSL desk's alone (``services.access.require_profile_reader``); a case of another
school is a 404, a closed case takes no new referral (409) but does take an outcome. A
referral without an outcome a school-set number of days after it was made
(``PUT /referral-settings``, 10 by default) raises once, in the worker's sweep, a task due
for the case's owner (``overdue.raise_overdue``). Referrals and their outcomes are entries
of the pupil's chronology, and are in the export.

Audit, ids only, with the case's pupil: ``referral.create``, ``referral.outcome``,
``referral.list``; ``task.create`` (the system acting) for a task the sweep sets;
``referral_settings.update``.
"""

from services.referrals.commands import add_referral as add_referral
from services.referrals.commands import list_referrals as list_referrals
from services.referrals.commands import record_outcome as record_outcome
from services.referrals.commands import referrals_for_file as referrals_for_file
from services.referrals.commands import referrals_of_case as referrals_of_case
from services.referrals.overdue import get_referral_settings as get_referral_settings
from services.referrals.overdue import put_referral_settings as put_referral_settings
from services.referrals.overdue import raise_overdue as raise_overdue
