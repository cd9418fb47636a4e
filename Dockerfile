# meetings-bot: one process serving Slack requests and provider webhooks on port 3000.
#
#   docker build -t meetings-bot .
#   docker run -p 3000:3000 -v meetings-bot-data:/data --env-file .env meetings-bot
#
# ENCRYPTION_KEY must be set (in --env-file, -e, or a Docker secret named `encryption_key`): the
# container refuses to start without it rather than generate a key next to the database on the
# data volume, where a backup or a stolen volume would carry the key with the secrets it protects.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/meetings-bot.db

WORKDIR /app

# Dependencies first, in their own layer: a change to the code does not reinstall them.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the package itself (its dependencies are already there).
COPY README.md ./
COPY bot ./bot
COPY docker/entrypoint.sh ./docker/entrypoint.sh
RUN pip install --no-deps . \
 && useradd --create-home --uid 10001 meetingsbot \
 && mkdir -p /data \
 && chown meetingsbot /data

USER meetingsbot
# The SQLite database lives here (unless DATABASE_URL points at PostgreSQL). Never the key.
VOLUME ["/data"]
EXPOSE 3000
# Ready means the database answers and the migrations are current (503 otherwise, which urllib
# raises as an error). python3's standard library, so the image needs no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/readyz', timeout=4)"]
ENTRYPOINT ["/bin/sh", "/app/docker/entrypoint.sh"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
