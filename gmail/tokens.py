"""OAuth credentials at rest: encrypted with MultiFernet (the first key encrypts, every key decrypts)."""
from __future__ import annotations

import json
from typing import Any, Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Engine
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import GmailAccount


class TokenKeyError(Exception):
    """TOKEN_ENCRYPTION_KEYS is missing or holds something that is not a Fernet key."""


class TokenCipher:
    def __init__(self, keys: Iterable[str]):
        keys = [k.strip() for k in keys if k and k.strip()]
        if not keys:
            raise TokenKeyError(
                "TOKEN_ENCRYPTION_KEYS is not set: generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError) as error:
            raise TokenKeyError(f"TOKEN_ENCRYPTION_KEYS holds an invalid Fernet key: {error}") from None

    def encrypt(self, payload: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode())

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise TokenKeyError("stored credentials cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt with the first (newest) key."""
        return self._fernet.rotate(token)

    def encrypt_text(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def decrypt_text(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError):
            raise TokenKeyError("a stored Slack token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from None

    def rotate_text(self, token: str) -> str:
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def reencrypt_all(engine: Engine, cipher: TokenCipher, batch_size: int = 200) -> int:
    """Re-encrypt every stored credential with the newest key; returns how many were rewritten."""
    count = 0
    last_id = 0
    while True:
        with session_scope(engine) as session:
            accounts = session.exec(
                select(GmailAccount)
                .where(GmailAccount.id > last_id, GmailAccount.encrypted_credentials.is_not(None))
                .order_by(GmailAccount.id)
                .limit(batch_size)
            ).all()
            if not accounts:
                return count
            for account in accounts:
                account.encrypted_credentials = cipher.rotate(account.encrypted_credentials)
                session.add(account)
                count += 1
            last_id = accounts[-1].id
