"""Reading one block's documents, and naming each bad record by its file and line or row.

The rules are the CLI's: a JSON Lines record is read as ``match --jsonl`` reads it (``records.iter_records``:
malformed JSON, no ``"id"``, no ``"text"``, a line that is not UTF-8 are bad records); a ``.txt`` file as
``match`` reads a file (``textio``: a byte-order mark honoured, Windows-1252 when it is not UTF-8, binary or
empty files refused); a Parquet row is bad when its id or text is null or empty, or its text is bytes that
are not UTF-8 or are binary.  A bad record is reported and the block goes on.

Every record is held to ``max_bytes`` (``--max-size``), measured after decompression: a JSON Lines line, a
``.txt`` file, a Parquet row's id and text.  A longer one is a bad record (``record over --max-size``), and
it is never held whole: a line is read at most ``max_bytes + 1`` bytes at a time and the rest of an
over-long line is read past in pieces of ``SKIP_PIECE`` bytes, so a decompression bomb of one endless line
costs what a record at the limit costs.  (A Parquet cell is decoded by Arrow with its page before it can be
measured; an over-long cell is then dropped without being converted to a Python string.)

Rows of a JSON Lines byte range are numbered from the range's first line: the job adds the lines of the
file's earlier ranges when it knows them (``markers``), so every line number reported is the file's own.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from ..errors import CopytraceError, RecordError
from ..fingerprints.records import iter_records
from ..text.textio import DEFAULT_MAX_BYTES, decode_bytes
from .inputs import Block, TableColumns, filesystem

DUPLICATES_SHOWN = 20  # duplicate ids named in the warning and summary.json
SKIP_PIECE = 1 << 20  # bytes read at a time past the rest of an over-long line
OVER: Final = "record over --max-size"


def over_limit(limit: int, size: int | None = None) -> str:
    """The reason given for a record longer than ``limit`` bytes (``size``: its length, when known).

    >>> over_limit(1024, 5000)
    'record over --max-size (5,000 bytes; the limit is 1,024)'
    >>> over_limit(1024)
    'record over --max-size (more than 1,024 bytes)'
    """
    if size is None:
        return f"{OVER} (more than {limit:,} bytes)"
    return f"{OVER} ({size:,} bytes; the limit is {limit:,})"


log = logging.getLogger("copytrace.batch")


class _TooLong:
    """Stands in for a line longer than the limit: only its length is kept."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


@dataclass(frozen=True)
class Doc:
    """A document to work on: ``row`` is its line (JSON Lines; from the block's start) or row (Parquet,
    1-based, the file's own); ``file`` the file it came from."""

    id: str
    text: str
    file: str
    row: int | None


@dataclass(frozen=True)
class Bad:
    """A record that could not be read, and why."""

    file: str
    row: int | None
    reason: str


@dataclass
class BlockReading:
    """What reading a block counted besides its documents: lines of a JSON Lines range (numbered from its
    start), bytes read."""

    lines: int = 0
    nbytes: int = 0


def read_block(
    block: Block, columns: TableColumns, counts: BlockReading, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[Doc | Bad]:
    """The documents and bad records of ``block``, in order; ``counts`` is filled in as it goes."""
    if block.kind == "jsonl":
        yield from _jsonl(block, counts, max_bytes)
    elif block.kind == "parquet":
        yield from _parquet(block, columns, counts, max_bytes)
    elif block.kind == "txt":
        yield from _texts(block, counts, max_bytes)
    else:
        raise CopytraceError(f"unknown kind of block: {block.kind!r}")


def _decompressed(raw: IO[bytes], path: str) -> IO[bytes]:
    """``raw`` read through the decompressor its name asks for, as a buffered binary stream."""
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if name.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
    # fsspec's own files (S3...) read a line to its end whatever its length: buffered here, a line is read
    # in pieces and can be cut short
    return io.BufferedReader(raw)  # type: ignore[type-var]


def _bounded_line(fh: IO[bytes], limit: int) -> bytes | _TooLong:
    """The next line of ``fh`` (b"" at the end), or, for a line longer than ``limit`` bytes (its newline
    included), a ``_TooLong`` after reading past the rest of it a piece at a time."""
    line = fh.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line
    size = len(line)
    del line
    while True:
        piece = fh.readline(SKIP_PIECE)
        size += len(piece)
        if not piece or piece.endswith(b"\n"):
            return _TooLong(size)


def _skip_line(fh: IO[bytes]) -> int:
    """Read past the rest of the current line a piece at a time; the bytes read."""
    n = 0
    while True:
        piece = fh.readline(SKIP_PIECE)
        n += len(piece)
        if not piece or piece.endswith(b"\n"):
            return n


def _lines(block: Block, counts: BlockReading, limit: int) -> Iterator[bytes | _TooLong]:
    fs, path = filesystem(block.path)
    with fs.open(path, "rb") as raw, _decompressed(raw, path) as fh:
        if block.stop < 0:
            while line := _bounded_line(fh, limit):
                n = line.size if isinstance(line, _TooLong) else len(line)
                counts.lines += 1
                counts.nbytes += n
                yield line
            return
        pos = block.start
        if pos > 0:  # the line running into the range belongs to the range before
            fh.seek(pos - 1)
            pos += _skip_line(fh) - 1
        while pos < block.stop:
            line = _bounded_line(fh, limit)
            if not line:
                break
            n = line.size if isinstance(line, _TooLong) else len(line)
            pos += n
            counts.lines += 1
            counts.nbytes += n
            yield line


def plain_record(line: bytes, file: str, number: int) -> Doc | None:
    r"""The common line read fast: a UTF-8 JSON object with a non-empty string ``id``, a string ``text`` and
    no other field that ``records`` checks.  None for every other line (a blank or bad one, or one with
    ``fingerprint``, ``labels`` or ``metadata``), which then goes through ``records.iter_records``' full
    rules: what a line yields is the same either way, only cheaper here.

    >>> plain_record(b'{"id": "a", "text": "t"}\n', "f.jsonl", 3)
    Doc(id='a', text='t', file='f.jsonl', row=3)
    >>> plain_record(b'{"id": 7, "text": "t"}\n', "f.jsonl", 3) is None
    True
    """
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON (UnicodeDecodeError is a ValueError)
        return None
    if type(obj) is not dict:
        return None
    rid, text = obj.get("id"), obj.get("text")
    if type(rid) is not str or not rid or type(text) is not str:
        return None
    if "fingerprint" in obj or "labels" in obj or "metadata" in obj:
        return None
    return Doc(rid, text, file, number)


def _jsonl(block: Block, counts: BlockReading, limit: int) -> Iterator[Doc | Bad]:
    for number, line in enumerate(_lines(block, counts, limit), start=1):
        if isinstance(line, _TooLong):
            yield Bad(block.path, number, over_limit(limit, line.size))
            continue
        doc = plain_record(line, block.path, number)
        if doc is not None:
            yield doc
            continue
        for rec in iter_records((line,), source=block.path, need_text=True):
            if isinstance(rec, RecordError):
                yield Bad(block.path, number, rec.reason)
            else:
                yield Doc(rec.id, rec.text or "", block.path, number)


def _parquet(block: Block, columns: TableColumns, counts: BlockReading, limit: int) -> Iterator[Doc | Bad]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fs, path = filesystem(block.path)
    row = block.first_row
    with fs.open(path, "rb") as fh:
        table = pq.ParquetFile(fh)
        for batch in table.iter_batches(
            batch_size=4096, row_groups=range(block.start, block.stop), columns=[columns.id, columns.text]
        ):
            counts.nbytes += batch.nbytes
            sizes = [_cell_sizes(pc, batch.column(i)) for i in (0, 1)]
            record = pc.add(pc.fill_null(sizes[0], 0), pc.fill_null(sizes[1], 0))
            over = pc.greater(record, limit)
            if pc.any(over).as_py():  # dropped before they become Python strings
                ids = pc.if_else(over, None, batch.column(0)).to_pylist()
                texts = pc.if_else(over, None, batch.column(1)).to_pylist()
                too_long = over.to_pylist()
                lengths = record.to_pylist()
            else:
                ids, texts = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                too_long = lengths = [None] * batch.num_rows
            for rid, text, is_over, size in zip(ids, texts, too_long, lengths, strict=True):
                if is_over:
                    yield Bad(block.path, row, over_limit(limit, size))
                else:
                    yield _table_row(block.path, row, rid, text)
                row += 1
            counts.lines = row - block.first_row


def _cell_sizes(pc: Any, column: Any) -> Any:
    """Each cell's length in bytes (strings and binaries), else 0 (an id stored as a number)."""
    import pyarrow as pa

    t = column.type
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    ):
        return pc.binary_length(column)
    return pa.array([0] * len(column), pa.int64())


def _table_row(file: str, row: int, rid: object, text: object) -> Doc | Bad:
    if rid is None or rid == "" or isinstance(rid, bytes | float | list | dict):
        return Bad(file, row, "the id is missing or not a string or whole number")
    if text is None:
        return Bad(file, row, "the text is missing")
    if isinstance(text, bytes):
        if b"\x00" in text:
            return Bad(file, row, "the text is binary data (NUL bytes)")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Bad(file, row, f"the text is not UTF-8 (byte {exc.start})")
    if not isinstance(text, str):
        return Bad(file, row, f"the text is a {type(text).__name__}, not a string")
    return Doc(str(rid), text, file, row)


def _texts(block: Block, counts: BlockReading, max_bytes: int) -> Iterator[Doc | Bad]:
    fs, root = filesystem(block.path)
    for rel in block.files:
        url = posixpath.join(block.path, rel)
        try:
            size = fs.size(posixpath.join(root, rel))
            if size is not None and size > max_bytes:
                counts.nbytes += size
                yield Bad(url, None, over_limit(max_bytes, size))
                continue
            with fs.open(posixpath.join(root, rel), "rb") as fh:
                data = fh.read(max_bytes + 1)  # a file that grew since it was listed is still bounded
        except OSError as exc:
            yield Bad(url, None, f"cannot be read ({exc})")
            continue
        if len(data) > max_bytes:
            counts.nbytes += len(data)
            yield Bad(url, None, over_limit(max_bytes))
            continue
        counts.nbytes += len(data)
        counts.lines += 1
        try:
            text = decode_bytes(data, source=url).text
        except CopytraceError as exc:
            yield Bad(url, None, str(exc).removeprefix(f"{url}: "))
            continue
        if not text.strip():
            yield Bad(url, None, "empty text")
            continue
        yield Doc(rel.removesuffix(".txt") if rel.endswith(".txt") else rel, text, url, None)


def duplicate_ids(id_lists: Iterable[list[str]]) -> dict[str, Any]:
    """How many ids name more than one document, how many documents those are, and the first
    ``DUPLICATES_SHOWN`` of them with their counts, in order of first appearance.

    Two passes over ``id_lists`` (it must be re-iterable or a list of lists): the first keeps an 8-byte hash
    per document, the second counts only the ids whose hash was seen twice.

    >>> duplicate_ids([["a", "b"], ["a", "c", "a"]])
    {'ids': 1, 'documents': 3, 'first': [{'id': 'a', 'count': 3}]}
    """
    import numpy as np

    lists = id_lists if isinstance(id_lists, list) else list(id_lists)
    hashes = [np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids)) for ids in lists]
    every = np.concatenate(hashes) if hashes else np.zeros(0, np.int64)
    values, counts = np.unique(every, return_counts=True)
    twice = set(values[counts > 1].tolist())
    del every, values, counts, hashes
    found: dict[str, int] = {}
    if twice:
        for ids in lists:
            for i in ids:
                if hash(i) in twice:
                    found[i] = found.get(i, 0) + 1
    dups = {i: n for i, n in found.items() if n > 1}
    return {
        "ids": len(dups),
        "documents": sum(dups.values()),
        "first": [{"id": i, "count": n} for i, n in list(dups.items())[:DUPLICATES_SHOWN]],
    }


def warn_duplicates(duplicates: dict[str, Any], done: str) -> None:
    """One warning naming the first duplicate ids (the library's warnings reach the CLI's stderr)."""
    if not duplicates["ids"]:
        return
    shown = duplicates["first"]
    named = ", ".join(f"{json.dumps(d['id'], ensure_ascii=False)} ({d['count']}x)" for d in shown)
    rest = duplicates["ids"] - len(duplicates["first"])
    log.warning(
        f"{duplicates['ids']:,} id(s) name more than one document ({duplicates['documents']:,} documents, "
        f"all {done}; their rows tell them apart by source): {named}"
        + (f" and {rest:,} more" if rest else "")
    )
