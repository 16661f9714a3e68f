"""MIS sync: idempotent upserts of pupils and staff, leavers, and sync runs with a sweep.

Who may call: the school's ``mis`` service account and its ``admin`` (the functions that
take a ``RequestContext`` ask ``services.access.require_mis_sync``); the command line
imports files through the ``*_as`` functions as a system actor. Every query is scoped to
one school.

How a pushed record is judged (``mis_record`` holds what the MIS last told us):

- ``rejected``: it does not validate (each record on its own, so the rest of the batch goes
  on), its source is not its run's, it repeats an earlier record of the batch, or, rarely,
  it could not be saved because a concurrent sync wrote the same record first.
- ``stale``: its ``source_updated_at`` is older than the one we hold. Nothing changes.
- ``unchanged``: the same content hash as last time, not older, and (for a pupil) not marked
  as left since. Only our bookkeeping moves (the newer time, the run that saw it).
- ``updated`` or ``created`` otherwise.

Audit: ``mis.sync_run_started``, ``mis.sync_run_abandoned``, ``mis.sync_run_completed``,
``mis.pupils_received`` / ``mis.staff_received`` (one per batch), ``mis.pupil_created``,
``mis.pupil_updated``, ``mis.pupil_linked``, ``mis.pupil_restored``, ``mis.pupil_left``,
``mis.staff_created``, ``mis.staff_updated``, ``mis.staff_linked``,
``mis.staff_deactivated``; each tagged with the run id when there is one. Ids only.

The modules, by what they hold:

- ``runs``: sync runs (start, read, complete with the sweep);
- ``pupils`` and ``pupil_writes``: pupil batches and leavers (deciding, then writing);
- ``staff``: staff batches and leavers (account linking and deactivation);
- ``validation``: judging one pushed record (UPNs, optional fields, future timestamps);
- ``records``: our ``mis_record`` bookkeeping and a batch's audit events;
- ``wonde`` and ``files``: other shapes of pupil data (a Wonde page; CSV and OneRoster);
- ``outcomes``: what a call answers; ``dates``: the school's calendar.
"""

from services.mis.files import CSV_COLUMNS as CSV_COLUMNS
from services.mis.files import ImportFileError as ImportFileError
from services.mis.files import ImportReport as ImportReport
from services.mis.files import import_rows as import_rows
from services.mis.files import read_demographics as read_demographics
from services.mis.files import read_oneroster_users as read_oneroster_users
from services.mis.files import read_pupil_csv as read_pupil_csv
from services.mis.outcomes import BatchOutcome as BatchOutcome
from services.mis.outcomes import LeaversOutcome as LeaversOutcome
from services.mis.outcomes import RecordOutcome as RecordOutcome
from services.mis.pupils import mark_pupils_left as mark_pupils_left
from services.mis.pupils import mark_pupils_left_as as mark_pupils_left_as
from services.mis.pupils import upsert_pupils as upsert_pupils
from services.mis.pupils import upsert_pupils_as as upsert_pupils_as
from services.mis.runs import complete_run as complete_run
from services.mis.runs import complete_run_as as complete_run_as
from services.mis.runs import get_run as get_run
from services.mis.runs import start_run as start_run
from services.mis.runs import start_run_as as start_run_as
from services.mis.staff import mark_staff_left as mark_staff_left
from services.mis.staff import upsert_staff as upsert_staff
from services.mis.validation import check_upn as check_upn
from services.mis.wonde import upsert_wonde_students as upsert_wonde_students
from services.mis.wonde import wonde_student_records as wonde_student_records
