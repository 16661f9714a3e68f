"""Request and response shapes of the authentication endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
