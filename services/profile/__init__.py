"""A child's safeguarding profile: statuses with their dates, the people in the child's
life (who has parental responsibility) and the professionals around them.

The DSL desk's alone (``services.access.require_profile_reader``; a pupil of another
school is a 404). A ``PUT`` replaces the whole profile by writing its next version; every
version is kept (``profile_history``, newest first, who and when) and is a "profile
changed" entry of the pupil's chronology. Concurrent edits are refused as every change of
a versioned record is: ``If-Match`` with the ETag ``"profile-<version>"`` (428 without, 412
when stale). The statuses that hold today are on the DSL's pupil record and in the export.

Audit, ids only, in the same transaction: ``profile.read``, ``profile.update`` (entity the
version written) and ``profile.history``, each with the pupil.

Modules: ``versions`` (stored versions and how they read), ``commands`` (the operations,
and ``erase_profile`` for the destruction of a child's file), ``file_sections`` (the
export's profile and referral sections, PDF and CSV).
"""

from services.profile.commands import ReadProfile as ReadProfile
from services.profile.commands import erase_profile as erase_profile
from services.profile.commands import get_profile as get_profile
from services.profile.commands import profile_for_file as profile_for_file
from services.profile.commands import profile_history as profile_history
from services.profile.commands import put_profile as put_profile
from services.profile.versions import current_profile as current_profile
from services.profile.versions import statuses_on as statuses_on
