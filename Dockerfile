# Teamwell service image. Configure with TEAMWELL_* environment variables (see docs/deploy.md
# and app/config.py); in production give TEAMWELL_DATABASE_URL (PostgreSQL), TEAMWELL_REDIS_URL,
# TEAMWELL_PUBLIC_URL and the secrets, or mount /srv/teamwell/var for the generated ones.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TEAMWELL_DATA_DIR=/srv/teamwell/var

RUN groupadd --system teamwell && useradd --system --gid teamwell --home /srv/teamwell teamwell

WORKDIR /srv/teamwell
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY auth ./auth
COPY realtime ./realtime
COPY migrations ./migrations
COPY web ./web
# Installed in place (editable) so the web client and migrations are read from this folder.
RUN pip install -e . && mkdir -p var && chown -R teamwell:teamwell /srv/teamwell

USER teamwell
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# Migrate, then serve. Behind a reverse proxy that terminates TLS and forwards the client address.
CMD ["sh", "-c", "teamwell migrate && exec uvicorn app.main:app --host 0.0.0.0 --port 8000 --proxy-headers --forwarded-allow-ips='*' --ws realtime.wire:WebSocketProtocol --ws-per-message-deflate false --timeout-graceful-shutdown 20"]
