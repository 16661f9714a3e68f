"""The application factory."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import register_error_handlers
from api.logs import configure_logging, log_unhandled
from api.metrics import metrics_endpoint
from api.middleware import (
    UPLOAD_FRAMING_BYTES,
    ShellMiddleware,
)
from api.openapi import EXPOSED_HEADERS, install_docs, install_openapi
from api.web_client import install_web_client
from core.bundles import BundleKeyError, TransferKeys
from core.clock import Clock
from core.metrics import Metrics
from core.passwords import share_hashing
from core.settings import ConfigurationError, Settings, get_settings
from core.tokens import KeyRing
from db.engine import Database
from guidance import GUIDANCE_DIR
from routers import include_routers
from services import attachments, idempotency
from services.alerts.worker import DeliveryWorker
from services.auth import TokenIssuer, successor_key
from services.guidance import GuidanceLibrary

API_PREFIX = "/api/v1"

DESCRIPTION = """
Safeguarding concern logging for schools in England.

Staff record what they saw, in their own words, with when it happened; the Designated
Safeguarding Lead (DSL) and deputies triage, join concerns up and record what they did and
why. Every read and write of safeguarding content is audited.

Errors are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem details
(`application/problem+json`). Ids are opaque UUIDs. Timestamps are RFC 3339 with an offset.
"""

logger = logging.getLogger("concernlog")


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    run_worker: bool = False,
) -> FastAPI:
    """Build the application. Fails fast, with a one-line reason, on unusable configuration
    or malformed guidance. With ``run_worker``, a delivery worker runs in this process for
    the app's lifetime (``concernlog serve`` asks for one unless
    ``CONCERNLOG_SERVE_WORKER`` is false)."""
    settings = settings or get_settings()
    settings.check_usable()
    guidance = GuidanceLibrary.load(GUIDANCE_DIR)
    owns_database = database is None
    database = database or Database.from_url(
        settings.database_url,
        pool_size=settings.database_pool_size,
        concurrency=settings.database_concurrency,
        busy_timeout_ms=settings.database_busy_timeout_ms,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        logger.info("starting", extra={"env": settings.env, "database": database.dialect})
        worker = (
            DeliveryWorker.from_settings(database, settings, on_error=_worker_error).start_thread()
            if run_worker
            else None
        )
        yield
        if worker is not None:
            await to_thread.run_sync(worker.stop)
        if owns_database:
            database.dispose()
        logger.info("stopped")

    app = FastAPI(
        title="concernlog",
        version="0.1.0",
        description=DESCRIPTION,
        license_info={"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # /docs is served by install_docs, from assets shipped with the service.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.guidance = guidance
    app.state.keys = KeyRing(settings)
    try:
        app.state.transfer_keys = TransferKeys.from_settings(settings)
    except BundleKeyError as error:
        raise ConfigurationError(str(error)) from None
    app.state.token_issuer = TokenIssuer(
        keys=app.state.keys,
        access_lifetime=timedelta(minutes=settings.access_token_minutes),
        refresh_lifetime=timedelta(hours=settings.refresh_token_hours),
        refresh_grace=timedelta(seconds=settings.refresh_grace_seconds),
        successor_key=successor_key(settings.secret_key),
    )
    app.state.clock = Clock()
    # Fingerprints requests and seals the answers kept for Idempotency-Key (ADR 0062).
    app.state.idempotency_secrets = idempotency.Secrets.from_secret(settings.secret_key)
    app.state.metrics = Metrics(database.engine)
    # Attachments' sealed files (ADR 0105).
    app.state.files = attachments.FileStore(settings.files_url, settings.files_key_bytes)

    register_error_handlers(app)
    install_openapi(app)
    install_docs(app)
    install_web_client(app)
    include_routers(app, prefix=API_PREFIX)
    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "X-Request-ID",
            ],
            # What a browser client may read of an answer: the headers the OpenAPI
            # document declares on answers (ADR 0063), and the request id.
            expose_headers=list(EXPOSED_HEADERS),
        )
    # Added last, so it runs first: every response (CORS refusals included) gets its id.
    app.add_middleware(
        ShellMiddleware,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        hsts=settings.env == "production",
        max_upload_bytes=attachments.MAX_BYTES + UPLOAD_FRAMING_BYTES,
    )
    return app


def _worker_error(error: BaseException) -> None:
    log_unhandled(logging.getLogger("concernlog.alerts"), error)


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory api.main:app_factory``."""
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    tune_process_for_serving()
    share_hashing(settings.server_processes)
    app = create_app(settings, run_worker=settings.serve_worker)
    keep_start_up_out_of_gc()
    return app


# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def tune_process_for_serving() -> None:
    """Process-wide settings for a server process (not for tests or the CLI).

    A worker thread that comes back from the database (a commit's fsync, a PostgreSQL
    round trip) must take the GIL back from the event loop, which may be busy with other
    requests and, by CPython's default, hands it over only every 5 ms, while the thread
    holds SQLite's write lock or a pooled connection. A 0.5 ms interval shortens that
    wait without costing throughput (docs/adr/0040-serving-process-tuning.md).

    glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
    the threadpool's workers each hold on to freed memory in theirs: two arenas keep the
    resident size of a long-running server near what it uses. A fixed mmap threshold
    returns large blocks (argon2's 19 MiB per sign-in) to the system when they are freed;
    glibc's adaptive one would keep serving them from the heap, and keep them."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    _tune_malloc(arenas=MALLOC_ARENAS, mmap_threshold=MALLOC_MMAP_THRESHOLD_BYTES)


def keep_start_up_out_of_gc() -> None:
    """Move every object alive now (modules, routes, schemas, validators, the SQLAlchemy
    metadata, the guidance: what start-up made, and never frees) out of the garbage
    collector's sight (``gc.freeze``). Each full collection walks every tracked object: on
    this app's start-up heap that paused the event loop long enough to show in every
    connection's tail latency (docs/adr/0040-serving-process-tuning.md); after the freeze
    it walks only what requests made since."""
    gc.collect()
    gc.freeze()


MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD_BYTES = 1024 * 1024
# glibc's mallopt parameter numbers (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _tune_malloc(*, arenas: int, mmap_threshold: int) -> None:
    """Like MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ in the environment, from now on."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    except (OSError, AttributeError):  # not glibc (musl has neither to tune)
        logger.debug("mallopt is not available; malloc left as it is")
