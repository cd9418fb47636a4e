"""Encryption at rest for API keys, webhook secrets and tokens (Fernet, with key rotation).

`ENCRYPTION_KEY` may hold several comma-separated Fernet keys: the first encrypts, all of
them decrypt, so an operator rotates by prepending a new key and running `meetings-bot
rotate-key`. Without it, `serve` (or a first `connect`) generates a key once into the data
directory (mode 0600), with a warning, and only while the database holds no encrypted secret:
a new key could not read them. No other command generates one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.redaction import remember_secret
from bot.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE_NAME = "meetings-bot.key"


class SecretBoxError(Exception):
    """A stored secret could not be decrypted (wrong or rotated-away ENCRYPTION_KEY)."""


class EncryptionKeyError(Exception):
    """ENCRYPTION_KEY (or the key file) does not hold usable Fernet keys."""


class NoEncryptionKey(EncryptionKeyError):
    """Neither ENCRYPTION_KEY nor a key file, and this command may not create one."""


GENERATE_HINT = ("generate one with: python3 -c 'from cryptography.fernet import Fernet; "
                 "print(Fernet.generate_key().decode())'")


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise EncryptionKeyError(f"ENCRYPTION_KEY is empty; {GENERATE_HINT}")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, TypeError):
                raise EncryptionKeyError(
                    f"ENCRYPTION_KEY entry {position} is not a Fernet key (32 url-safe base64 bytes); {GENERATE_HINT}"
                ) from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        remember_secret(plaintext)  # whatever is worth encrypting is never written to a log
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            plaintext = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError(
                "a stored secret could not be decrypted: ENCRYPTION_KEY does not hold the key it was saved with"
            ) from exc
        remember_secret(plaintext)
        return plaintext

    def rotate(self, token: str) -> str:
        """Re-encrypt with the current first key."""
        return self._fernet.rotate(token.encode()).decode()


def _key_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / KEY_FILE_NAME


def configured_keys(settings: Settings) -> list[str] | None:
    """The keys from ENCRYPTION_KEY or the key file; None when there are none yet."""
    if settings.encryption_key is not None:
        keys = [k for k in settings.encryption_key.get_secret_value().split(",") if k.strip()]
        if keys:
            return keys
    path = _key_file(settings)
    if path.exists():
        return [path.read_text().strip()]
    return None


def load_keys(settings: Settings, *, may_generate: bool = False) -> list[str]:
    keys = configured_keys(settings)
    if keys is not None:
        return keys
    path = _key_file(settings)
    if not may_generate:
        raise NoEncryptionKey(f"ENCRYPTION_KEY is not set and there is no key file at {path}. `meetings-bot serve` "
                              f"creates one on its first start; or set ENCRYPTION_KEY ({GENERATE_HINT}).")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    # Create with 0600 from the start: never a moment where the key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    log.warning(
        "ENCRYPTION_KEY is not set: generated one into %s (mode 0600). Back it up, or set ENCRYPTION_KEY; "
        "without it the stored API keys cannot be read.",
        path,
    )
    return [key]


def secret_box(settings: Settings, *, may_generate: bool = False) -> SecretBox:
    return SecretBox(load_keys(settings, may_generate=may_generate))
