# syntax=docker/dockerfile:1
# Build stage: install concernlog and its dependencies into a virtualenv.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY db ./db
COPY models ./models
COPY services ./services
COPY routers ./routers
COPY api ./api
COPY guidance ./guidance
RUN pip install --no-cache-dir .

# Runtime stage: the virtualenv, the migrations and an unprivileged user, nothing else
# (but the fonts the PDF export prints every name with: DejaVu Sans, and Noto Sans for the
# scripts it lacks; see services/export_pdf.py).
FROM python:3.11-slim-bookworm
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONCERNLOG_ENV=production \
    CONCERNLOG_DATABASE_URL=sqlite:////var/lib/concernlog/concernlog.db \
    CONCERNLOG_FILES_URL=/var/lib/concernlog/files
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core=2.37-6 fonts-noto-core=20201225-1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 concernlog \
    && useradd --system --uid 10001 --gid concernlog --home-dir /app --shell /usr/sbin/nologin concernlog \
    && mkdir -p /var/lib/concernlog \
    && chown concernlog:concernlog /var/lib/concernlog
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY alembic ./alembic
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["sh", "-c", "concernlog migrate && exec concernlog serve --host 0.0.0.0 --port 8000"]
