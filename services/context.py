"""What every service call is given about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.actor import Actor
from services.guidance import GuidanceLibrary
from services.principal import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller (already authenticated and role-guarded by the HTTP shell), the request's
    one "now" (every timestamp a request writes is this one), its request id (for the audit
    log) and the guidance library. Built once per request by ``api.deps``; the CLI and tests
    build their own."""

    principal: Principal
    now: datetime
    request_id: str | None
    guidance: GuidanceLibrary

    @property
    def actor(self) -> Actor:
        return self.principal.actor
