"""Choosing the banks a search may use: the banks made with the search's parameters, and why others are not.

A bank is searched with the parameters (key, k, window, versions) it was made with, and banks made with
different ones cannot be searched together.  ``banks_for`` sorts a store's banks by the parameters a search
wants; ``search_params`` gives the one parameter set of the banks a caller named, or an error naming the
banks and both parameter strings.  Both compare the stored parameter strings, so a bank of a version this
copytrace cannot read is left out rather than failing the listing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import FingerprintFormatError, ParameterMismatchError, UnknownBankError
from ..fingerprints.fingerprint import FingerprintParams
from ..fingerprints.keys import Key
from ..store.store import Store


@dataclass(frozen=True)
class BankSelection:
    """Which banks an index with parameters ``wanted`` can search, and which others it must leave out."""

    wanted: str
    searched: list[str]
    left_out: dict[str, str]  # bank name -> the parameter string it was made with

    def why_left_out(self) -> str:
        """``'keyed' (ctw1:n1:k5:w4:0123456789abcdef: another key), ...`` for a message."""
        wanted_key = self.wanted.rsplit(":", 1)[-1]

        def why(params: str) -> str:
            return "another key" if params.rsplit(":", 1)[-1] != wanted_key else "other parameters"

        return ", ".join(f"{name!r} ({params}: {why(params)})" for name, params in self.left_out.items())

    def nothing_searchable(self) -> ParameterMismatchError:
        """The error for a store none of whose banks can be searched with ``wanted``."""
        return ParameterMismatchError(
            self.wanted,
            self.left_out,
            what="banks",
            message=f"no bank can be searched with {self.wanted}: {self.why_left_out()}; name a bank to "
            "search it with its own k and window (--bank), with the key it was made with (--key-file)",
        )


def banks_for(store: Store, params: FingerprintParams) -> BankSelection:
    """The banks made with exactly ``params`` (key, k, window and versions) and the others, left out."""
    wanted = str(params)
    stored = sorted(store.bank_param_strings().items())
    return BankSelection(
        wanted,
        [name for name, p in stored if p == wanted],
        {name: p for name, p in stored if p != wanted},
    )


def search_params(store: Store, names: list[str], key: Key) -> FingerprintParams | None:
    """The one parameter set of the named banks (None for no bank); an error naming banks and parameters
    when they were made with several, or with another key than ``key``."""
    stored = store.bank_param_strings(names)
    first_bank: dict[str, str] = {}
    for n in names:
        if n not in stored:
            raise UnknownBankError(n)
        first_bank.setdefault(stored[n], n)
    if len(first_bank) > 1:
        (p1, b1), (p2, b2) = list(first_bank.items())[:2]
        raise ParameterMismatchError(
            p1,
            p2,
            what="banks",
            message=f"banks {b1!r} ({p1}) and {b2!r} ({p2}) were made with different parameters and "
            "cannot be searched together: search them one at a time",
        )
    if not first_bank:
        return None
    ((text, bank),) = first_bank.items()
    try:
        params = FingerprintParams.parse(text)
    except FingerprintFormatError as exc:
        raise FingerprintFormatError(f"bank {bank!r}: {exc}") from exc
    if params.key_id != key.key_id:
        ours = dataclasses.replace(params, key_id=key.key_id)
        raise ParameterMismatchError(
            params,
            ours,
            what=f"bank {bank!r}",
            message=f"bank {bank!r} was made with {params}, this search fingerprints with {ours}: "
            "another key; search it with the key it was made with (--key-file)",
        )
    return params
