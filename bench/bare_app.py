"""The bare FastAPI baseline: one GET endpoint that returns a small JSON object.

Served exactly as ``concernlog serve`` serves the real app (``api.cli.serve``): uvicorn with
an app factory, one worker, the default (``auto``) event loop and HTTP implementation,
uvicorn's own logging and access log switched off. No middleware, no database, no
authentication: what the same machine gives for the framework and the server alone, which
every concernlog number in the benchmark is divided by.

    .venv/bin/python -m bench.bare_app --port 8100
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI


def app_factory() -> FastAPI:
    app = FastAPI(title="bare baseline", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/")
    async def root() -> dict[str, str]:
        # FastAPI's own "hello world": the baseline every ratio is divided by.
        return {"status": "ok", "service": "bare"}

    @app.get("/sync")
    def root_sync() -> dict[str, str]:
        # The same answer from a plain (sync) handler, which FastAPI runs on its
        # threadpool, as it runs most of concernlog's: what that hop alone costs.
        return {"status": "ok", "service": "bare"}

    return app


def serve(target: str, argv: list[str] | None, description: str) -> None:
    """Serve the app factory ``target`` as ``concernlog serve`` serves the real app: the
    bare app and the anchors of issue 23 (``bench.naive_app``, ``bench.limit_app``) all
    go through here, so only the app differs."""
    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    # The same keyword arguments as api.cli.serve.
    uvicorn.run(
        target,
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


def main(argv: list[str] | None = None) -> None:
    serve("bench.bare_app:app_factory", argv, "Serve the bare FastAPI baseline")


if __name__ == "__main__":
    main()
