"""Settings, read once from ``CONCERNLOG_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "insecure-development-key-change-me-000000000000"  # noqa: S105
DEFAULT_DATABASE_URL = "sqlite:///./data/concernlog.db"


class ConfigurationError(RuntimeError):
    """The configuration cannot be used; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCERNLOG_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    # PostgreSQL: requests using the database at once (``db.engine.Database``); by default the
    # cores this process may use plus one, at most the pool size.
    database_concurrency: int | None = Field(default=None, ge=1)
    database_busy_timeout_ms: int = Field(default=5000, ge=0)

    secret_key: str = DEFAULT_SECRET_KEY
    # Comma-separated in the environment: CONCERNLOG_CORS_ORIGINS=https://a,https://b
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Tokens (issue 3).
    jwt_issuer: str = "concernlog"
    jwt_audience: str = "concernlog-api"
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_key_id: str = "default"
    jwt_private_key_file: Path | None = None
    # Extra verification keys for rotation: "kid=path/to/public.pem,kid2=..." (asymmetric)
    # or "kid=secret" (HS256).
    jwt_verification_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 90)
    # How long a just-spent refresh token still answers with the successor it was given
    # (a lost response, two refreshes racing); 0 turns the grace window off (ADR 0047).
    refresh_grace_seconds: int = Field(default=30, ge=0, le=300)
    # How long an Idempotency-Key's first answer stands (every idempotent POST): long
    # enough for a phone's offline queue (ADR 0051).
    idempotency_hours: int = Field(default=72, ge=1, le=24 * 30)
    # How long a request for a change that needs a DSL (a DSL role granted, a DSL's password
    # or MFA reset) waits for a DSL's decision before it expires (ADR 0080).
    privileged_request_days: int = Field(default=7, ge=1, le=30)

    # The Ed25519 private key (PEM) that signs audit checkpoints (ADR 0054): a file kept off
    # the database, never in it or in the repository.
    audit_checkpoint_key_file: Path | None = None

    # /metrics (issue 8): when set, scrapes must send "Authorization: Bearer <token>".
    # Without it, production answers /metrics to loopback callers only.
    metrics_token: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            origins = data.get("cors_origins")
            if isinstance(origins, str):
                data["cors_origins"] = [o.strip() for o in origins.split(",") if o.strip()]
            keys = data.get("jwt_verification_keys")
            if isinstance(keys, str):
                pairs = (item.split("=", 1) for item in keys.split(",") if item.strip())
                data["jwt_verification_keys"] = {k.strip(): v.strip() for k, v in pairs}
        return data

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_usable(self) -> None:
        """Refuse configurations that must never serve real data."""
        if self.env != "production":
            return
        # The secret signs HS256 tokens and keys the refresh grace window's derivation.
        if self.jwt_algorithm == "HS256" or self.refresh_grace_seconds > 0:
            if not self.secret_key or self.secret_key == DEFAULT_SECRET_KEY:
                raise ConfigurationError(
                    "CONCERNLOG_SECRET_KEY is missing or still the development default; "
                    "set a random secret of at least 32 characters before running in production"
                )
            if len(self.secret_key) < 32:
                raise ConfigurationError(
                    "CONCERNLOG_SECRET_KEY is shorter than 32 characters; "
                    "use a random secret of at least 32 characters in production"
                )
        if self.jwt_algorithm != "HS256" and self.jwt_private_key_file is None:
            raise ConfigurationError(
                f"CONCERNLOG_JWT_ALGORITHM={self.jwt_algorithm} needs "
                "CONCERNLOG_JWT_PRIVATE_KEY_FILE (a PEM private key)"
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
