"""Slack installations at rest: slack_sdk's SQLAlchemy store, with every token encrypted.

The store's tables keep bot and user tokens (and refresh tokens) as text. This subclass encrypts them
with the same Fernet keys as the Google tokens (`TOKEN_ENCRYPTION_KEYS`) on the way in and decrypts
them on the way out, so the database never holds a usable Slack token. A value without our prefix is
a token stored before encryption existed: it is read as it is, and `mailmagnet keys rotate` encrypts it.
"""
from __future__ import annotations

import copy

import sqlalchemy as sa
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

from gmail.tokens import TokenCipher

PREFIX = "mm1:"  # marks our ciphertext (Fernet tokens are base64url, so never start with this)
INSTALLATION_TOKENS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
BOT_TOKENS = ("bot_token", "bot_refresh_token")


class EncryptedInstallationStore(SQLAlchemyInstallationStore):
    def __init__(self, cipher: TokenCipher, **kwargs):
        super().__init__(**kwargs)
        self.cipher = cipher

    def _seal(self, value: str | None) -> str | None:
        if not value or value.startswith(PREFIX):
            return value
        return PREFIX + self.cipher.encrypt_text(value)

    def _open(self, value: str | None) -> str | None:
        if not value or not value.startswith(PREFIX):
            return value
        return self.cipher.decrypt_text(value[len(PREFIX):])

    def _sealed_copy(self, item, fields):
        sealed = copy.copy(item)
        for name in fields:
            setattr(sealed, name, self._seal(getattr(item, name, None)))
        return sealed

    def save(self, installation: Installation):
        super().save(self._sealed_copy(installation, INSTALLATION_TOKENS))

    def save_bot(self, bot: Bot):
        super().save_bot(self._sealed_copy(bot, BOT_TOKENS))

    def _opened_row(self, row, fields) -> dict:
        opened = dict(row)
        for name in fields:
            if name in opened:
                opened[name] = self._open(opened[name])
        return opened

    def build_installation_entity(self, row) -> Installation:  # type: ignore[override]
        return super().build_installation_entity(self._opened_row(row, INSTALLATION_TOKENS))

    def build_bot_entity(self, row) -> Bot:  # type: ignore[override]
        return super().build_bot_entity(self._opened_row(row, BOT_TOKENS))

    def reencrypt_all(self) -> int:
        """Every stored token re-encrypted with the newest key (and plaintext ones encrypted); returns how many."""
        count = 0
        with self.engine.begin() as connection:
            for table, fields in ((self.installations, INSTALLATION_TOKENS), (self.bots, BOT_TOKENS)):
                for row in connection.execute(sa.select(table)).mappings().all():
                    values = {}
                    for name in fields:
                        value = row.get(name)
                        if not value:
                            continue
                        if value.startswith(PREFIX):
                            values[name] = PREFIX + self.cipher.rotate_text(value[len(PREFIX):])
                        else:
                            values[name] = self._seal(value)
                    if values:
                        connection.execute(table.update().where(table.c.id == row["id"]).values(**values))
                        count += len(values)
        return count
