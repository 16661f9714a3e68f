"""Tables and their schemas, one module per aggregate. Importing this package registers
every table on ``SQLModel.metadata`` (Alembic's target)."""

from sqlmodel import SQLModel

from models.audit import AuditChainHead, AuditEvent, AuditEventPupil, AuditProbeWindow
from models.base import UTCDateTime, new_id
from models.school import School, SchoolCreate, SchoolPublic
from models.user import LoginAttempt, RefreshToken, Role, ServiceAccount, User

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "AuditEventPupil",
    "AuditProbeWindow",
    "LoginAttempt",
    "RefreshToken",
    "Role",
    "SQLModel",
    "School",
    "SchoolCreate",
    "SchoolPublic",
    "ServiceAccount",
    "UTCDateTime",
    "User",
    "new_id",
]

from models.concern import (
    Addendum,
    Concern,
    ConcernIndicator,
    ConcernPupil,
    IdempotencyKey,
)
from models.pupil import Pupil

__all__ += ["Addendum", "Concern", "ConcernIndicator", "ConcernPupil", "IdempotencyKey", "Pupil"]

from models.mis import MISRecord, SyncRun  # noqa: E402

__all__ += ["MISRecord", "SyncRun"]

from models.case import Case, CaseAction, CaseConcern, CaseDecision, CaseEvent  # noqa: E402
from models.concern import ConcernSearchTerm  # noqa: E402
from models.task import CaseTask  # noqa: E402
from models.triage import ConcernTriage, TriageEvent  # noqa: E402

__all__ += [
    "Case",
    "CaseAction",
    "CaseConcern",
    "CaseDecision",
    "CaseEvent",
    "CaseTask",
    "ConcernSearchTerm",
    "ConcernTriage",
    "TriageEvent",
]

from models.alert import (  # noqa: E402
    AlertDelivery,
    AlertDigest,
    AlertDueNotice,
    AlertEscalation,
    AlertEvent,
    AlertPreference,
    AlertSettings,
)

__all__ += [
    "AlertDelivery",
    "AlertDigest",
    "AlertDueNotice",
    "AlertEscalation",
    "AlertEvent",
    "AlertPreference",
    "AlertSettings",
]

from models.category import ConcernCategory  # noqa: E402
from models.school_guidance import GuidanceDraft, GuidanceVersion  # noqa: E402

__all__ += ["ConcernCategory", "GuidanceDraft", "GuidanceVersion"]

from models.privileged_request import PrivilegedRequest  # noqa: E402

__all__ += ["PrivilegedRequest"]

from models.webhook import Webhook  # noqa: E402

__all__ += ["Webhook"]

from models.subject_access import SubjectAccessExport  # noqa: E402

__all__ += ["SubjectAccessExport"]

from models.profile import PupilProfileVersion  # noqa: E402
from models.referral import Referral, ReferralOutcome, ReferralSettings  # noqa: E402

__all__ += ["PupilProfileVersion", "Referral", "ReferralOutcome", "ReferralSettings"]

from models.attachment import Attachment, BodyMap  # noqa: E402

__all__ += ["Attachment", "BodyMap"]
from models.lifecycle import (  # noqa: E402
    ConcernErrorMark,
    ConcernErrorPupil,
    FileDestruction,
    LegalHold,
    LegalHoldRelease,
    RetentionSetting,
)

__all__ += [
    "ConcernErrorMark",
    "ConcernErrorPupil",
    "FileDestruction",
    "LegalHold",
    "LegalHoldRelease",
    "RetentionSetting",
]

from models.transfer import (  # noqa: E402
    PupilTransfer,
    SchoolClosureDay,
    TransferReceivedRecord,
)

__all__ += ["PupilTransfer", "SchoolClosureDay", "TransferReceivedRecord"]

from models.link import ConcernPlace, Entity  # noqa: E402
from models.pattern import (  # noqa: E402
    PatternFlag,
    PatternFlagEvidence,
    PatternQueue,
    PatternSettings,
)

__all__ += [
    "ConcernPlace",
    "Entity",
    "PatternFlag",
    "PatternFlagEvidence",
    "PatternQueue",
    "PatternSettings",
]
