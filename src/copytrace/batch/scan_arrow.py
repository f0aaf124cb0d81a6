"""A scan block's match rows as an Arrow table of ``scan_step.match_schema``, built from their buffers.

``pa.Table.from_pylist`` imports pandas the first time it runs (to ask whether a value is a pandas object):
about 0.3 s of a scan's start, paid before the first block because the command prepares the step once
and forks its workers.  A match row's columns are plain (strings, numbers, a list of structs of four
optional numbers, two structs), so they are laid out here through ``cluster_arrow``, which imports
nothing; ``tests/test_scan_arrow.py`` compares the table with ``from_pylist``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cluster_arrow as arrow

if TYPE_CHECKING:
    import pyarrow as pa

SPAN_FIELDS = ("query_start", "query_end", "item_start", "item_end")


def match_table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """``rows`` (``Match.to_dict()`` plus ``source``) as a table of ``schema`` (``match_schema``)."""
    import pyarrow as pa

    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    spans = [s for r in rows for s in r["spans"]]
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(r["spans"]) for r in rows], out=offsets[1:])
    span_struct = pa.StructArray.from_arrays(
        [arrow.optional_ints([s[f] for s in spans]) for f in SPAN_FIELDS],
        fields=list(schema.field("spans").type.value_type),
    )
    quotes = [r.get("quote") for r in rows]
    no_quote = [q is None for q in quotes]
    quote = pa.StructArray.from_arrays(
        [
            arrow.numeric([0 if q is None else q["tokens"] for q in quotes], np.int64),
            arrow.numeric([0.0 if q is None else q["bits"] for q in quotes], np.float64),
        ],
        fields=list(schema.field("quote").type),
        mask=arrow.bools(no_quote) if any(no_quote) else None,
    )
    source = pa.StructArray.from_arrays(
        [
            arrow.strings([r["source"]["file"] for r in rows]),
            arrow.optional_ints([r["source"]["row"] for r in rows]),
        ],
        fields=list(schema.field("source").type),
    )
    columns = [
        arrow.strings(col("query")),
        arrow.strings(col("bank")),
        arrow.strings(col("item_id")),
        arrow.numeric(col("score"), np.float64),
        arrow.numeric(col("query_containment"), np.float64),
        arrow.numeric(col("item_containment"), np.float64),
        pa.ListArray.from_arrays(arrow.numeric(offsets, np.int32), span_struct),
        arrow.strings(col("family")),
        arrow.numeric(col("family_size"), np.int64),
        arrow.strings(col("kind")),
        quote,
        source,
    ]
    return arrow.table(columns, schema)
