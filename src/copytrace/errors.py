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
    │   └── DuplicateItemError
    └── RecordError                a malformed record in a JSON Lines input, with its line number

Messages say what was wrong and what to do about it.
"""

from __future__ import annotations


class CopytraceError(Exception):
    """Base class of every error copytrace raises on purpose."""


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
    def __init__(self, bank: str) -> None:
        super().__init__(f"unknown bank {bank!r}: list banks with 'copytrace bank list'")
        self.bank = bank


class UnknownItemError(StoreError):
    def __init__(self, bank: str, item_id: str) -> None:
        super().__init__(f"no item {item_id!r} in bank {bank!r}")
        self.bank = bank
        self.item_id = item_id


class DuplicateItemError(StoreError):
    def __init__(self, bank: str, item_id: str) -> None:
        super().__init__(
            f"item {item_id!r} is already in bank {bank!r}: remove it first or add with --replace"
        )
        self.bank = bank
        self.item_id = item_id


class RecordError(CopytraceError):
    """A malformed record in JSON Lines input."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason
