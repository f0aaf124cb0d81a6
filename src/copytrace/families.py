"""Copy families: which banked items are versions of one text, decided once and kept as items come and go.

A bank that holds every repost of a manifesto holds many *versions* of one text, each with its own header,
footer, channel name and small edits.  Evidence must not treat what those versions share as boilerplate:
boilerplate is text that many *unrelated* texts share.  So the index counts, for each fingerprint, the
**families** that hold it, not the items.

The rule (``is_version``): two fingerprinted texts are versions of each other when the ordered-chain
evidence of ``match`` holds between them and each contains at least ``VERSION_CONTAINMENT`` of the other's
fingerprints.  A quoted paragraph banked on its own is not a version of the article it comes from (it holds
a small share of the article), nor is a text that merely shares a licence footer.

When an item is added, it is matched against its bank and *linked* to at most ``MAX_LINKS`` of the versions
found (the best first).  A family is a connected component of the links among the items present.  Links are
the persistent record (the store keeps them with each item; a snapshot keeps them too), families are
derived: an added item joins, or merges, the families it links to; a removed item takes its links with it,
and its family splits if it held it together.  Any process that knows the same items and links derives the
same families, whatever order it learnt them in.  A family is named by its earliest-added member.

>>> f = Families()
>>> f.add(0, "a", [])
>>> f.add(1, "b", ["a"])
>>> f.add(2, "c", ["b"])
>>> f.family_of(2), f.size(0)
(0, 3)
>>> f.remove(1)  # "b" held the family together
>>> f.family_of(2), f.size(0), f.size(2)
(2, 1, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

VERSION_CONTAINMENT = 0.5
MAX_LINKS = 8


def is_version(query_containment: float, item_containment: float) -> bool:
    """Whether two texts with ordered evidence between them are versions of each other.

    >>> is_version(0.93, 0.97), is_version(1.0, 0.08)
    (True, False)
    """
    return min(query_containment, item_containment) >= VERSION_CONTAINMENT


class Families:
    """The families of the items of one index, keyed by the index's item numbers.

    ``add(number, name, links)`` registers an item under a name unique in the index (its links name other
    items the same way); ``remove(number)`` drops it.  ``labels`` is the family of every item number as the
    number of the family's earliest member, the array the matching kernel reads.
    """

    def __init__(self) -> None:
        self.labels = np.zeros(0, dtype=np.int64)
        self._number: dict[str, int] = {}  # name -> number of the present item with that name
        self._name: dict[int, str] = {}
        self._links: dict[str, tuple[str, ...]] = {}  # name -> names it linked to when added
        self._linked_by: dict[str, set[str]] = {}  # name -> names of items whose links name it
        self._members: dict[int, list[int]] = {}  # label -> member numbers, for families of two or more

    # ------------------------------------------------------------------------------------------ reading
    def family_of(self, number: int) -> int:
        return int(self.labels[number])

    def size(self, number: int) -> int:
        members = self._members.get(int(self.labels[number]))
        return 1 if members is None else len(members)

    def links(self, name: str) -> tuple[str, ...]:
        """The names ``name`` linked to when it was added (whether or not they are present now)."""
        return self._links.get(name, ())

    def count(self, numbers: Iterable[int]) -> int:
        """How many families the given (present) item numbers belong to."""
        return len({int(self.labels[n]) for n in numbers})

    def __len__(self) -> int:
        return len(self._number)

    # ------------------------------------------------------------------------------------------ changes
    def add(self, number: int, name: str, links: Sequence[str]) -> None:
        """Register item ``number`` as ``name`` with its links; it joins or merges their families."""
        if number >= len(self.labels):
            grown = np.arange(max(64, 2 * len(self.labels), number + 1), dtype=np.int64)
            grown[: len(self.labels)] = self.labels
            self.labels = grown
        self.labels[number] = number
        self._number[name] = number
        self._name[number] = name
        links = tuple(dict.fromkeys(n for n in links if n != name))
        if links:
            self._links[name] = links
            for other in links:
                self._linked_by.setdefault(other, set()).add(name)
        for other in self._neighbours(name):
            self._union(number, self._number[other])

    def remove(self, number: int) -> None:
        """Drop item ``number``; the rest of its family is split into what its links still connect."""
        name = self._name.pop(number)
        del self._number[name]
        label = int(self.labels[number])
        members = self._members.pop(label, None)
        for other in self._links.pop(name, ()):
            named = self._linked_by.get(other)
            if named is not None:
                named.discard(name)
                if not named:
                    del self._linked_by[other]
        if members is None:
            return
        rest = [m for m in members if m != number]
        for m in rest:
            self.labels[m] = m
        for m in rest:  # re-derive the components of what is left, each labelled by its earliest member
            if self.labels[m] == m and int(m) not in self._members:
                self._flood(m)

    def renumber(self, mapping: np.ndarray) -> None:
        """Apply an index compaction: item ``old`` is now ``mapping[old]`` (-1 for a dropped item)."""
        live = np.flatnonzero(mapping[: len(self.labels)] >= 0) if len(self.labels) else np.zeros(0, np.int64)
        labels = np.arange(max(64, len(live)), dtype=np.int64)
        self._name = {int(mapping[old]): name for old, name in self._name.items()}
        self._number = {name: number for number, name in self._name.items()}
        members: dict[int, list[int]] = {}
        for group in self._members.values():
            new = sorted(int(mapping[m]) for m in group)
            for m in new:
                labels[m] = new[0]
            members[new[0]] = new
        self.labels = labels
        self._members = members

    # --------------------------------------------------------------------------------------- internals
    def _neighbours(self, name: str) -> list[str]:
        """Present items linked with ``name`` in either direction."""
        near = [*self._links.get(name, ()), *self._linked_by.get(name, ())]
        return [n for n in near if n in self._number]

    def _union(self, a: int, b: int) -> None:
        la, lb = int(self.labels[a]), int(self.labels[b])
        if la == lb:
            return
        keep, gone = min(la, lb), max(la, lb)
        moved = self._members.pop(gone, [gone])
        for m in moved:
            self.labels[m] = keep
        self._members[keep] = sorted([*self._members.get(keep, [keep]), *moved])

    def _flood(self, start: int) -> None:
        """Label the component of ``start`` (every member currently labelled by itself)."""
        seen = {start}
        todo = [start]
        while todo:
            m = todo.pop()
            for other in self._neighbours(self._name[m]):
                n = self._number[other]
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        if len(seen) == 1:
            return
        group = sorted(seen)
        for m in group:
            self.labels[m] = group[0]
        self._members[group[0]] = group
