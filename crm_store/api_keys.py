"""Keys for the CRM ingest API (`PUT /crm/v1/contacts`, `PUT /crm/v1/deals`, bearer authentication).

- A key is `mm_` + 43 URL-safe characters from `secrets.token_urlsafe(32)` (256 random bits). It is
  shown once, by `create_key`, and never stored: the table keeps its SHA-256 and its first
  characters (to recognise it in a listing).
- SHA-256, not bcrypt/scrypt/argon2: slow hashes protect low-entropy secrets (passwords) against
  guessing from a stolen table. A 256-bit random key cannot be guessed from its hash however fast
  the hash, and a slow hash would cost every API request tens of milliseconds for nothing.
- `verify_key` looks the key up by its hash (an index), then compares in constant time. An unknown
  key and a revoked key take the same path: one look-up, one `compare_digest`, `None`.
- Names are unique. Creating a key under the name of a revoked key replaces that key (rotation:
  `crm keys revoke zapier`, then `crm keys create zapier`); an active name is refused.
- `last_used_at` is written at most once a minute per key, not on every request.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select, update

from crm_store.db import session_scope
from crm_store.errors import InvalidInput, StoreRefusal
from crm_store.models import ApiKey, utcnow

KEY_PREFIX = "mm_"
PREFIX_SHOWN = 10  # "mm_" and 7 random characters: enough to tell keys apart in a listing
LAST_USED_PRECISION = timedelta(minutes=1)
_NO_KEY = hashlib.sha256(b"no such key").hexdigest()


class KeyNameTaken(InvalidInput):
    """An active key already has that name."""


@dataclass(frozen=True)
class KeyInfo:
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100 or any(ch.isspace() for ch in name):
        raise InvalidInput(StoreRefusal.KEY_NAME_INVALID)
    return name


def create_key(engine: Engine, name: str) -> str:
    """A new key named `name`; returns the plaintext, which is not stored anywhere."""
    name = _check_name(name)
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    values = {"key_hash": _hash(plaintext), "key_prefix": plaintext[:PREFIX_SHOWN], "created_at": utcnow(),
              "last_used_at": None, "revoked_at": None}
    try:
        with session_scope(engine) as session:
            current = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
            if current is not None and current.revoked_at is None:
                raise KeyNameTaken(StoreRefusal.KEY_NAME_TAKEN, name=name)
            if current is None:
                session.add(ApiKey(name=name, **values))
            else:
                for field, value in values.items():
                    setattr(current, field, value)
                session.add(current)
    except IntegrityError:  # created by someone else meanwhile
        raise KeyNameTaken(StoreRefusal.KEY_NAME_TAKEN, name=name) from None
    return plaintext


def verify_key(engine: Engine, presented: str | None) -> str | None:
    """The name of the active key `presented` is, or None (unknown, revoked, malformed)."""
    if not isinstance(presented, str) or len(presented) > 200:
        presented = ""
    digest = _hash(presented)
    now = utcnow()
    with session_scope(engine) as session:
        row = session.exec(select(ApiKey.id, ApiKey.name, ApiKey.key_hash, ApiKey.revoked_at, ApiKey.last_used_at)
                           .where(ApiKey.key_hash == digest)).first()
        stored = row.key_hash if row is not None else _NO_KEY
        # Constant-time even though the look-up already matched: the index compare is the database's.
        matches = hmac.compare_digest(stored, digest)
        if row is None or not matches or row.revoked_at is not None:
            return None
        last_used = row.last_used_at
        if last_used is not None and last_used.tzinfo is None:
            last_used = last_used.replace(tzinfo=now.tzinfo)
        if last_used is None or now - last_used >= LAST_USED_PRECISION:
            session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now)
                            .execution_options(synchronize_session=False))
        return row.name


def revoke_key(engine: Engine, name: str) -> bool:
    """Revoke the active key named `name`; False when there is none."""
    with session_scope(engine) as session:
        return bool(session.execute(
            update(ApiKey).where(ApiKey.name == (name or "").strip(), ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow()).execution_options(synchronize_session=False)
        ).rowcount)


def list_keys(engine: Engine) -> list[KeyInfo]:
    """Every key (active first, then revoked), without anything secret."""
    with session_scope(engine) as session:
        rows = session.exec(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.name)).all()
    return [KeyInfo(row.name, row.key_prefix, row.created_at, row.last_used_at, row.revoked_at) for row in rows]
