"""Request bodies of the API, validated by pydantic (a malformed field is a 422 that names it).

The service refuses what the command line refuses: an empty or whitespace-only text, a ``limit`` below 1, a
``min_score`` outside [0, 1].  Values that could be stored but not sent back (NaN or Infinity in a score or
in metadata, a lone UTF-16 surrogate in a stored string) are refused here, so that nothing accepted can later
fail to be written or read.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("empty text (or only whitespace): give the text itself")
    return text


Text = Annotated[str, AfterValidator(_not_blank)]
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def _first_surrogate(value: object) -> str | None:
    """Where the first lone surrogate in the strings of a decoded JSON value is (None: there is none).

    Iterative, so a deeply nested value cannot exhaust the stack."""
    pending: list[tuple[str, object]] = [("", value)]
    while pending:
        path, v = pending.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"{path or 'value'}: character {exc.start} is a lone surrogate, not valid Unicode"
        elif isinstance(v, dict):
            pending.extend((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
            pending.extend((f"{path}.<key>" if path else "<key>", k) for k in v)
        elif isinstance(v, list):
            pending.extend((f"{path}.{n}" if path else str(n), x) for n, x in enumerate(v))
    return None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Stored(_Body):
    """A body whose strings are stored: each must be encodable as UTF-8 (SQLite and PostgreSQL refuse lone
    surrogates, which JSON's ``\\ud800`` escapes can carry).  ``_not_stored`` names fields left unchecked."""

    _not_stored: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: Any) -> Any:
        checked = (
            {k: v for k, v in data.items() if k not in cls._not_stored} if isinstance(data, dict) else data
        )
        where = _first_surrogate(checked)
        if where is not None:
            raise ValueError(where)
        return data


class BankIn(_Stored):
    name: str = Field(min_length=1, max_length=200, description="Bank name")
    phrases: bool = Field(default=False, description="A phrase bank: every item is matched as a phrase")


class ItemIn(_Stored):
    id: str | None = Field(default=None, min_length=1, max_length=1000, description="Default: from content")
    text: Text | None = None
    fingerprint: str | None = None
    labels: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _json(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(metadata, allow_nan=False)
        except ValueError as exc:
            raise ValueError(f"not storable as JSON ({exc}): NaN and Infinity are not JSON numbers") from exc
        except RecursionError as exc:
            raise ValueError("nested too deeply to store") from exc
        return metadata

    @model_validator(mode="after")
    def _one_of(self) -> ItemIn:
        if (self.text is None) == (self.fingerprint is None):
            raise ValueError('give exactly one of "text" and "fingerprint"')
        return self


class MatchIn(_Body):
    text: Text
    banks: list[str] | None = Field(default=None, description="Default: every bank")
    limit: int | None = Field(default=None, ge=1, le=1000, description="At most this many matches")
    min_score: Score = Field(default=0.0, description="Drop matches scoring below this (0 to 1)")
    all_versions: bool = Field(
        default=False, description="Every matching version, not only the best of each copy family"
    )


class BatchQuery(_Body):
    id: str
    text: Text


class BatchIn(_Body):
    queries: list[BatchQuery]
    banks: list[str] | None = None
    limit: int | None = Field(default=None, ge=1, le=1000, description="At most this many matches per query")
    min_score: Score = Field(default=0.0, description="Drop matches scoring below this (0 to 1)")
    all_versions: bool = Field(
        default=False, description="Every matching version, not only the best of each copy family"
    )


class FingerprintIn(_Body):
    text: Text


class ReviewIn(_Stored):
    _not_stored: ClassVar[frozenset[str]] = frozenset({"query"})  # only its SHA-256 is kept

    bank: str = Field(min_length=1)
    item_id: str = Field(min_length=1)
    decision: Literal["confirmed", "false_positive", "note"]
    note: str = Field(default="", max_length=10_000)
    query: str | None = Field(default=None, description="The query text; only its SHA-256 is stored")
    query_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    score: Score | None = None

    @model_validator(mode="after")
    def _query(self) -> ReviewIn:
        if self.query is None and self.query_sha256 is None:
            raise ValueError('give "query" or "query_sha256"')
        return self


class KeyIn(_Stored):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["reader", "writer", "admin"]
