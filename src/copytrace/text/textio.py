"""Reading text as users' files really are: UTF-8 mostly, sometimes with a BOM, UTF-16, or legacy Latin-1.

Policy, in order: refuse input over the size limit; decode by BOM (UTF-8, UTF-16); refuse binary data (NUL
bytes or mostly control characters); decode UTF-8; otherwise decode as Windows-1252 (the superset of Latin-1
that "Latin-1" files almost always are; its five undefined bytes fall back to Latin-1) and say so in
``DecodedText.note``.  Character offsets in matches refer to the decoded text.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_SNIFF = 8192


@dataclass(frozen=True)
class DecodedText:
    """Decoded text, the encoding used, and a note for the user when the input was not UTF-8."""

    text: str
    encoding: str
    note: str | None = None


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return len(head) > 0 and controls / len(head) > 0.1


def decode_bytes(data: bytes, *, source: str = "input") -> DecodedText:
    """Decode ``data`` by the policy above; raise ``InputError`` for binary data."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return DecodedText(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: starts with a UTF-16 byte-order mark but is not UTF-16") from exc
    if _looks_binary(data[:_SNIFF]):
        raise InputError(f"{source}: looks like binary data, not text (NUL or control bytes)")
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        where = exc.start
    try:
        text, encoding = data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    return DecodedText(
        text, encoding, f"{source}: not valid UTF-8 (byte {where}); read as {encoding.capitalize()}"
    )


def _bytes(n: int) -> str:
    """``n`` exactly, and rounded for reading: '1,048,576 bytes (1.05 MB)'."""
    if n < 1000:
        return "1 byte" if n == 1 else f"{n} bytes"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n:,} bytes ({n / size:.3g} {unit})"
    raise AssertionError(n)  # unreachable: n >= 1000


def _check_size(size: int, limit: int, source: str, *, exact: bool = True) -> None:
    """Refuse ``size`` bytes over ``limit``; not ``exact``: reading stopped at ``size``, there may be more."""
    if size > limit:
        what = (
            f"{_bytes(size)} is over the size limit of {_bytes(limit)}"
            if exact
            else f"more than {_bytes(limit)}, the size limit"
        )
        raise InputError(f"{source}: {what}; raise it with --max-size or split the input")


def read_text_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedText:
    """Read and decode one file; raise ``InputError`` with the path for every reason it cannot be used."""
    source = os.fspath(path)
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"{source}: is a directory")
        _check_size(p.stat().st_size, max_bytes, source)
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{source}: no such file") from exc
    except PermissionError as exc:
        raise InputError(f"{source}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from exc
    return decode_bytes(data, source=source)


def read_stdin(*, max_bytes: int = DEFAULT_MAX_BYTES) -> DecodedText:
    """Read standard input as bytes (up to the limit) and decode it."""
    data = sys.stdin.buffer.read(max_bytes + 1)
    _check_size(len(data), max_bytes, "<stdin>", exact=False)
    return decode_bytes(data, source="<stdin>")
