"""JSON Lines records ``{"id", "text" | "fingerprint", "labels"?, "metadata"?}``, read line by line.

Each line yields a ``Record`` or, for a malformed line, a ``RecordError`` naming the source and line number,
so that callers decide whether to stop or go on.  Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecordError


@dataclass(frozen=True)
class Record:
    id: str
    text: str | None
    fingerprint: str | None = None
    labels: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    line: int = 0


def _parse(obj: object, *, need_text: bool) -> Record:
    if not isinstance(obj, dict):
        raise ValueError("a record must be a JSON object")
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        raise ValueError('"id" must be a non-empty string')
    text = obj.get("text")
    fp = obj.get("fingerprint")
    if text is not None and not isinstance(text, str):
        raise ValueError('"text" must be a string')
    if fp is not None and not isinstance(fp, str):
        raise ValueError('"fingerprint" must be a string')
    if text is None and (need_text or fp is None):
        raise ValueError('"text" is missing' if need_text else 'need "text" or "fingerprint"')
    labels = obj.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError('"labels" must be a list of strings')
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError('"metadata" must be an object')
    return Record(rid, text, fp, labels, metadata)


def json_line(line: str, source: str, number: int) -> Any:
    """The JSON value of one line of a JSON Lines input; ``RecordError`` naming ``source:number`` if it is
    malformed, holds a number too long to convert, or is nested too deeply."""
    try:
        # without its line ending: a string left open then reads as unterminated, not as holding a newline
        return json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        raise RecordError(source, number, json_error(exc)) from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise RecordError(source, number, f"unreadable JSON: {exc}") from exc
    except RecursionError as exc:
        raise RecordError(source, number, "JSON nested too deeply") from exc


def json_error(exc: json.JSONDecodeError) -> str:
    r"""``exc`` as a reason for a ``RecordError``: what is wrong and at which column of the line, in words
    that say what to fix where ``json``'s own would mislead.

    >>> json_error(json.JSONDecodeError("Unterminated string starting at", '{"a": "bc', 6))
    'malformed JSON: the string starting at column 7 is not closed: its closing quote is missing'
    >>> json_error(json.JSONDecodeError("Invalid control character at", '"a\tb"', 2))
    'malformed JSON: a raw tab (U+0009) inside a string at column 3: write it escaped, as \\t'
    >>> json_error(json.JSONDecodeError("Expecting value", "[1, ]", 4))
    'malformed JSON: Expecting value at column 5'
    """
    if exc.msg.startswith("Unterminated string"):
        return (
            f"malformed JSON: the string starting at column {exc.colno} is not closed: its closing quote is "
            "missing"
        )
    if exc.msg.startswith("Invalid control character") and exc.pos < len(exc.doc):
        code = ord(exc.doc[exc.pos])
        name, escape = _CONTROL.get(code, ("control character", f"\\u{code:04x}"))
        return (
            f"malformed JSON: a raw {name} (U+{code:04X}) inside a string at column {exc.colno}: write it "
            f"escaped, as {escape}"
        )
    at = "" if exc.msg.endswith(" at") else " at"  # json's own wording may end in "at" already
    return f"malformed JSON: {exc.msg}{at} column {exc.colno}"


_CONTROL = {9: ("tab", "\\t"), 10: ("line break", "\\n"), 13: ("carriage return", "\\r")}


def iter_records(
    lines: Iterable[str | bytes], *, source: str, need_text: bool = False
) -> Iterator[Record | RecordError]:
    """Parse each line; yield a ``Record`` or the ``RecordError`` for that line."""
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RecordError(source, number, f"not UTF-8 (byte {exc.start})")
                continue
        if not line.strip():
            continue
        try:
            obj = json_line(line, source, number)
        except RecordError as exc:
            yield exc
            continue
        try:
            rec = _parse(obj, need_text=need_text)
        except ValueError as exc:
            yield RecordError(source, number, str(exc))
            continue
        yield Record(rec.id, rec.text, rec.fingerprint, rec.labels, rec.metadata, number)
