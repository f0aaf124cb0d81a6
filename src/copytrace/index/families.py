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
same families, whatever order it learnt them in.  A family is named by its earliest-added member (the
smallest item number).

>>> names = ["a", "b", "c"]
>>> present = {}
>>> f = Families(present.get, names.__getitem__)
>>> present.update(a=0, b=1, c=2)
>>> f.add(0, "a", [])
>>> f.add(1, "b", ["a"])
>>> f.add(2, "c", ["b"])
>>> f.family_of(2), f.size(0)
(0, 3)
>>> del present["b"]; f.remove(1)  # "b" held the family together
>>> f.family_of(2), f.size(0), f.size(2)
(2, 1, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

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

    The owner names its items: ``number_of(name)`` is the number of the present item called ``name`` (None
    when absent), ``name_of(number)`` its name.  Only links and families of two or more are kept here, so a
    bank of a million items without versions costs one array.  ``labels`` gives every item number the
    number of one member of its family (the same for all members): the array the matching kernel reads.
    Merging relabels the smaller family, so building a family of n versions costs n log n.
    """

    def __init__(
        self, number_of: Callable[[Hashable], int | None], name_of: Callable[[int], Hashable]
    ) -> None:
        self._number_of = number_of
        self._name_of = name_of
        self.labels = np.zeros(0, dtype=np.int64)
        self._labelled = 0  # entries of ``labels`` that hold a label; the rest is room to grow into
        self._members: dict[int, list[int]] = {}  # label -> member numbers, families of two or more
        self._links: dict[Hashable, tuple[Hashable, ...]] = {}  # name -> names it linked to when added
        self._linked_by: dict[Hashable, set[Hashable]] = {}  # name -> names of items that link to it
        self._links_source: Callable[[], dict[Hashable, tuple[Hashable, ...]]] | None = None  # not yet taken
        self._mentioned: Callable[[Hashable], bool] | None = None  # whether those links name a name

    # ------------------------------------------------------------------------------------------ reading
    def family_of(self, number: int) -> int:
        """The family of item ``number``, as the number of its earliest member (its name)."""
        members = self._members.get(int(self.labels[number]))
        return number if members is None else min(members)

    def size(self, number: int) -> int:
        """Number of present items in the family of item ``number``."""
        members = self._members.get(int(self.labels[number]))
        return 1 if members is None else len(members)

    def links(self, name: Hashable) -> tuple[Hashable, ...]:
        """The names ``name`` linked to when it was added (whether or not they are present now)."""
        self._load_links()
        return self._links.get(name, ())

    def linked(self) -> Iterator[tuple[int, Hashable]]:
        """(number, name) of every present item that has links."""
        self._load_links()
        for name in self._links:
            number = self._number_of(name)
            if number is not None:
                yield number, name

    def link_arrays(self, n: int) -> tuple[dict[str, np.ndarray], list[Hashable]]:
        """The links of items ``0 .. n-1`` as a snapshot stores them: ``link_starts`` (n + 1) into
        ``link_targets``, each an item number, or ``-1 - k`` for the k-th of the linked names that are not
        present (returned beside)."""
        counts = np.zeros(n, dtype=np.int64)
        targets: list[int] = []
        absent: list[Hashable] = []
        where: dict[Hashable, int] = {}
        for number, name in sorted(self.linked(), key=lambda pair: pair[0]):
            linked = self.links(name)
            counts[number] = len(linked)
            for other in linked:
                found = self._number_of(other)
                if found is None:
                    found = -1 - where.setdefault(other, len(where))
                    if -1 - found == len(absent):
                        absent.append(other)
                targets.append(found)
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return {"link_starts": starts, "link_targets": np.array(targets, dtype=np.int64)}, absent

    def count(self, numbers: Iterable[int]) -> int:
        """How many families the given present item numbers belong to."""
        picked = np.fromiter(numbers, dtype=np.int64)
        return len(np.unique(self.labels[picked])) if len(picked) else 0

    # ------------------------------------------------------------------------------------------ changes
    def restore(
        self,
        labels: np.ndarray,
        links: dict[Hashable, tuple[Hashable, ...]] | Callable[[], dict[Hashable, tuple[Hashable, ...]]],
    ) -> None:
        """Take families as saved: every item's ``labels`` entry and the links of the items that have any
        (all of them present), as ``add`` of each item with its links would have left them.

        ``links`` may be a function giving them, called on first need only (an item removed or added with
        links, the links asked for): a snapshot names its links by item number, and naming them all cost a
        start from a snapshot a tenth of a second and more for every 10,000 linked items, before any change
        needed them (``mentions`` spares the additions without links that as well).  The members of each
        family are found from ``labels`` alone, among the items not labelled with their own number: a
        family's label is one of its members, labelled with itself.

        ``labels`` is copied with room for as many items again, so that the first item added after a start
        from a snapshot does not copy the labels of all its items a second time."""
        n = len(labels)
        self.labels = np.zeros(max(64, 2 * n), dtype=np.int64)  # its untouched tail costs no memory yet
        self.labels[:n] = labels
        self._labelled = n
        labels = self.labels[:n]
        moved = np.flatnonzero(labels != np.arange(n))
        grouped = np.concatenate((moved, np.unique(labels[moved])))
        label = labels[grouped]
        order = np.lexsort((grouped, label))
        grouped, label = grouped[order], label[order]
        cuts = (np.flatnonzero(np.diff(label)) + 1).tolist()
        starts, ends = [0, *cuts], [*cuts, len(label)]
        self._members = {
            int(label[a]): grouped[a:b].tolist() for a, b in zip(starts, ends, strict=True) if b > a
        }
        self._links, self._linked_by = {}, {}
        self._links_source = links if callable(links) else None
        self._mentioned = None
        if not callable(links):
            self._take_links(links)

    def mentions(self, mentioned: Callable[[Hashable], bool]) -> None:
        """While the links ``restore`` was given as a function are not taken: ``mentioned(name)`` says
        whether one of them starts or ends at ``name``.  An item added under a name none of them mentions
        is added without taking them: the families it joins are those of the items it links to (and of the
        items added since that link to it), which the labels know; its links are kept beside the saved
        ones and taken in with them when they are needed (a removal, the links asked for).  Taking the
        links of a bank with many costs tenths of a second (0.08 s for 14,306 links at 1,000,000 items):
        the first item a service worker or a command added after a start from a snapshot paid it, versions
        of banked items included."""
        if self._links_source is not None:
            self._mentioned = mentioned

    def prepare(self) -> None:
        """Make now whatever ``mentions`` makes at its first question (a mark per saved item), so that the
        first item added does not pay for it."""
        if self._mentioned is not None:
            self._mentioned(("", ""))

    def _take_links(self, links: dict[Hashable, tuple[Hashable, ...]]) -> None:
        self._links = dict(links)
        self._linked_by = {}
        for name, linked in links.items():
            for other in linked:
                self._linked_by.setdefault(other, set()).add(name)

    def _load_links(self) -> None:
        """The links ``restore`` was given as a function, taken now that they are needed, with those of
        the items added since (``mentions``: none of them is a name the saved links start at)."""
        source = self._links_source
        if source is not None:
            self._links_source = self._mentioned = None
            self._take_links({**source(), **self._links})

    def _grow(self, stop: int) -> None:
        """Room in ``labels`` for the item numbers below ``stop``, each labelled with itself until added:
        doubling, the old labels copied once (a start from a snapshot made room for as many again)."""
        known = self._labelled
        if stop <= known:
            return
        if stop > len(self.labels):
            grown = np.zeros(max(64, 2 * len(self.labels), stop), dtype=np.int64)
            grown[:known] = self.labels[:known]
            self.labels = grown
        self.labels[known:stop] = np.arange(known, stop)
        self._labelled = stop

    def add(self, number: int, name: Hashable, links: Sequence[Hashable]) -> None:
        """Register item ``number`` as ``name`` with its links; it joins or merges their families."""
        self._grow(number + 1)
        self.labels[number] = number
        self.link(number, name, links)

    def extend(self, start: int, stop: int) -> None:
        """Register the new item numbers ``start`` to ``stop`` (exclusive), each a family of its own:
        ``add`` without links, for many at once."""
        self._grow(stop)
        self.labels[start:stop] = np.arange(start, stop)

    def link(self, number: int, name: Hashable, links: Sequence[Hashable]) -> None:
        """Record the links of item ``number`` (added without them) and join the families they name."""
        mentioned = self._mentioned
        if mentioned is None or mentioned(name):
            self._load_links()
        # else no saved link starts or ends at ``name``: its neighbours are among the links given since
        links = tuple(dict.fromkeys(n for n in (*self._links.get(name, ()), *links) if n != name))
        for other in self._links.get(name, ()):
            self._linked_by.get(other, set()).discard(name)
        if links:
            self._links[name] = links
            for other in links:
                self._linked_by.setdefault(other, set()).add(name)
        for other in self._neighbours(name):
            self._union(number, other)

    def remove(self, number: int) -> None:
        """Drop item ``number``; the rest of its family is split into what its links still connect."""
        self.remove_many([number])

    def remove_many(self, numbers: Sequence[int]) -> None:
        """Drop the items ``numbers`` at once: as ``remove`` of each, with what is left of each family
        re-derived once, not once per item dropped from it."""
        self._load_links()
        gone = set(numbers)
        rest: list[int] = []
        for number in numbers:
            name = self._name_of(number)
            members = self._members.pop(int(self.labels[number]), None)  # None once its family is taken
            for other in self._links.pop(name, ()):
                named = self._linked_by.get(other)
                if named is not None:
                    named.discard(name)
                    if not named:
                        del self._linked_by[other]
            if members is not None:
                rest.extend(m for m in members if m not in gone)
        self.labels[rest] = rest
        for m in rest:  # re-derive the components of what is left
            for other in self._neighbours(self._name_of(m)):
                self._union(m, other)

    def renumber(self, mapping: np.ndarray) -> None:
        """Apply an index compaction: item ``old`` is now ``mapping[old]`` (-1 for a dropped item)."""
        live = np.flatnonzero(mapping >= 0)
        labels = np.arange(max(64, len(live)), dtype=np.int64)
        labels[mapping[live]] = mapping[self.labels[live]]
        self.labels = labels
        self._labelled = len(labels)
        self._members = {int(mapping[k]): [int(mapping[m]) for m in v] for k, v in self._members.items()}

    # --------------------------------------------------------------------------------------- internals
    def _neighbours(self, name: Hashable) -> list[int]:
        """Numbers of the present items linked with ``name`` in either direction (of the links taken, and
        of those given since: the saved ones mention no name it is asked of before they are taken)."""
        out = []
        for other in (*self._links.get(name, ()), *self._linked_by.get(name, ())):
            number = self._number_of(other)
            if number is not None:
                out.append(number)
        return out

    def _union(self, a: int, b: int) -> None:
        la, lb = int(self.labels[a]), int(self.labels[b])
        if la == lb:
            return
        ma, mb = self._members.get(la, [la]), self._members.get(lb, [lb])
        if len(ma) < len(mb):
            la, lb, ma, mb = lb, la, mb, ma
        self.labels[mb] = la  # the smaller family takes the larger one's label
        ma.extend(mb)
        self._members[la] = ma
        self._members.pop(lb, None)
