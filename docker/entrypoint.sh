#!/bin/sh
# Runs `meetings-bot "$@"` in the container, after making sure the encryption key comes from
# outside the container and its data volume (see the Dockerfile and docs/operating.md).
set -eu

# A Docker (or Compose, or Swarm) secret named `encryption_key` stands in for the variable.
if [ -z "${ENCRYPTION_KEY:-}" ] && [ -r /run/secrets/encryption_key ]; then
  ENCRYPTION_KEY="$(cat /run/secrets/encryption_key)"
  export ENCRYPTION_KEY
fi

case "${1:-}" in
  demo|manifest|--help|-h|"")
    ;;  # these never read stored secrets
  *)
    if [ -z "${ENCRYPTION_KEY:-}" ]; then
      echo "ENCRYPTION_KEY is not set. In a container it must come from outside (--env-file, -e, or a" >&2
      echo "secret named encryption_key), never be generated on the data volume. Generate one with:" >&2
      echo "  python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'" >&2
      exit 64
    fi
    ;;
esac

exec meetings-bot "$@"
