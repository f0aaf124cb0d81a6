"""The exception tree.  Every error copytrace raises on purpose is a ``CopytraceError``::

    CopytraceError
    ├── InputError                 text or file that cannot be used (empty, binary, too large, undecodable)
    │   ├── TooShortError          text with fewer tokens than one k-gram: it has no fingerprint
    │   │   └── NoTokenError       text with no token at all: nothing to match, even as a phrase
    │   └── InvalidNameError       a bank name or item id of a form not allowed (``copytrace.names``)
    ├── FingerprintFormatError     a fingerprint string that does not parse
    ├── ParameterMismatchError     fingerprints made with other parameters or another key
    ├── KeyFormatError             a secret key that cannot be used
    ├── StoreError                 the bank store cannot do what was asked
    │   ├── UnknownBankError
    │   ├── UnknownItemError
    │   ├── DuplicateItemError
    │   └── BankExistsError
    └── RecordError                a malformed record in a JSON Lines input, with its line number

Messages say what was wrong and what to do about it.  What to do depends on where the error is shown: the
command line speaks of commands and options, the HTTP API of routes, fields and query parameters.  An error
whose remedy differs carries an ``advice`` key of ``ADVICE``, the one table of remedies, each said for both;
``str(error)`` is the command line's message and ``error.message("http")`` the API's:

>>> str(UnknownBankError("news"))
"unknown bank 'news': list banks with 'copytrace bank list'"
>>> UnknownBankError("news").message("http")
"unknown bank 'news': GET /v1/banks lists the banks; POST /v1/banks creates one"
"""

from __future__ import annotations

from typing import Literal

Surface = Literal["cli", "http"]

#: What to do about an error, said once for each place that shows it.  An HTTP rendering names routes,
#: fields and query parameters, never a command or an option; a command-line rendering the reverse
#: (``tests/test_errors.py`` checks both for every entry).
ADVICE: dict[str, dict[Surface, str]] = {
    "unknown-bank": {
        "cli": "list banks with 'copytrace bank list'",
        "http": "GET /v1/banks lists the banks; POST /v1/banks creates one",
    },
    "duplicate-item": {
        "cli": "remove it first or add with --replace",
        "http": "send it again with ?replace=true to replace it, or DELETE /v1/banks/{bank}/items/{id} first",
    },
    "bank-exists": {
        "cli": "add items to it with 'copytrace bank add', or choose another name",
        "http": "add items to it with POST /v1/banks/{bank}/items, or choose another name",
    },
}


class CopytraceError(Exception):
    """Base class of every error copytrace raises on purpose.

    ``advice``, when set, is a key of ``ADVICE``: the message ends with that remedy, in the terms of the
    place that shows it (``message``).
    """

    advice: str | None = None

    def message(self, surface: Surface = "cli") -> str:
        """The message as the command line (``"cli"``, also ``str(error)``) or the HTTP API shows it."""
        text = super().__str__()
        return text if self.advice is None else f"{text}: {ADVICE[self.advice][surface]}"

    def __str__(self) -> str:
        return self.message("cli")


class InputError(CopytraceError):
    """Text or a file that cannot be used as input."""


class TooShortError(InputError):
    """Text with fewer tokens than one k-gram, which therefore has no fingerprint."""

    def __init__(self, n_tokens: int, k: int) -> None:
        super().__init__(
            f"text has {n_tokens} token(s), fewer than one {k}-token k-gram: too short to fingerprint"
        )
        self.n_tokens = n_tokens
        self.k = k


class NoTokenError(TooShortError):
    """Text with no token at all (no letter, digit or ideograph): it cannot even be a phrase."""

    def __init__(self, what: str = "text") -> None:
        InputError.__init__(self, f"{what} has no token at all (no letter or digit): nothing to match")
        self.n_tokens = 0
        self.k = 0


class InvalidNameError(InputError):
    """A bank name or item id that is not of the allowed form (``copytrace.names``)."""


class FingerprintFormatError(CopytraceError):
    """A fingerprint string that does not parse."""


class ParameterMismatchError(CopytraceError):
    """Fingerprints made with different parameters, or with another key, cannot be compared."""

    def __init__(self, expected: object, got: object, what: str = "fingerprint", message: str = "") -> None:
        super().__init__(
            message
            or f"{what} parameters {got} do not match {expected}: fingerprint both sides with the same "
            "algorithm version, k, window and key"
        )
        self.expected = expected
        self.got = got


class KeyFormatError(CopytraceError):
    """A secret key that cannot be used."""


class StoreError(CopytraceError):
    """The bank store cannot do what was asked."""


class UnknownBankError(StoreError):
    advice = "unknown-bank"

    def __init__(self, bank: str) -> None:
        super().__init__(f"unknown bank {bank!r}")
        self.bank = bank


class UnknownItemError(StoreError):
    def __init__(self, bank: str, item_id: str) -> None:
        super().__init__(f"no item {item_id!r} in bank {bank!r}")
        self.bank = bank
        self.item_id = item_id


class DuplicateItemError(StoreError):
    advice = "duplicate-item"

    def __init__(self, bank: str, item_id: str) -> None:
        super().__init__(f"item {item_id!r} is already in bank {bank!r}")
        self.bank = bank
        self.item_id = item_id


class BankExistsError(StoreError):
    """A bank of that name exists where a new one was asked for."""

    advice = "bank-exists"

    def __init__(self, bank: str) -> None:
        super().__init__(f"bank {bank!r} exists")
        self.bank = bank


class RecordError(CopytraceError):
    """A malformed record in JSON Lines input."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason
