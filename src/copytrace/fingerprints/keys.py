"""Secret keys for keyed fingerprints.

A consortium that shares fingerprints can hash with a secret key: the 64-bit k-gram hashes become SipHash-2-4
values under a 128-bit key derived from the secret, so a list leaked without the key cannot be matched against
any text, nor can anyone test whether a guessed text is in it.  The key id (public, 16 hex digits) names the
key in every fingerprint so that mixing keys is refused instead of silently finding nothing.

>>> Key.from_secret("consortium secret").key_id
'335cadfcdf9a7470'
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KeyFormatError

PUBLIC_KEY_ID = "public"


@dataclass(frozen=True)
class Key:
    """A secret key: ``k0``/``k1`` are the SipHash key words, ``key_id`` the public name of the key."""

    key_id: str
    k0: int = field(repr=False)
    k1: int = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str | bytes) -> Key:
        """Derive a key from a secret of any length (text is taken as UTF-8, surrounding whitespace kept)."""
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(raw) < 16:
            raise KeyFormatError(
                f"secret key has {len(raw)} bytes; use at least 16 (e.g. 'copytrace key generate')"
            )
        material = hashlib.blake2b(raw, digest_size=16, person=b"copytrace-key-v1").digest()
        key_id = hashlib.blake2b(raw, digest_size=8, person=b"copytrace-kid-v1").hexdigest()
        return cls(
            key_id=key_id,
            k0=int.from_bytes(material[:8], "little"),
            k1=int.from_bytes(material[8:], "little"),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Key:
        """Read a secret from a file; one trailing newline is not part of it."""
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise KeyFormatError(f"cannot read key file {os.fspath(path)!r}: {exc.strerror}") from exc
        if raw.endswith(b"\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n"):
            raw = raw[:-1]
        return cls.from_secret(raw)

    @staticmethod
    def generate() -> str:
        """A new random secret (32 bytes, hex) suitable for a key file."""
        return secrets.token_hex(32)


PUBLIC_KEY = Key(key_id=PUBLIC_KEY_ID, k0=0, k1=0)


def as_key(key: Key | str | bytes | None) -> Key:
    """Accept a ``Key``, a secret as text or bytes, or None for the public (unkeyed) hash."""
    if key is None:
        return PUBLIC_KEY
    if isinstance(key, Key):
        return key
    return Key.from_secret(key)
