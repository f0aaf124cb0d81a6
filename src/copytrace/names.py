"""The allowed form of bank names and item ids, defined once for the library, CLI, service and importer.

**Bank names** are 1-64 characters of ASCII letters, digits, ``_``, ``.`` and ``-``, not starting with ``.``
or ``-`` (``news``, ``partner-list.2026``): they appear in URLs (``/v1/banks/{bank}``), shell commands and
terminals, so they are kept to characters that need no quoting anywhere.

**Item ids** are 1-512 characters with no control, format, surrogate, private-use or unassigned characters
(Unicode categories ``C*``) and no line or paragraph separators, without leading or trailing whitespace; no
``/``-separated segment of an id may be ``.`` or ``..`` (a URL path would collapse it).  Ids made from
directories (``sub/dir/file``), spaces inside, and any script are valid.

Both checks raise ``InvalidNameError`` (an ``InputError``) with a message that shows the value escaped, so a
hostile name cannot put terminal escapes into an error message.

>>> check_bank_name("partner-list.2026")
'partner-list.2026'
>>> check_item_id("speeches/1954 Eisenhower")
'speeches/1954 Eisenhower'
>>> check_bank_name("\\x1b]0;pwned\\x07")  # doctest: +ELLIPSIS
Traceback (most recent call last):
copytrace.errors.InvalidNameError: bad bank name '\\x1b]0;pwned\\x07': use 1-64 ASCII letters, ...
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidNameError

BANK_NAME_MAX = 64
ITEM_ID_MAX = 512

_BANK_NAME_RE = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{BANK_NAME_MAX - 1}}}")
_BANK_RULE = f"use 1-{BANK_NAME_MAX} ASCII letters, digits, '_', '.' or '-', not starting with '.' or '-'"
_LINE_SEPARATORS = frozenset({"Zl", "Zp"})


def is_valid_bank_name(name: object) -> bool:
    """True when ``name`` is an allowed bank name."""
    return isinstance(name, str) and _BANK_NAME_RE.fullmatch(name) is not None


def check_bank_name(name: str) -> str:
    """Return ``name`` if it is an allowed bank name, else raise ``InvalidNameError``."""
    if not is_valid_bank_name(name):
        raise InvalidNameError(f"bad bank name {_shown(name)}: {_BANK_RULE}")
    return name


def _unprintable(text: str) -> str | None:
    """The first character of ``text`` in a refused category, or None."""
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] == "C" or category in _LINE_SEPARATORS:
            return ch
    return None


def item_id_problem(item_id: object) -> str | None:
    """Why ``item_id`` is not an allowed item id, or None when it is."""
    if not isinstance(item_id, str) or not item_id:
        return "an item id must be a non-empty string"
    if len(item_id) > ITEM_ID_MAX:
        return f"{len(item_id)} characters, more than {ITEM_ID_MAX}"
    bad = _unprintable(item_id)
    if bad is not None:
        return f"holds the control or invisible character U+{ord(bad):04X}"
    if item_id != item_id.strip():
        return "starts or ends with whitespace"
    if any(part in (".", "..") for part in item_id.split("/")):
        return "'.' and '..' are not ids (nor parts of one between '/')"
    return None


def is_valid_item_id(item_id: object) -> bool:
    """True when ``item_id`` is an allowed item id."""
    return item_id_problem(item_id) is None


def check_item_id(item_id: str) -> str:
    """Return ``item_id`` if it is an allowed item id, else raise ``InvalidNameError``."""
    problem = item_id_problem(item_id)
    if problem is not None:
        raise InvalidNameError(f"bad item id {_shown(item_id)}: {problem}")
    return item_id


def _shown(value: object) -> str:
    """``repr`` of a value, shortened: escapes every non-printable character."""
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + "…" + text[-15:]
