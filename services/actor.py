"""Who acts, as the audit log records them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit log records them: ids and role only, never a name."""

    type: str  # "user", "service" or "system"
    id: uuid.UUID | None
    role: str | None
    school_id: uuid.UUID
