"""Domain errors. Services raise these; the app factory maps each to problem+json once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self


class DomainError(Exception):
    """Base of every error a service may raise on purpose.

    ``slug`` becomes the last segment of the problem ``type`` URI, so clients can switch
    on it (for example ``.../mfa-required``).
    """

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    # Most errors undo the request's writes. A few must keep them: a failed login keeps
    # its throttling row and audit event, a refresh-token reuse keeps its revocation.
    keeps_writes: bool = False
    # What the request must leave behind although it fails: work the unit of work runs
    # and commits in a transaction of its own, after the request's own has ended (a
    # refused read's security event, which the rollback of the request's writes must not
    # take with it). Called with the session; set per error (``then``).
    aftermath: Callable[[Any], None] | None = None

    def __init__(
        self,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        self.headers = headers or {}
        self.extra = extra or {}

    def then(self, aftermath: Callable[[Any], None]) -> Self:
        """Give this error ``aftermath`` (see the attribute); returns the error."""
        self.aftermath = aftermath
        return self


class NotFound(DomainError):
    """Absent, or present but not the caller's: the two are never told apart."""

    status, slug, title = 404, "not-found", "Not found"


class Unauthenticated(DomainError):
    status, slug, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str = "A valid bearer token is required.", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class StepUpRequired(Unauthenticated):
    """The caller is signed in, but proved their second factor too long ago for what they
    ask (RFC 9470): the challenge says how recent it must be (``max_age``, seconds)."""

    slug, title = "step-up-required", "A recent sign-in with a one-time code is required"

    def __init__(self, detail: str, *, max_age_seconds: int, **kwargs: Any) -> None:
        kwargs.setdefault(
            "headers",
            {
                "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
                f"max_age={max_age_seconds}"
            },
        )
        super().__init__(detail, **kwargs)


class AuthenticationFailed(Unauthenticated):
    """A sign-in or refresh that failed; what it recorded (the attempt, a revocation)
    is committed even though the request fails."""

    keeps_writes = True


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidInput(DomainError):
    """Well-formed input that breaks a domain rule (a pupil of another school, an unknown
    indicator...). Carries ``errors`` shaped like request validation errors."""

    status, slug, title = 422, "validation-error", "The request is not valid"

    def __init__(
        self,
        detail: str,
        *,
        loc: Sequence[str | int] = (),
        error_type: str = "value_error",
        **kwargs: Any,
    ) -> None:
        extra = kwargs.pop("extra", {}) or {}
        extra.setdefault("errors", [{"loc": ["body", *loc], "msg": detail, "type": error_type}])
        super().__init__(detail, extra=extra, **kwargs)


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(DomainError):
    status, slug, title = 428, "precondition-required", "Precondition required"


class TooManyRequests(DomainError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after_seconds))})
        super().__init__(detail, **kwargs)


class ServiceUnavailable(DomainError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: int = 5, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(retry_after_seconds)})
        super().__init__(detail, **kwargs)


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class StoredFileBroken(DomainError):
    """A stored file failed its integrity check (ADR 0105): never served, never a 500."""

    status, slug, title = 409, "stored-file-integrity", "Stored file failed integrity check"
