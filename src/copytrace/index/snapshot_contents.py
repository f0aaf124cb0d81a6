"""What an index snapshot holds: an index's meta and arrays, and the checks that refuse a damaged one.

``Index.save`` and ``snapshot_build.SnapshotBuilder`` write the same contents (``contents``), which
``snapshot`` lays out in a file; ``Index.load`` checks them (``check``) before it takes the arrays
as they are.  The layout of each array: ``docs/formats.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, cast

import numpy as np

from ..fingerprints.fingerprint import FingerprintParams
from ..phrases import PhraseTable
from ._item_names import ItemNames
from .families import Families
from .snapshot import Placeholder

FORMAT = "copytrace-index/4"  # 2: copy-family links; 3: bucketed postings, memory-mapped; 4: phrases


def contents(
    *,
    params: FingerprintParams,
    bits: int,
    postings: dict[str, np.ndarray | Placeholder],
    page_item: np.ndarray,
    page_no: np.ndarray,
    item_page: np.ndarray,
    nfp: np.ndarray,
    ntok: np.ndarray,
    names: ItemNames,
    families: Families,
    texts: dict[int, tuple[str, bool | None]],
    phrases: PhraseTable,
    origin: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray | Placeholder]]:
    """The meta and arrays of a snapshot of ``len(item_page)`` items, all present; ``postings`` holds
    ``offsets``, ``tags``, ``refs`` and ``pos`` (``_postings``); ``phrases`` the items' phrases
    (``copytrace.phrases``); ``origin`` (JSON), when given, what the index was derived from: ``Index.load``
    refuses the snapshot unless the caller expects exactly that (``snapshot.read``)."""
    n = len(item_page)
    links, absent = families.link_arrays(n)
    meta = {
        "params": str(params),
        "banks": names.banks,
        "bits": bits,
        "n_items": n,
        "n_pages": len(page_item),
        "texts": {str(idx): [t, h] for idx, (t, h) in texts.items()},
        "absent_links": [list(name) for name in absent],  # type: ignore[call-overload]
        "phrase_params": str(phrases.params),
    }
    if origin is not None:
        meta["origin"] = origin
    arrays: dict[str, np.ndarray | Placeholder] = {
        **postings,
        "page_item": page_item,
        "page_no": page_no,
        "item_page": item_page,
        "nfp": nfp,
        "ntok": ntok,
        "labels": families.labels[:n],
        **links,
        **names.arrays(),
        **phrases.arrays(),
    }
    return meta, arrays


def check(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Raise ``ValueError`` naming what is inconsistent, unless every bound the matching code relies on
    holds: then a damaged snapshot can give wrong answers but never read out of bounds."""
    n, pages, bits = int(meta["n_items"]), int(meta["n_pages"]), int(meta["bits"])
    offsets, tags, refs, pos = arrays["offsets"], arrays["tags"], arrays["refs"], arrays["pos"]
    size = len(tags)
    checks = {
        "bucket bits": 1 <= bits <= 32 and len(offsets) == (1 << bits) + 1,
        "posting arrays": len(refs) == size and len(pos) == size,
        "bucket offsets": int(offsets[0]) == 0
        and int(offsets[-1]) == size
        and bool(np.all(offsets[1:] >= offsets[:-1])),
        "pages": size == 0 or int(refs.max()) < pages,
        "page table": len(arrays["page_item"]) == pages
        and len(arrays["page_no"]) == pages
        and (pages == 0 or int(arrays["page_item"].max()) < n),
        "items": all(len(arrays[a]) == n for a in ("item_page", "nfp", "ntok", "labels", "bank_of"))
        and (n == 0 or 0 <= int(arrays["labels"].min()) <= int(arrays["labels"].max()) < n)
        and len(arrays["link_starts"]) == n + 1,
    }
    bad = [what for what, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"inconsistent {', '.join(bad)}")


def links(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], names: ItemNames
) -> dict[Hashable, tuple[Hashable, ...]]:
    """The links of the items that have any, by name (``Families.restore``)."""
    absent = [tuple(pair) for pair in meta["absent_links"]]
    starts, targets = arrays["link_starts"], arrays["link_targets"]
    out: dict[Hashable, tuple[Hashable, ...]] = {}
    for idx in np.flatnonzero(np.diff(starts)).tolist():
        out[names[idx]] = tuple(
            names[t] if t >= 0 else absent[-1 - t] for t in targets[starts[idx] : starts[idx + 1]].tolist()
        )
    return out


def mentioned(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], names: ItemNames
) -> Callable[[Hashable], bool]:
    """Whether a link of the snapshot starts or ends at a name (``Families.mentions``), answered without
    naming the links: an item of the snapshot by its number (a mark per item, made at the first question),
    any other name against the linked names that were not present.  ``names`` is numbered as the
    snapshot: while no item was removed (a removal takes the links), a name it numbers past the snapshot's
    items is one added since, which no saved link names unless as an absent one."""
    n = int(meta["n_items"])
    marked: np.ndarray | None = None
    absent: set[Hashable] = set()

    def answer(name: Hashable) -> bool:
        nonlocal marked
        if marked is None:
            starts, targets = arrays["link_starts"], arrays["link_targets"]
            marked = np.zeros(n, dtype=bool)
            marked[np.flatnonzero(np.diff(starts))] = True
            marked[targets[targets >= 0]] = True
            absent.update(tuple(pair) for pair in meta["absent_links"])
        bank, item_id = cast("tuple[str, str]", name)  # an index names its items (bank, item id)
        number = names.number(bank, item_id)
        if number is not None and number < n:
            return bool(marked[number])
        return name in absent

    return answer
