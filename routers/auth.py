"""Signing in and out, and the signed-in user's own MFA enrolment."""

from __future__ import annotations

from asyncio import sleep
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter, ValidationError

from api.deps import EnrollingContext, PersonContext, SignInTurn, UnitOfWorkDep
from api.errors import OAuthRequestInvalid, problem_responses
from core.clock import Clock
from core.context import request_id_var
from core.errors import DomainError
from db.unit_of_work import UnitOfWork
from models.auth import (
    ClientCredentialsGrant,
    MfaReset,
    MfaSetup,
    MfaVerify,
    PasswordChange,
    PasswordGrant,
    RefreshRequest,
    StepUpRequest,
    TokenRequest,
    TokenResponse,
)
from models.user import Me
from services import auth
from services.auth import TokenIssuer

router = APIRouter(prefix="/auth", tags=["auth"])


def _issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _now(request: Request) -> datetime:
    """The request's one "now", for the routes that issue tokens and so have no caller
    (and no ``RequestContext``) yet."""
    clock: Clock = request.app.state.clock
    return clock.now()


async def _hold_failures() -> AsyncIterator[None]:
    """A refused sign-in answers only after its delay (ADR 0052), awaited on the event loop.
    Declared before the sign-in turn and the unit of work, it is left after them: the
    sleep holds neither a hashing turn nor a database connection."""
    try:
        yield
    except auth.SignInFailed as failed:
        if failed.delay_seconds > 0:
            await sleep(failed.delay_seconds)
        raise


HeldFailures = Annotated[None, Depends(_hold_failures, scope="function")]


def _answer(tokens: auth.IssuedTokens) -> TokenResponse:
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )


_TOKEN_REQUEST: TypeAdapter[PasswordGrant | ClientCredentialsGrant] = TypeAdapter(TokenRequest)
_GRANTS = {"password", "client_credentials"}
_FORM = "application/x-www-form-urlencoded"
# What request.form() reads; multipart is not what OAuth 2 clients send, but it always worked.
_FORM_TYPES = {_FORM, "multipart/form-data"}


class NotAForm(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


async def _token_request(request: Request) -> PasswordGrant | ClientCredentialsGrant:
    """The sign-in form, read and validated here (not by FastAPI's form parameters) so that
    its two shapes can be documented as the two grants they are. Anything but a form (a
    JSON body) is a 415 that says what to send, rather than a 422 about missing fields."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in _FORM_TYPES:
        raise NotAForm(
            f"Send the sign-in request as a form, Content-Type: {_FORM} "
            "(grant_type=password&username=...&password=...), as OAuth 2.0 clients do; "
            f"{media_type} is not accepted here.",
            extra={"error": "invalid_request"},
        )
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    try:
        return _TOKEN_REQUEST.validate_python(fields)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            # A field's location starts with the grant it was checked against; the client
            # knows which grant it sent, so only the field is named (the password grant's
            # `password` field is a field, not the grant).
            loc = list(error["loc"])
            if loc and loc[0] in _GRANTS:
                loc = loc[1:]
            loc = loc or ["grant_type"]
            errors.append({**error, "loc": ("body", *loc)})
        # RFC 6749 section 5.2: a grant type we do not offer, or a malformed request.
        unsupported = any(error["type"] == "union_tag_invalid" for error in errors)
        oauth_error = "unsupported_grant_type" if unsupported else "invalid_request"
        raise OAuthRequestInvalid(errors, oauth_error=oauth_error) from None


def _token_body() -> dict[str, Any]:
    grants = [
        PasswordGrant.model_json_schema(ref_template="#/components/schemas/{model}"),
        ClientCredentialsGrant.model_json_schema(ref_template="#/components/schemas/{model}"),
    ]
    return {
        "required": True,
        "content": {
            _FORM: {
                "schema": {"oneOf": grants},
                "examples": {
                    grant["properties"]["grant_type"]["const"]: {
                        "summary": grant["title"],
                        "value": grant["examples"][0],
                    }
                    for grant in grants
                },
            }
        },
    }


@router.post(
    "/token",
    summary="Sign in: password grant (people) or client credentials (the MIS)",
    description=(
        "A form (`application/x-www-form-urlencoded`), as OAuth 2 clients send it. Wrong "
        "credentials are a 401, the same whether or not the account exists; an enrolled "
        "user without a right `totp` gets a 401 whose problem type ends `mfa-required`. "
        "Repeated failures are a 429 with `Retry-After`. The client-credentials grant "
        "gets no refresh token. Every error also carries the OAuth 2.0 `error` code "
        "(`invalid_grant`, `invalid_client`, `unsupported_grant_type`, `invalid_request`; "
        "`temporarily_unavailable` with the 429); a body that is not a form (JSON) is a 415."
    ),
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=problem_responses(401, 415, 422, 429),
    openapi_extra={"requestBody": _token_body()},
)
async def issue_token(
    _held: HeldFailures,
    _turn: SignInTurn,
    request: Request,
    uow: UnitOfWorkDep,
    grant: Annotated[PasswordGrant | ClientCredentialsGrant, Depends(_token_request)],
) -> TokenResponse:
    issuer = _issuer(request)
    client_address = _client_address(request)
    now = _now(request)
    request_id = request_id_var.get()

    def work(session: UnitOfWork) -> auth.IssuedTokens:
        if isinstance(grant, PasswordGrant):
            return auth.password_grant(
                session,
                issuer,
                email=grant.username,
                password=grant.password,
                totp=grant.totp,
                client_address=client_address,
                now=now,
                request_id=request_id,
            )
        return auth.client_credentials_grant(
            session,
            issuer,
            client_id=grant.client_id,
            client_secret=grant.client_secret,
            client_address=client_address,
            now=now,
            request_id=request_id,
        )

    # A password grant verifies an argon2id hash: never on the event loop.
    return _answer(await uow.run(work, cpu_bound=True))


@router.post(
    "/refresh",
    summary="Swap a refresh token for a new pair (the old one is spent)",
    description=(
        "The old refresh token is spent. Sent again within the grace window "
        "(`CONCERNLOG_REFRESH_GRACE_SECONDS`, 30 s by default) while its successor is unused, "
        "it answers with that same refresh token and a new access token; reused later, it "
        "revokes its whole family. A refused token is a 401 with the OAuth 2.0 `error` "
        "`invalid_grant`."
    ),
    response_model=TokenResponse,
    responses=problem_responses(401, 422),
)
async def refresh_token(
    body: RefreshRequest, request: Request, uow: UnitOfWorkDep
) -> TokenResponse:
    issuer, now, request_id = _issuer(request), _now(request), request_id_var.get()
    tokens = await uow.run(
        lambda session: auth.refresh(
            session, issuer, refresh_token=body.refresh_token, now=now, request_id=request_id
        )
    )
    return _answer(tokens)


@router.post(
    "/logout",
    summary="Sign out: revoke the refresh token's whole family",
    status_code=204,
    responses=problem_responses(422),
)
async def logout(body: RefreshRequest, request: Request, uow: UnitOfWorkDep) -> Response:
    now, request_id = _now(request), request_id_var.get()
    await uow.run(
        lambda session: auth.logout(
            session, refresh_token=body.refresh_token, now=now, request_id=request_id
        )
    )
    return Response(status_code=204)


@router.get(
    "/me",
    summary="The signed-in user",
    response_model=Me,
    responses=problem_responses(401, 403),
)
async def get_me(context: EnrollingContext, uow: UnitOfWorkDep) -> Me:
    user = await uow.run(lambda session: auth.current_user(session, principal=context.principal))
    return Me.model_validate(user, from_attributes=True)


@router.post(
    "/step-up",
    summary="Prove the second factor again: a new token pair for the most sensitive reads",
    description=(
        "RFC 9470 step-up. Reading a chronology, exporting a file, destroying one (and "
        "the other routes that say so) need a sign-in with a one-time code in the last "
        "`CONCERNLOG_STEP_UP_MINUTES` (15); otherwise they answer 401 with a problem type "
        "ending `step-up-required` and `WWW-Authenticate: Bearer "
        'error="insufficient_user_authentication", max_age=900`. Send a current code '
        "here with the access token you have: the answer is a new token pair (a new "
        "refresh token too) whose `auth_time` is now; no password is needed. A refresh "
        "keeps the sign-in's `auth_time`. A wrong code is a 422 naming `totp` and counts "
        "towards the sign-in throttle (429 with `Retry-After`); not enrolled in MFA: 409."
    ),
    response_model=TokenResponse,
    responses=problem_responses(401, 403, 409, 422, 429),
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def step_up(
    body: StepUpRequest, request: Request, context: PersonContext, uow: UnitOfWorkDep
) -> TokenResponse:
    issuer, client_address = _issuer(request), _client_address(request)
    tokens = await uow.run(
        lambda session: auth.step_up(
            session, issuer, context, totp=body.totp, client_address=client_address
        )
    )
    return _answer(tokens)


@router.post(
    "/mfa/setup",
    summary="Start TOTP enrolment: a new secret and its otpauth:// URI",
    response_model=MfaSetup,
    responses=problem_responses(401, 403, 409),
)
async def start_mfa_setup(context: EnrollingContext, uow: UnitOfWorkDep) -> MfaSetup:
    secret, uri = await uow.run(lambda session: auth.start_mfa_setup(session, context))
    return MfaSetup(secret=secret, otpauth_uri=uri)


@router.post(
    "/mfa/verify",
    summary="Finish TOTP enrolment with a current code; sign in again afterwards",
    status_code=204,
    responses=problem_responses(401, 403, 409, 422, 429),
)
async def verify_mfa_setup(
    body: MfaVerify, request: Request, context: EnrollingContext, uow: UnitOfWorkDep
) -> Response:
    client_address = _client_address(request)
    await uow.run(
        lambda session: auth.verify_mfa_setup(
            session, context, code=body.code, client_address=client_address
        )
    )
    return Response(status_code=204)


@router.post(
    "/mfa/reset",
    summary="Clear your own TOTP enrolment to enrol a new device (password and a current code)",
    description=(
        "Needs the current password and a current code from the authenticator app; an "
        "access token alone is not enough. Every token of the account ends: sign in again "
        "and enrol the new device (`/auth/mfa/setup`, `/auth/mfa/verify`). A wrong "
        "password or code is a 422 naming the field and counts towards the sign-in "
        "throttle (429 with `Retry-After`). A lost device cannot give a code: another "
        "admin resets it with `POST /users/{id}/reset-mfa`."
    ),
    status_code=204,
    responses=problem_responses(401, 403, 409, 422, 429),
)
async def mfa_reset(
    _turn: SignInTurn,
    body: MfaReset,
    request: Request,
    context: EnrollingContext,
    uow: UnitOfWorkDep,
) -> Response:
    client_address = _client_address(request)
    # The password is verified with argon2id: off the event loop.
    await uow.run(
        lambda session: auth.reset_own_mfa(
            session,
            context,
            current_password=body.current_password,
            totp=body.totp,
            client_address=client_address,
        ),
        cpu_bound=True,
    )
    return Response(status_code=204)


@router.post(
    "/password",
    summary="Change your own password (the current one, and a current code once enrolled)",
    description=(
        "Needs the current password and, once enrolled in MFA (always, for DSLs, deputies "
        "and admins), a current code as `totp`; an access token alone is not enough, and "
        "the administrators' `POST /users/{id}/password` refuses the caller's own account. "
        "The new password must meet the password policy (422 on `new_password`). Every "
        "token of the account ends: sign in again with the new password. A wrong password "
        "or code is a 422 naming the field and counts towards the sign-in throttle (429 "
        "with `Retry-After`)."
    ),
    status_code=204,
    responses=problem_responses(401, 403, 422, 429),
    # Its guard reads the bearer token itself (``PersonContext``) on this public router:
    # the document must still say that it takes one.
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def change_password(
    _turn: SignInTurn,
    body: PasswordChange,
    request: Request,
    context: PersonContext,
    uow: UnitOfWorkDep,
) -> Response:
    client_address = _client_address(request)
    # Two argon2id hashes (the current password's check, the new one's): off the event loop.
    await uow.run(
        lambda session: auth.change_own_password(
            session,
            context,
            current_password=body.current_password,
            new_password=body.new_password,
            totp=body.totp,
            client_address=client_address,
        ),
        cpu_bound=True,
    )
    return Response(status_code=204)
