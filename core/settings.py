"""Settings, read once from ``CONCERNLOG_*`` environment variables."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.mail import SmtpServer

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
    # How many server processes share this machine's cores: ``serve --workers N`` sets it
    # for its workers; set it when running several ``serve`` on one host. Each process
    # hashes passwords on its share of half the cores (``core.passwords``).
    server_processes: int = Field(default=1, ge=1)

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
    # How recent a sign-in with a one-time code must be for the most sensitive reads and
    # writes (RFC 9470 step-up: a chronology, an export, destroying a file).
    step_up_minutes: int = Field(default=15, ge=1, le=24 * 60)

    # The Ed25519 private key (PEM) that signs audit checkpoints (ADR 0054): a file kept off
    # the database, never in it or in the repository.
    audit_checkpoint_key_file: Path | None = None

    # Alerts (issue 18): email through SMTP, sent by the delivery worker, never by a request.
    # smtp://host:port, smtp+starttls://user:password@host:587 or smtps://...; unset: no
    # emails (events are still recorded for the other channels).
    smtp_url: SecretStr | None = None
    mail_from: str = "concernlog <concernlog@localhost>"
    smtp_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    # Where people sign in: the link every alert email carries (the web client, /app/).
    public_base_url: str = "http://127.0.0.1:8000"
    # ``concernlog serve`` runs a delivery worker in each server process unless this is
    # false (then run ``concernlog worker`` beside it).
    serve_worker: bool = True
    # How often an idle worker looks for work, and how long a claimed delivery is held
    # before another worker may try it again (longer than an SMTP exchange can take).
    worker_poll_seconds: float = Field(default=1.0, ge=0.05, le=60)
    worker_lease_seconds: float = Field(default=120.0, ge=1, le=3600)
    # The daily digest goes out in the first worker pass after this hour, UK time.
    alert_digest_hour: int = Field(default=7, ge=0, le=23)
    # Each webhook post's timeout (connect, read, write), in seconds.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # The desk's stream (GET /desk/stream): how often it looks for new events, and how
    # often an idle stream sends a keep-alive comment.
    stream_poll_seconds: float = Field(default=1.0, ge=0.05, le=30)
    stream_ping_seconds: float = Field(default=15.0, ge=0.5, le=300)

    # Attachments (issue 20, ADR 0105): where the sealed files live (any fsspec URL: a
    # directory, s3://bucket/prefix with s3fs installed...) and the AES-256 key they are
    # sealed with (base64 or hex of 32 bytes). Production refuses to start without a key;
    # elsewhere one is derived from CONCERNLOG_SECRET_KEY.
    files_url: str = "./data/files"
    files_key: SecretStr | None = None
    # Transfers (issue 21, docs/adr/0085): the ES256 key that signs transfer bundles, as a
    # PEM (or a file holding one); development makes one under ./data/ when neither is set,
    # production refuses to start without one. Retired keys (a JWKS of public keys) stay
    # published for bundles they signed; trusted keys (a JWKS) are other services' keys
    # whose bundles this service imports.
    transfer_signing_key: SecretStr | None = None
    transfer_signing_key_file: Path | None = None
    transfer_retired_keys_file: Path | None = None
    transfer_trusted_keys_file: Path | None = None

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
        """Refuse configurations that cannot work anywhere, and those that must never
        serve real data."""
        self._check_alerts()
        if self.files_key is not None:
            self.files_key_bytes  # noqa: B018 - refuses a malformed key at start-up
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
        if self.transfer_signing_key is None and self.transfer_signing_key_file is None:
            raise ConfigurationError(
                "CONCERNLOG_TRANSFER_SIGNING_KEY (an EC P-256 private key, PEM) or "
                "CONCERNLOG_TRANSFER_SIGNING_KEY_FILE is needed in production: it signs the "
                "files sent to other schools"
            )
        if self.jwt_algorithm != "HS256" and self.jwt_private_key_file is None:
            raise ConfigurationError(
                f"CONCERNLOG_JWT_ALGORITHM={self.jwt_algorithm} needs "
                "CONCERNLOG_JWT_PRIVATE_KEY_FILE (a PEM private key)"
            )
        if self.files_key is None:
            raise ConfigurationError(
                "CONCERNLOG_FILES_KEY is missing: production seals attachments with a key "
                "of its own (32 random bytes, base64: `openssl rand -base64 32`)"
            )

    def _check_alerts(self) -> None:
        if self.smtp_url is not None:
            try:
                SmtpServer.from_url(self.smtp_url.get_secret_value())
            except ValueError as error:
                raise ConfigurationError(f"CONCERNLOG_SMTP_URL: {error}") from None
        if self.worker_lease_seconds <= self.smtp_timeout_seconds:
            raise ConfigurationError(
                "CONCERNLOG_WORKER_LEASE_SECONDS must be longer than "
                "CONCERNLOG_SMTP_TIMEOUT_SECONDS, or a slow delivery could be sent twice"
            )
        if not self.public_base_url.startswith(("https://", "http://")):
            raise ConfigurationError(
                "CONCERNLOG_PUBLIC_BASE_URL must be an http(s) URL: alert emails link to it"
            )

    @property
    def files_key_bytes(self) -> bytes:
        """The 32-byte key attachments are sealed with: ``CONCERNLOG_FILES_KEY`` (base64 or
        hex), or, outside production, one derived from the server's secret (so a
        development server needs no key file; a new secret makes its files unreadable)."""
        if self.files_key is None:
            label = b"concernlog attachment files key v1"
            return hmac.new(self.secret_key.encode("utf-8"), label, hashlib.sha256).digest()
        text = self.files_key.get_secret_value().strip()
        raw: bytes | None = None
        if len(text) == 64:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = None
        if raw is None:
            try:
                raw = base64.b64decode(
                    text + "=" * (-len(text) % 4),
                    altchars=b"-_" if "-" in text or "_" in text else None,
                    validate=True,
                )
            except (binascii.Error, ValueError):
                raw = None
        if raw is None or len(raw) != 32:
            raise ConfigurationError(
                "CONCERNLOG_FILES_KEY must be 32 bytes, base64 or hex (`openssl rand -base64 32`)"
            )
        return raw

    @property
    def smtp_server(self) -> SmtpServer | None:
        """The SMTP server alerts are sent through, or None when email is off."""
        if self.smtp_url is None:
            return None
        return SmtpServer.from_url(self.smtp_url.get_secret_value())


@lru_cache
def get_settings() -> Settings:
    return Settings()
