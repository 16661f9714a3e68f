"""Signing in and out: the OAuth 2.0 token endpoint's grants (``signin``), refresh-token
rotation with its grace window (``refresh``), the signed-in user's MFA enrolment (``mfa``)
and own credentials (``credentials``), and what they all issue (``issuing``)."""

from services.auth.credentials import CredentialsRejected, change_own_password, reset_own_mfa
from services.auth.issuing import (
    IssuedTokens,
    TokenIssuer,
    revoke_all_refresh_tokens,
    successor_key,
)
from services.auth.mfa import current_user, start_mfa_setup, verify_mfa_setup
from services.auth.refresh import logout, refresh
from services.auth.signin import (
    MAX_ACCOUNT_FAILURES,
    MAX_ADDRESS_FAILURES,
    MAX_PAIR_FAILURES,
    THROTTLE_WINDOW,
    WRONG_CLIENT,
    WRONG_CREDENTIALS,
    MfaRequired,
    SignInFailed,
    TotpRejected,
    client_credentials_grant,
    count_recent_failures,
    failure_delay,
    password_grant,
)
from services.auth.stepup import step_up

__all__ = [
    "MAX_ACCOUNT_FAILURES",
    "MAX_ADDRESS_FAILURES",
    "MAX_PAIR_FAILURES",
    "THROTTLE_WINDOW",
    "WRONG_CLIENT",
    "WRONG_CREDENTIALS",
    "CredentialsRejected",
    "IssuedTokens",
    "MfaRequired",
    "SignInFailed",
    "TokenIssuer",
    "TotpRejected",
    "change_own_password",
    "client_credentials_grant",
    "count_recent_failures",
    "current_user",
    "failure_delay",
    "logout",
    "password_grant",
    "refresh",
    "reset_own_mfa",
    "revoke_all_refresh_tokens",
    "start_mfa_setup",
    "step_up",
    "successor_key",
    "verify_mfa_setup",
]
