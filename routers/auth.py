"""Signing in and out, and the signed-in user's own MFA enrolment."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response

from api.deps import EnrollingUser, NowDep, RequestIdDep, SessionDep
from api.errors import problem_responses
from models.auth import MfaSetup, MfaVerify, RefreshRequest, TokenResponse
from models.user import Me
from services import auth
from services.auth import TokenIssuer
from services.errors import InvalidInput

router = APIRouter(prefix="/auth", tags=["auth"])


def _issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _answer(tokens: auth.IssuedTokens) -> TokenResponse:
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )


@router.post(
    "/token",
    summary="Sign in: password grant (people) or client credentials (the MIS)",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=problem_responses(401, 422, 429),
)
def token(
    request: Request,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
    grant_type: Annotated[Literal["password", "client_credentials"], Form()],
    username: Annotated[
        str | None, Form(max_length=320, description="Email (password grant)")
    ] = None,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    totp: Annotated[
        str | None, Form(max_length=6, description="6-digit code, once enrolled")
    ] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
) -> TokenResponse:
    issuer = _issuer(request)
    if grant_type == "password":
        if not username or password is None:
            raise InvalidInput("The password grant needs username and password.", loc=["username"])
        tokens = auth.password_grant(
            session,
            issuer,
            email=username,
            password=password,
            totp=totp,
            client_address=_client_address(request),
            now=now,
            request_id=request_id,
        )
    else:
        if not client_id or client_secret is None:
            raise InvalidInput(
                "The client-credentials grant needs client_id and client_secret.", loc=["client_id"]
            )
        tokens = auth.client_credentials_grant(
            session,
            issuer,
            client_id=client_id,
            client_secret=client_secret,
            client_address=_client_address(request),
            now=now,
            request_id=request_id,
        )
    return _answer(tokens)


@router.post(
    "/refresh",
    summary="Swap a refresh token for a new pair (the old one is spent)",
    response_model=TokenResponse,
    responses=problem_responses(401, 422),
)
def refresh(
    body: RefreshRequest,
    request: Request,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> TokenResponse:
    tokens = auth.refresh(
        session, _issuer(request), refresh_token=body.refresh_token, now=now, request_id=request_id
    )
    return _answer(tokens)


@router.post(
    "/logout",
    summary="Sign out: revoke the refresh token's whole family",
    status_code=204,
    responses=problem_responses(422),
)
def logout(
    body: RefreshRequest, session: SessionDep, now: NowDep, request_id: RequestIdDep
) -> Response:
    auth.logout(session, refresh_token=body.refresh_token, now=now, request_id=request_id)
    return Response(status_code=204)


@router.get(
    "/me",
    summary="The signed-in user",
    response_model=Me,
    responses=problem_responses(401, 403),
)
def me(principal: EnrollingUser, session: SessionDep) -> Me:
    return Me.model_validate(auth.current_user(session, principal=principal), from_attributes=True)


@router.post(
    "/mfa/setup",
    summary="Start TOTP enrolment: a new secret and its otpauth:// URI",
    response_model=MfaSetup,
    responses=problem_responses(401, 403, 409),
)
def mfa_setup(principal: EnrollingUser, session: SessionDep, now: NowDep) -> MfaSetup:
    secret, uri = auth.start_mfa_setup(session, principal=principal, now=now)
    return MfaSetup(secret=secret, otpauth_uri=uri)


@router.post(
    "/mfa/verify",
    summary="Finish TOTP enrolment with a current code; sign in again afterwards",
    status_code=204,
    responses=problem_responses(401, 403, 409, 422, 429),
)
def mfa_verify(
    body: MfaVerify,
    request: Request,
    principal: EnrollingUser,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> Response:
    auth.verify_mfa_setup(
        session,
        principal=principal,
        code=body.code,
        client_address=_client_address(request),
        now=now,
        request_id=request_id,
    )
    return Response(status_code=204)
