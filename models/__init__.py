"""Tables and their schemas, one module per aggregate. Importing this package registers
every table on ``SQLModel.metadata`` (Alembic's target)."""

from models.base import SQLModel, UTCDateTime, new_id, utcnow
from models.school import School, SchoolCreate, SchoolPublic

__all__ = [
    "SQLModel",
    "School",
    "SchoolCreate",
    "SchoolPublic",
    "UTCDateTime",
    "new_id",
    "utcnow",
]
