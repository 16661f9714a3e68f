"""Request and response shapes of the authentication endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.user import PASSWORD_MIN_LENGTH, StorableText


def _not_nullable(schema: dict[str, Any]) -> None:
    # A form field is absent or a string: there is no null to send.
    schema.update(next(b for b in schema.pop("anyOf") if b.get("type") == "string"))
    schema.pop("default", None)


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImRlZmF1bHQifQ.e30.c2lnbmF0dXJl",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "3q2-7wJxq0mZ7T3bJcVbY1m0m7f6V0M9w3i2T1nQ0kY",
                }
            ]
        }
    )

    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str | None = Field(
        default=None, description="Absent for the client-credentials grant"
    )


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"refresh_token": "3q2-7wJxq0mZ7T3bJcVbY1m0"}]},
    )

    refresh_token: str = Field(min_length=1, max_length=512)


class MfaSetup(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "secret": "JBSWY3DPEHPK3PXP",
                    "otpauth_uri": "otpauth://totp/concernlog:dsl%40fictional-school.example"
                    "?secret=JBSWY3DPEHPK3PXP&issuer=concernlog",
                }
            ]
        }
    )

    secret: str
    otpauth_uri: str


class MfaVerify(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "492039"}]})

    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


CurrentPassword = Annotated[
    str,
    Field(min_length=1, max_length=1024, description="The password the account signs in with now"),
]
TotpCode = Annotated[
    str,
    Field(
        pattern=r"^\d{6}$",
        description="The current 6-digit code of the authenticator app (each code works once)",
    ),
]


class PasswordChange(BaseModel):
    """The signed-in user changes their own password: proof of the current one, and of
    the authenticator once enrolled (DSLs, deputies and admins always are)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "current_password": "a-long-fictional-passphrase",
                    "new_password": "another-fictional-passphrase-kept-well",
                    "totp": "492039",
                }
            ]
        },
    )

    current_password: CurrentPassword
    new_password: str = Field(
        min_length=1,
        max_length=1024,
        description=(
            f"At least {PASSWORD_MIN_LENGTH} characters, not one of the most common "
            "passwords, and hard to guess (a passphrase of several uncommon words is)"
        ),
        json_schema_extra={"minLength": PASSWORD_MIN_LENGTH},
    )
    totp: str | None = Field(
        default=None,
        pattern=r"^\d{6}$",
        description="The current 6-digit code of the authenticator app: required once MFA "
        "is enrolled (always, for DSLs, deputies and admins)",
    )


class MfaReset(BaseModel):
    """The signed-in user clears their own MFA enrolment to enrol a new device."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "a-long-fictional-passphrase", "totp": "492039"}]
        },
    )

    current_password: CurrentPassword
    totp: TotpCode


class StepUpRequest(BaseModel):
    """A signed-in person proves the second factor again (RFC 9470 step-up)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"totp": "492039"}]})

    totp: TotpCode


class PasswordGrant(BaseModel):
    """A person signs in with their email and password (and, once enrolled, a TOTP code)."""

    model_config = ConfigDict(
        title="Password grant",
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "password",
                    "username": "jo.lead@fictional-school.example",
                    "password": "a-long-fictional-passphrase",
                    "totp": "492039",
                }
            ]
        },
    )

    grant_type: Literal["password"]
    username: StorableText = Field(min_length=1, max_length=320, description="The user's email")
    password: str = Field(max_length=1024)
    totp: str | None = Field(
        default=None,
        max_length=6,
        description="The 6-digit code of the authenticator app, once MFA is enrolled",
        json_schema_extra=_not_nullable,
    )


class ClientCredentialsGrant(BaseModel):
    """The school's MIS integration signs in as its service account."""

    model_config = ConfigDict(
        title="Client credentials grant",
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "client_credentials",
                    "client_id": "cl_3f9a1c2e7b6d",
                    "client_secret": "cs_fictional_0123456789abcdef",
                }
            ]
        },
    )

    grant_type: Literal["client_credentials"]
    client_id: StorableText = Field(min_length=1, max_length=64)
    client_secret: str = Field(max_length=256)


TokenRequest = Annotated[PasswordGrant | ClientCredentialsGrant, Field(discriminator="grant_type")]
