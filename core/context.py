"""Per-request context shared by middleware, logging and error handlers."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The acting user's id once authenticated, for the access log line (never names).
actor_id_var: ContextVar[str | None] = ContextVar("actor_id", default=None)
