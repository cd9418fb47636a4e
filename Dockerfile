# meetings-bot: one process serving Slack requests and provider webhooks on port 3000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite+aiosqlite:////data/meetings-bot.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . \
 && useradd --create-home --uid 10001 meetingsbot \
 && mkdir -p /data \
 && chown meetingsbot /data

USER meetingsbot
# SQLite database and the generated encryption key (when ENCRYPTION_KEY is unset) live here.
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=3)"
CMD ["meetings-bot", "serve", "--host", "0.0.0.0", "--port", "3000"]
