# syntax=docker/dockerfile:1
# Välitupa: build wheels in one stage, run them as a non-root user in a slim one.
#
#   docker build -t valitupa .
#   docker run --env-file .env -v valitupa-data:/data -p 127.0.0.1:8080:8080 valitupa
#
# scripts/docker_steps.sh performs these same steps without a Docker engine.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY messages ./messages
# Välitupa and every dependency as wheels, so the runtime stage needs no compiler and no network cache.
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/valitupa.db \
    LISTEN_HOST=0.0.0.0 \
    LISTEN_PORT=8080 \
    LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home --shell /usr/sbin/nologin valitupa
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels valitupa && rm -rf /wheels
USER valitupa
WORKDIR /data
# The SQLite file (when DATABASE_URL is not PostgreSQL) and nothing else lives here.
VOLUME ["/data"]
EXPOSE 8080
# 200 only when the database answers, the dispatcher ticks and the Bot API answered lately.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LISTEN_PORT', '8080'), timeout=4)"]
# SIGTERM finishes the update and the delivery in hand and exits within 10 s (Docker's default grace).
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "valitupa db upgrade && exec valitupa run"]
