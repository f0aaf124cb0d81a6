"""What a batch job reads: the command line's inputs expanded into files, and the files cut into blocks.

An input is a path or URL that fsspec opens (``/data/posts``, ``posts-*.jsonl.gz``, ``s3://bucket/crawl/``):
a file, a glob, or a directory searched recursively.  Its kind comes from its name:

- ``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst`` (also ``.ndjson``): JSON Lines of ``{"id", "text"}``;
- ``.parquet``: a table with an id and a text column (``--id-column``, ``--text-column``);
- ``.txt``: one document per file, its id the path relative to the input directory without ``.txt`` (as
  ``bank add`` names items).

A *block* is the unit of work, of resume and of parallelism: a byte range of an uncompressed JSON Lines file
(a line belongs to the range it starts in), a whole compressed file, some row groups of a Parquet file, or a
run of ``.txt`` files.  Its ``key`` is a digest of what it covers and of the *identity* of its file(s) (size
and modification time of a local file; version id or ETag of an object-store file), so a re-run over the
same inputs finds its marker and a changed file's blocks are planned anew.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".ndjson.zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SUFFIX = ".txt"

BLOCK_BYTES = 16 * 1024 * 1024  # an uncompressed JSON Lines file is cut into ranges of about this size
BLOCK_ROWS = 20_000  # Parquet row groups are gathered into blocks of about this many rows
BLOCK_FILES = 2_000  # .txt files per block


@dataclass(frozen=True)
class Block:
    """One unit of work: ``kind`` is ``jsonl``, ``parquet`` or ``txt``; ``path`` the file (for ``txt``, the
    input directory, with ``files`` relative to it); ``start``/``stop`` a byte range (``jsonl``) or row-group
    range (``parquet``); ``first_row`` the 1-based row of the block's first row in its file (Parquet)."""

    kind: str
    path: str
    start: int = 0
    stop: int = -1
    first_row: int = 1
    size: int = 0
    files: tuple[str, ...] = field(default_factory=tuple)
    identity: str = ""

    @property
    def key(self) -> str:
        """A name for the block's marker and part files, the same in every run over the same, unchanged
        inputs."""
        what = (
            f"{self.kind}|{self.path}|{self.start}|{self.stop}|{len(self.files)}|{'|'.join(self.files[:1])}"
            f"|{self.identity}"
        )
        return hashlib.sha256(what.encode()).hexdigest()[:24]

    @property
    def where(self) -> str:
        """The block for a message: its file, and which part of it when it is not the whole file."""
        if self.kind == "jsonl" and self.stop >= 0:
            return f"{self.path} (bytes {self.start:,} to {self.stop:,})"
        if self.kind == "parquet":
            return f"{self.path} (row groups {self.start} to {self.stop - 1})"
        if self.kind == "txt":
            return f"{self.path} ({len(self.files)} .txt files from {self.files[0] if self.files else ''})"
        return self.path

    def to_row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "start": self.start,
            "stop": self.stop,
            "first_row": self.first_row,
            "size": self.size,
            "files": list(self.files),
            "identity": self.identity,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Block:
        return cls(
            str(row["kind"]),
            str(row["path"]),
            int(row["start"]),
            int(row["stop"]),
            int(row["first_row"]),
            int(row["size"]),
            tuple(str(f) for f in row["files"]),
            str(row.get("identity", "")),
        )


@dataclass(frozen=True)
class TableColumns:
    """Which Parquet columns hold a document's id and its text."""

    id: str = "id"
    text: str = "text"


def kind_of(path: str) -> str | None:
    """``jsonl``, ``parquet`` or ``txt`` by the file's name; None for a file a batch job does not read.

    >>> kind_of("s3://b/posts-01.jsonl.zst"), kind_of("x.PARQUET"), kind_of("a/b.txt"), kind_of("notes.md")
    ('jsonl', 'parquet', 'txt', None)
    """
    name = path.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(TEXT_SUFFIX):
        return "txt"
    return None


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path within it (``s3://b/k`` → S3, ``b/k``).

    S3 takes its endpoint and credentials from the usual AWS settings (``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``, ...), so an S3-compatible server works as AWS does.
    """
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
        return fs, str(path)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: cannot open this kind of location ({exc})") from exc


def _protocol_prefix(fs: Any, url: str) -> str:
    """``s3://`` for an S3 URL, '' for a local path: put back in front of paths fsspec lists."""
    return url.split("://", 1)[0] + "://" if "://" in url and not url.startswith("file://") else ""


@dataclass(frozen=True)
class InputFile:
    """A file to read: URL or path, kind, size; ``root``: the folder a ``.txt`` id is relative to;
    ``identity``: what changes when the file does (``identity_of``)."""

    url: str
    kind: str
    size: int
    root: str = ""
    identity: str = ""


def identity_of(info: dict[str, Any]) -> str:
    """What tells one version of a file from another, from fsspec's ``info``: an object store's version id
    or ETag where it gives one, else the size and modification time.

    >>> identity_of({"size": 10, "mtime": 1700000000.5})
    'size=10 mtime=1700000000.5'
    >>> identity_of({"size": 10, "ETag": '"9b2cf535f27731c974343645a3985328"'})
    'size=10 etag=9b2cf535f27731c974343645a3985328'
    """
    size = int(info.get("size") or 0)
    for name, label in (
        ("VersionId", "version"),
        ("version_id", "version"),
        ("ETag", "etag"),
        ("etag", "etag"),
    ):
        value = info.get(name)
        if value:
            return f"size={size} {label}={str(value).strip(chr(34))}"
    mtime = info.get("mtime", info.get("LastModified", info.get("last_modified", info.get("updated", ""))))
    if hasattr(mtime, "isoformat"):
        mtime = mtime.isoformat()
    return f"size={size} mtime={mtime}"


def expand(inputs: Iterable[str]) -> list[InputFile]:
    """Every file the inputs name, in a stable order; ``InputError`` for an input that names nothing usable.

    A file given by name must be of a known kind; files of other kinds found in a directory are passed over
    (a ``README`` beside the data), but a directory with none at all is an error.
    """
    found: dict[str, InputFile] = {}
    for url in inputs:
        fs, path = filesystem(url)
        prefix = _protocol_prefix(fs, url)
        try:
            if any(ch in path for ch in "*?["):
                entries = sorted(fs.glob(path, detail=True).items())
                files = [(p, info) for p, info in entries if info.get("type") == "file"]
                root = path.split("*", 1)[0].rsplit("/", 1)[0] if "/" in path else ""
                if not files:
                    raise InputError(f"{url}: matches no file")
            elif fs.isdir(path):
                files = sorted((p, info) for p, info in fs.find(path, detail=True, withdirs=False).items())
                root = path
            elif fs.isfile(path):
                files = [(path, fs.info(path))]
                root = posixpath.dirname(path)
                if kind_of(path) is None:
                    raise InputError(
                        f"{url}: not a kind of file a scan reads (.jsonl, .jsonl.gz, .jsonl.zst, .parquet "
                        "or .txt)"
                    )
            else:
                raise InputError(f"{url}: no such file or directory")
        except (FileNotFoundError, PermissionError, OSError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{url}: cannot be listed ({exc})") from exc
        usable = 0
        for p, info in files:
            kind = kind_of(p)
            if kind is None:
                continue
            usable += 1
            full = prefix + p if prefix and not p.startswith(prefix) else p
            found.setdefault(
                full, InputFile(full, kind, int(info.get("size") or 0), prefix + root, identity_of(info))
            )
        if not usable:
            raise InputError(f"{url}: holds no .jsonl, .jsonl.gz, .jsonl.zst, .parquet or .txt file")
    return list(found.values())


def plan(files: list[InputFile], columns: TableColumns = TableColumns()) -> list[Block]:
    """The blocks that cover ``files``: stable, so a re-run over the same inputs plans the same blocks."""
    blocks: list[Block] = []
    texts: dict[str, list[InputFile]] = {}
    for f in files:
        if f.kind == "txt":
            texts.setdefault(f.root, []).append(f)
        elif f.kind == "parquet":
            blocks.extend(_parquet_blocks(f, columns))
        elif f.url.lower().endswith((".gz", ".zst")) or f.size <= BLOCK_BYTES:
            blocks.append(Block("jsonl", f.url, 0, -1, 1, f.size, identity=f.identity))
        else:
            for start in range(0, f.size, BLOCK_BYTES):
                stop = min(start + BLOCK_BYTES, f.size)
                blocks.append(Block("jsonl", f.url, start, stop, 1, stop - start, identity=f.identity))
    for root, group in texts.items():
        rel = [_relative(f.url, root) for f in group]
        for i in range(0, len(group), BLOCK_FILES):
            part = group[i : i + BLOCK_FILES]
            identity = hashlib.sha256("\n".join(f.identity for f in part).encode()).hexdigest()[:24]
            blocks.append(
                Block(
                    "txt",
                    root,
                    i,
                    i + len(part),
                    1,
                    sum(f.size for f in part),
                    tuple(rel[i : i + len(part)]),
                    identity,
                )
            )
    return blocks


def _relative(url: str, root: str) -> str:
    rel = url[len(root) :].lstrip("/") if root and url.startswith(root) else posixpath.basename(url)
    return rel


def _parquet_blocks(f: InputFile, columns: TableColumns) -> list[Block]:
    import pyarrow.parquet as pq

    fs, path = filesystem(f.url)
    try:
        with fs.open(path, "rb") as fh:
            meta = pq.ParquetFile(fh).metadata
            schema = meta.schema.to_arrow_schema()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{f.url}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in (columns.id, columns.text) if c not in schema.names]
    if missing:
        raise InputError(
            f"{f.url}: has no column {', '.join(repr(c) for c in missing)} (its columns: "
            f"{', '.join(schema.names)}); name them with --id-column and --text-column"
        )
    blocks, first, group, rows, size = [], 1, 0, 0, 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        rows += rg.num_rows
        size += rg.total_byte_size
        if rows >= BLOCK_ROWS or g == meta.num_row_groups - 1:
            blocks.append(Block("parquet", f.url, group, g + 1, first, size, identity=f.identity))
            first, group, rows, size = first + rows, g + 1, 0, 0
    return blocks
