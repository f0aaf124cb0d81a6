"""The names of an index's items, (bank, item id) by item number, kept as flat arrays a snapshot maps.

A million names as Python tuples and a dict cost a few hundred megabytes in every process that loads the
index and a second or more to rebuild; as arrays they are mapped from the snapshot and shared.  The ids are
one UTF-8 blob with start offsets; a name is found by a 64-bit FNV-1a hash of its bank number and id, in a
sorted table of those hashes.  Names added after the snapshot are kept in a dict beside it.

>>> names = ItemNames()
>>> names.append("news", "a"), names.append("news", "b")
(0, 1)
>>> names.number("news", "b"), names[1], names.number("blogs", "b")
(1, ('news', 'b'), None)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..jit import njit

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _fnv(blob, starts, banks):  # type: ignore[no-untyped-def]
    """FNV-1a 64 of each name: its bank number (4 bytes, little-endian), then its id's UTF-8 bytes."""
    n = starts.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        h = _FNV_OFFSET
        b = np.uint64(banks[i])
        for _ in range(4):
            h = (h ^ (b & np.uint64(0xFF))) * _FNV_PRIME
            b = b >> np.uint64(8)
        for p in range(starts[i], starts[i + 1]):
            h = (h ^ np.uint64(blob[p])) * _FNV_PRIME
        out[i] = h
    return out


def _hash_one(bank: int, item_id: str) -> np.uint64:
    data = np.frombuffer(item_id.encode("utf-8"), dtype=np.uint8)
    return _fnv(data, np.array([0, len(data)], dtype=np.int64), np.array([bank], dtype=np.int64))[0]  # type: ignore[no-any-return]


class ItemNames:
    """(bank, item id) of every item number; ``number`` finds a present item's number by name.

    Numbers of removed items keep their names until ``select`` renumbers (as the index compacts).
    """

    def __init__(self) -> None:
        self.banks: list[str] = []
        self._bank_codes: dict[str, int] = {}
        self.bank_of = np.zeros(0, dtype=np.int32)
        # the part read from a snapshot: numbers 0 .. n_base-1
        self._blob = np.zeros(0, dtype=np.uint8)
        self._starts = np.zeros(1, dtype=np.int64)
        self._hashes = np.zeros(0, dtype=np.uint64)  # sorted
        self._order = np.zeros(0, dtype=np.uint32)  # number of each sorted hash
        self._removed: set[int] = set()
        # names appended since
        self._extra: list[tuple[str, str]] = []
        self._extra_lookup: dict[tuple[str, str], int] = {}

    @property
    def _n_base(self) -> int:
        return len(self._starts) - 1

    def __len__(self) -> int:
        """Numbers given out (present and removed-but-not-yet-renumbered items)."""
        return self._n_base + len(self._extra)

    def bank_code(self, bank: str) -> int | None:
        return self._bank_codes.get(bank)

    def __getitem__(self, number: int) -> tuple[str, str]:
        n_base = self._n_base
        if number >= n_base:
            return self._extra[number - n_base]
        raw = self._blob[self._starts[number] : self._starts[number + 1]].tobytes()
        return self.banks[self.bank_of[number]], raw.decode("utf-8")

    def number(self, bank: str, item_id: str) -> int | None:
        """The number of the present item ``(bank, item_id)``, or None."""
        found = self._extra_lookup.get((bank, item_id))
        if found is not None or not self._n_base:
            return found
        code = self._bank_codes.get(bank)
        if code is None:
            return None
        h = _hash_one(code, item_id)
        lo = int(np.searchsorted(self._hashes, h, side="left"))
        want = item_id.encode("utf-8")
        while lo < len(self._hashes) and self._hashes[lo] == h:
            n = int(self._order[lo])
            if (
                n not in self._removed
                and self.bank_of[n] == code
                and self._blob[self._starts[n] : self._starts[n + 1]].tobytes() == want
            ):
                return n
            lo += 1
        return None

    def numbers(self, bank: str, item_ids: list[str]) -> list[int | None]:
        """``number(bank, i)`` of each of ``item_ids``, the ids of the snapshot part hashed and looked up in
        one pass: a name whose hash is not in the table is absent without a look at the blob."""
        out = [self._extra_lookup.get((bank, i)) for i in item_ids]
        code = self._bank_codes.get(bank)
        if not self._n_base or code is None:
            return out
        todo = [k for k, found in enumerate(out) if found is None]
        encoded = [item_ids[k].encode("utf-8") for k in todo]
        starts = np.zeros(len(todo) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(todo)), out=starts[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        hashes = _fnv(blob, starts, np.full(len(todo), code, dtype=np.int64))
        at = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        for j in np.flatnonzero(self._hashes[at] == hashes).tolist():
            out[todo[j]] = self.number(bank, item_ids[todo[j]])
        return out

    def append(self, bank: str, item_id: str) -> int:
        """Give the next number to a new present item."""
        number = len(self)
        code = self._bank_codes.setdefault(bank, len(self._bank_codes))
        if code == len(self.banks):
            self.banks.append(bank)
        if number >= len(self.bank_of):
            self.bank_of = np.resize(self.bank_of, max(64, 2 * len(self.bank_of), number + 1))
        self.bank_of[number] = code
        self._extra.append((bank, item_id))
        self._extra_lookup[(bank, item_id)] = number
        return number

    def fold(self) -> None:
        """Join the names appended since the base to it, as flat arrays (numbers unchanged): a million
        names then cost their bytes and two arrays, not a million tuples and a dict."""
        if not self._extra:
            return
        n_base, n = self._n_base, len(self)
        removed = {
            number
            for number, name in enumerate(self._extra, n_base)
            if self._extra_lookup.get(name) != number
        }
        encoded = [item_id.encode("utf-8") for _, item_id in self._extra]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
        blob = np.concatenate((self._blob, np.frombuffer(b"".join(encoded), dtype=np.uint8)))
        starts = np.concatenate((self._starts, self._starts[-1] + np.cumsum(lengths)))
        added = _fnv(blob, starts[n_base:], self.bank_of[n_base:n])
        hashes = np.concatenate((self._hashes, added))
        order = np.concatenate((self._order, np.arange(n_base, n, dtype=np.uint32)))
        by_hash = np.argsort(hashes, kind="stable")
        self._blob, self._starts = blob, starts
        self._hashes, self._order = hashes[by_hash], order[by_hash]
        self._removed |= removed
        self._extra = []
        self._extra_lookup = {}

    def remove(self, number: int) -> None:
        """The item ``number`` is no longer present (its name stays until ``select``)."""
        if number >= self._n_base:
            del self._extra_lookup[self._extra[number - self._n_base]]
        else:
            self._removed.add(number)

    def base_hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """The sorted hashes of the names of the flat part (``fold``'s and the snapshot's) and the number of
        each: another set of names finds its names' numbers here without a look at the blob (a 64-bit hash
        of the bank number and id, so both must number their banks alike)."""
        return self._hashes, self._order

    def hashes_by_number(self) -> np.ndarray:
        """The hash of each name of the flat part, by number (``base_hashes`` unsorted)."""
        out = np.zeros(self._n_base, dtype=np.uint64)
        out[self._order] = self._hashes
        return out

    def iter_numbers(self, numbers: np.ndarray) -> Iterator[tuple[str, str]]:
        for n in numbers.tolist():
            yield self[n]

    # ------------------------------------------------------------------------------------ snapshots
    def select(self, live: np.ndarray) -> ItemNames:
        """The names of the items ``live`` (ascending numbers), renumbered 0..len(live)-1."""
        out = ItemNames()
        out.banks = list(self.banks)
        out._bank_codes = dict(self._bank_codes)
        pairs = list(self.iter_numbers(live))
        out._set_base([i for _, i in pairs], self.bank_of[live])
        return out

    def _set_base(self, ids: list[str], bank_of: np.ndarray) -> None:
        encoded = [i.encode("utf-8") for i in ids]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
        starts = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        base = ItemNames.from_blob(
            self.banks, np.frombuffer(b"".join(encoded), dtype=np.uint8), starts, np.array(bank_of, np.int32)
        )
        self._blob, self._starts, self.bank_of = base._blob, base._starts, base.bank_of
        self._hashes, self._order = base._hashes, base._order
        self._removed = set()
        self._extra = []
        self._extra_lookup = {}

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a snapshot stores: of every number, all present (the index compacts first)."""
        assert not self._removed, "compact the index before saving it"
        if self._extra:
            return self.select(np.arange(len(self))).arrays()
        n = self._n_base
        return {
            "name_blob": self._blob,
            "name_starts": self._starts,
            "name_hashes": self._hashes,
            "name_order": self._order,
            "bank_of": self.bank_of[:n],
        }

    @classmethod
    def from_arrays(cls, banks: list[str], arrays: dict[str, np.ndarray]) -> ItemNames:
        """Names over arrays from a snapshot (kept as they are: mapped arrays stay shared)."""
        out = cls()
        out.banks = list(banks)
        out._bank_codes = {b: i for i, b in enumerate(banks)}
        out._blob = arrays["name_blob"]
        out._starts = arrays["name_starts"]
        out._hashes = arrays["name_hashes"]
        out._order = arrays["name_order"]
        out.bank_of = arrays["bank_of"]
        return out

    @classmethod
    def from_blob(
        cls, banks: list[str], blob: np.ndarray, starts: np.ndarray, bank_of: np.ndarray
    ) -> ItemNames:
        """Names of numbers ``0 .. len(starts)-2``: ids as one UTF-8 ``blob`` cut at ``starts``, each in
        bank ``banks[bank_of[i]]``."""
        out = cls()
        out.banks = list(banks)
        out._bank_codes = {b: i for i, b in enumerate(banks)}
        out._blob, out._starts = blob, starts
        out.bank_of = np.asarray(bank_of, dtype=np.int32)
        hashes = _fnv(blob, starts, out.bank_of)
        out._order = np.argsort(hashes, kind="stable").astype(np.uint32)
        out._hashes = hashes[out._order]
        return out

    def first_duplicate(self) -> tuple[str, str] | None:
        """A name given two numbers among the snapshot part, if any (equal hashes, then equal names)."""
        same = np.flatnonzero(self._hashes[1:] == self._hashes[:-1])
        for at in same.tolist():
            a, b = self[int(self._order[at])], self[int(self._order[at + 1])]
            if a == b:
                return a
        return None

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> ItemNames:
        out = cls()
        for bank, _ in pairs:
            if bank not in out._bank_codes:
                out._bank_codes[bank] = len(out.banks)
                out.banks.append(bank)
        codes = np.fromiter((out._bank_codes[b] for b, _ in pairs), dtype=np.int32, count=len(pairs))
        out._set_base([i for _, i in pairs], codes)
        return out
