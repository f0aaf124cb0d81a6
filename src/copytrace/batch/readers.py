"""Reading one block's documents, and naming each bad record by its file and line or row.

The rules are the CLI's: a JSON Lines record is read as ``match --jsonl`` reads it (``records.iter_records``:
malformed JSON, no ``"id"``, no ``"text"``, a line that is not UTF-8 are bad records); a ``.txt`` file as
``match`` reads a file (``textio``: a byte-order mark honoured, Windows-1252 when it is not UTF-8, binary or
empty files refused, ``max_bytes`` enforced); a Parquet row is bad when its id or text is null or empty, or
its text is bytes that are not UTF-8 or are binary.  A bad record is reported and the block goes on.

Rows of a JSON Lines byte range are numbered from the range's first line: the job adds the lines of the
file's earlier ranges when it knows them (``markers``), so every line number reported is the file's own.
"""

from __future__ import annotations

import gzip
import io
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from ..errors import CopytraceError, RecordError
from ..records import iter_records
from ..textio import DEFAULT_MAX_BYTES, decode_bytes
from .inputs import Block, TableColumns, filesystem


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
        yield from _jsonl(block, counts)
    elif block.kind == "parquet":
        yield from _parquet(block, columns, counts)
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
    return raw


def _lines(block: Block, counts: BlockReading) -> Iterator[bytes]:
    fs, path = filesystem(block.path)
    with fs.open(path, "rb") as raw, _decompressed(raw, path) as fh:
        if block.stop < 0:
            for line in fh:
                counts.lines += 1
                counts.nbytes += len(line)
                yield line
            return
        pos = block.start
        if pos > 0:  # the line running into the range belongs to the range before
            fh.seek(pos - 1)
            pos += len(fh.readline()) - 1
        while pos < block.stop:
            line = fh.readline()
            if not line:
                break
            pos += len(line)
            counts.lines += 1
            counts.nbytes += len(line)
            yield line


def _jsonl(block: Block, counts: BlockReading) -> Iterator[Doc | Bad]:
    for rec in iter_records(_lines(block, counts), source=block.path, need_text=True):
        if isinstance(rec, RecordError):
            yield Bad(block.path, rec.line, rec.reason)
        else:
            yield Doc(rec.id, rec.text or "", block.path, rec.line)


def _parquet(block: Block, columns: TableColumns, counts: BlockReading) -> Iterator[Doc | Bad]:
    import pyarrow.parquet as pq

    fs, path = filesystem(block.path)
    row = block.first_row
    with fs.open(path, "rb") as fh:
        table = pq.ParquetFile(fh)
        for batch in table.iter_batches(
            batch_size=4096, row_groups=range(block.start, block.stop), columns=[columns.id, columns.text]
        ):
            counts.nbytes += batch.nbytes
            ids = batch.column(0).to_pylist()
            texts = batch.column(1).to_pylist()
            for rid, text in zip(ids, texts, strict=True):
                yield _table_row(block.path, row, rid, text)
                row += 1
            counts.lines = row - block.first_row


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
                yield Bad(url, None, f"{size:,} bytes is over the size limit of {max_bytes:,} (--max-size)")
                continue
            data = fs.cat_file(posixpath.join(root, rel))
        except OSError as exc:
            yield Bad(url, None, f"cannot be read ({exc})")
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
