"""MIS sync: which record of the school's MIS is which of our pupils or staff accounts, and
the sync runs that keep them in step.

The bookkeeping lives here, not on ``pupil`` or ``user_account``: a ``mis_record`` row says
that the MIS ``source`` knows one of our pupils (or users) as ``external_id``, when the MIS
last changed it (``source_updated_at``, which is what makes an older record ``stale``) and
a hash of what it last said (``content_hash``, which is what makes a repeat ``unchanged``).

A ``sync_run`` groups the batches of one walk through the MIS. A *full* run says "this is
the whole roster": completing it marks the source's active pupils it did not see as left,
within a safety limit. A *delta* run only tags and counts its batches.

The package: ``tables`` (the bookkeeping and the runs), ``records`` (the model each
pushed record is validated with, one record at a time, so that one bad record is reported
as ``rejected`` instead of failing its whole batch), ``bodies`` (the requests of
``/api/v1/mis``) and ``answers`` (its responses).
"""

from models.mis.answers import (
    BatchResult as BatchResult,
)
from models.mis.answers import (
    LeaverOutcome as LeaverOutcome,
)
from models.mis.answers import (
    LeaversResult as LeaversResult,
)
from models.mis.answers import (
    RecordResult as RecordResult,
)
from models.mis.answers import (
    SyncCounts as SyncCounts,
)
from models.mis.answers import (
    SyncRunPublic as SyncRunPublic,
)
from models.mis.bodies import (
    Leavers as Leavers,
)
from models.mis.bodies import (
    PupilBatch as PupilBatch,
)
from models.mis.bodies import (
    StaffBatch as StaffBatch,
)
from models.mis.bodies import (
    SyncRunComplete as SyncRunComplete,
)
from models.mis.bodies import (
    SyncRunCreate as SyncRunCreate,
)
from models.mis.bodies import (
    WondeStudentsPage as WondeStudentsPage,
)
from models.mis.records import (
    MISPupilRecord as MISPupilRecord,
)
from models.mis.records import (
    MISStaffRecord as MISStaffRecord,
)
from models.mis.records import (
    is_clean_text as is_clean_text,
)
from models.mis.tables import (
    EXTERNAL_ID_MAX as EXTERNAL_ID_MAX,
)
from models.mis.tables import (
    MAX_BATCH as MAX_BATCH,
)
from models.mis.tables import (
    SOURCE_PATTERN as SOURCE_PATTERN,
)
from models.mis.tables import (
    LeaverResult as LeaverResult,
)
from models.mis.tables import (
    MISKind as MISKind,
)
from models.mis.tables import (
    MISRecord as MISRecord,
)
from models.mis.tables import (
    SyncResult as SyncResult,
)
from models.mis.tables import (
    SyncRun as SyncRun,
)
from models.mis.tables import (
    SyncRunKind as SyncRunKind,
)
from models.mis.tables import (
    SyncRunStatus as SyncRunStatus,
)
