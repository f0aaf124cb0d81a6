"""API keys of the service: created with a role, shown once, stored as a salted SHA-256, revocable.

A key reads ``ctk_<key id>_<secret>``: the key id (public, 12 hex digits) finds the row, and the secret
(32 random bytes) is checked against ``sha256(salt || secret)`` in constant time.  The secret has 256 bits
of entropy, so a fast hash is enough: no one can guess it, and a stolen database gives no usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ..errors import StoreError
from .audit_log import audit
from .models import ApiKeyRow
from .sessions import Sessions

ROLES = ("reader", "writer", "admin")  # each role may do all that the ones before it may
_PREFIX = "ctk_"


class UnknownKeyError(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no API key named {name!r}")
        self.name = name


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    key_id: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    def allows(self, role: str) -> bool:
        """Whether this key's role includes ``role``."""
        return self.revoked_at is None and ROLES.index(self.role) >= ROLES.index(role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _info(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.name, row.role, row.key_id, row.created_at, row.created_by, row.revoked_at)


def create_key(store: Sessions, name: str, role: str, *, actor: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns its record and the key itself, which is not stored and cannot be shown again."""
    if role not in ROLES:
        raise StoreError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not name or len(name) > 200 or name.strip() != name:
        raise StoreError(f"bad key name {name!r}: 1-200 characters, no surrounding spaces")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    with store.session() as s, s.begin():
        if s.scalar(select(ApiKeyRow.id).where(ApiKeyRow.name == name)) is not None:
            raise StoreError(f"an API key named {name!r} exists: revoke it or choose another name")
        row = ApiKeyRow(
            name=name,
            role=role,
            key_id=key_id,
            salt=salt,
            digest=_digest(salt, secret),
            created_at=datetime.now(UTC),
            created_by=actor or "local",
        )
        s.add(row)
        audit(s, actor, "create_key", key_name=name, role=role, key_id=key_id)
        info = _info(row)
    return info, f"{_PREFIX}{key_id}_{secret}"


def list_keys(store: Sessions) -> list[ApiKey]:
    with store.session() as s:
        return [_info(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.name))]


def revoke_key(store: Sessions, name: str, *, actor: str | None = None) -> ApiKey:
    """Revoke a key by name (the row stays, so the audit log keeps naming it)."""
    with store.session() as s, s.begin():
        row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))
        if row is None:
            raise UnknownKeyError(name)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            audit(s, actor, "revoke_key", key_name=name, key_id=row.key_id)
        return _info(row)


def authenticate(store: Sessions, presented: str) -> ApiKey | None:
    """The key record for a presented key, or None when it is unknown, wrong or revoked."""
    if not presented.startswith(_PREFIX) or presented.count("_") < 2:
        return None
    key_id, _, secret = presented[len(_PREFIX) :].partition("_")
    with store.session() as s:
        row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.digest, _digest(row.salt, secret)):
            return None
        return _info(row)
