"""Identity: who the caller is, re-checked on every request."""

from __future__ import annotations

from sqlmodel import Session

from api.security import AccessClaims
from models.user import PRIVILEGED_ROLES, Role, ServiceAccount, User
from services.errors import Unauthenticated
from services.principal import Principal


def principal_for_token(session: Session, claims: AccessClaims) -> Principal:
    """Re-read the token's subject. Refuses (401) a subject that no longer exists, is
    inactive, moved school, or whose token version has changed since issue."""
    refused = Unauthenticated("The bearer token is no longer valid; sign in again.")
    if claims.subject_type == "service":
        account = session.get(ServiceAccount, claims.subject)
        if (
            account is None
            or not account.active
            or account.school_id != claims.school_id
            or account.token_version != claims.token_version
        ):
            raise refused
        return Principal(
            id=account.id, school_id=account.school_id, role=Role(account.role), kind="service"
        )
    user = session.get(User, claims.subject)
    if (
        user is None
        or not user.active
        or user.school_id != claims.school_id
        or user.token_version != claims.token_version
        or user.role != claims.role
    ):
        raise refused
    role = Role(user.role)
    enrolling = role in PRIVILEGED_ROLES and not user.mfa_enrolled
    return Principal(
        id=user.id,
        school_id=user.school_id,
        role=role,
        kind="user",
        mfa_enrollment_only=enrolling or claims.mfa_enrollment_only,
    )
