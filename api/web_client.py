"""The reference web client (issue 24, contract section 14): ``GET /app/`` serves the files
``make web`` built into ``api/client_files/`` (committed, so ``make run`` needs no Node.js).

Public on purpose: the files are the same for everyone and hold no safeguarding content;
everything the client shows comes from the API, behind its tokens. ``/app/`` and any path
under it that is not a built file answer ``index.html`` (the client navigates in memory,
so such paths only come from a bookmark or a reload); hashed assets are cached for a
year, ``index.html`` is revalidated on every load. Every answer carries the page policy
below (docs/adr/0117-the-web-client-served-by-the-api.md).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from api.errors import problem_response

CLIENT_DIR = Path(__file__).resolve().parent / "client_files"
APP_URL = "/app"
ASSETS = "assets/"
STAMP_NAME = "build-stamp.json"

# Scripts, styles and fetches from this service only: no inline script or style, no other
# origin, no framing, no form posted anywhere.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def _file(path: Path, cache_control: str) -> Response:
    return FileResponse(
        path,
        headers={"Cache-Control": cache_control, "Content-Security-Policy": PAGE_POLICY},
    )


def _not_built() -> Response:
    return problem_response(
        404, "The web client is not built here: run `make web` (needs Node.js).", slug="not-found"
    )


async def client_file(request: Request) -> Response:
    """A built asset by its hashed name, or the client's page for any other path."""
    wanted = str(request.path_params.get("path", ""))
    if wanted.startswith(ASSETS):
        candidate = (CLIENT_DIR / wanted).resolve()
        if candidate.is_relative_to(CLIENT_DIR / ASSETS) and candidate.is_file():
            return _file(candidate, IMMUTABLE)
        return problem_response(404, "No such file of the web client.", slug="not-found")
    page = CLIENT_DIR / "index.html"
    if not page.is_file():
        return _not_built()
    return _file(page, REVALIDATE)


async def to_client(_request: Request) -> Response:
    return RedirectResponse(f"{APP_URL}/", status_code=308)


def install_web_client(app: FastAPI) -> None:
    """Serve the web client at ``/app/`` (not in the OpenAPI document: it is not the API)."""
    app.add_route(APP_URL, to_client, methods=["GET"], include_in_schema=False)
    app.add_route(f"{APP_URL}/{{path:path}}", client_file, methods=["GET"], include_in_schema=False)
