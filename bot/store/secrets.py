"""Every secret stored encrypted, checked and rotated in one place.

`undecryptable` is what `serve` runs at start-up (and /readyz reports); `rotate` is
`meetings-bot rotate-key`: each secret re-encrypted under the first key of ENCRYPTION_KEY, in one
transaction, so the keys after the first can then be removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from bot.store.crypto import (
    EncryptionKeyError,
    SecretBox,
    SecretBoxError,
    configured_keys,
    secret_box,
)
from bot.store.db import Database
from bot.store.models import Connection, SlackInstallation

# (table, its encrypted columns): a new encrypted column is added here, or rotation misses it.
ENCRYPTED = [
    (Connection, ("api_key_encrypted", "webhook_secret_encrypted")),
    (SlackInstallation, ("bot_token_encrypted", "user_token_encrypted")),
]


@dataclass(frozen=True)
class SecretsReport:
    total: int
    unreadable: int

    @property
    def ok(self) -> bool:
        return self.unreadable == 0

    def sentence(self) -> str:
        if self.ok:
            return f"all {self.total} stored secrets decrypt with ENCRYPTION_KEY"
        return (f"{self.unreadable} of {self.total} stored secrets cannot be decrypted: ENCRYPTION_KEY does not "
                "hold the key they were saved with. Put that key back into ENCRYPTION_KEY (after the new one, "
                "comma-separated), restart, and run `meetings-bot rotate-key`.")


async def undecryptable(db: Database, box: SecretBox) -> SecretsReport:
    total = unreadable = 0
    async with db.engine.connect() as connection:
        for model, columns in ENCRYPTED:
            rows = (await connection.execute(select(*(getattr(model, c) for c in columns)))).all()
            for value in (v for row in rows for v in row if v):
                total += 1
                try:
                    box.decrypt(value)
                except SecretBoxError:
                    unreadable += 1
    return SecretsReport(total=total, unreadable=unreadable)


async def rotate(db: Database, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the first key; all or nothing. Returns how many."""
    report = await undecryptable(db, box)
    if not report.ok:
        raise SecretBoxError(report.sentence())
    count = 0
    async with db.engine.begin() as connection:
        for model, columns in ENCRYPTED:
            key = model.id  # type: ignore[attr-defined]
            rows = (await connection.execute(select(key, *(getattr(model, c) for c in columns)))).all()
            for row_id, *values in rows:
                fresh = {column: box.rotate(value) for column, value in zip(columns, values, strict=True) if value}
                if fresh:
                    await connection.execute(update(model).where(key == row_id).values(**fresh))
                    count += len(fresh)
    return count


async def stored_secret_count(db: Database) -> int:
    """How many rows hold an encrypted secret (0 when the tables do not exist yet)."""
    total = 0
    try:
        async with db.engine.connect() as connection:
            for model, columns in ENCRYPTED:
                condition = or_(*(getattr(model, c).is_not(None) for c in columns))
                total += (await connection.execute(select(func.count()).where(condition))).scalar() or 0
    except DBAPIError:
        return 0  # not migrated yet: nothing stored
    return total


async def first_use_box(settings: Settings, db: Database) -> SecretBox:
    """The SecretBox for `serve` and a first `connect`: generates the key file when there is no key
    at all, but refuses when the database already holds secrets (a new key could not read them)."""
    if configured_keys(settings) is None:
        stored = await stored_secret_count(db)
        if stored:
            raise EncryptionKeyError(
                f"ENCRYPTION_KEY is not set and there is no key file in DATA_DIR ({settings.data_dir}), but the "
                f"database holds {stored} row(s) of encrypted secrets that a new key could not read. Set "
                "ENCRYPTION_KEY to the key they were saved with (or restore the meetings-bot.key file); "
                "nothing was generated.")
    return secret_box(settings, may_generate=True)
