"""The authenticated caller, as services see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models.user import DSL_ROLES, Role
from services.actor import Actor


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID
    school_id: uuid.UUID
    role: Role
    kind: str  # "user" or "service"
    mfa_enrollment_only: bool = False
    # When the person last signed in with a one-time code (the token's ``auth_time``);
    # None for a service account, or a token from a sign-in without one.
    auth_time: datetime | None = None

    @property
    def is_dsl(self) -> bool:
        """A DSL or deputy DSL: may read every concern and case of the school."""
        return self.role in DSL_ROLES

    @property
    def actor(self) -> Actor:
        return Actor(type=self.kind, id=self.id, role=self.role.value, school_id=self.school_id)
