"""Request bodies of the API, validated by pydantic (a malformed field is a 422 that names it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BankIn(_Body):
    name: str = Field(min_length=1, max_length=200, description="Bank name")


class ItemIn(_Body):
    id: str | None = Field(default=None, min_length=1, max_length=1000, description="Default: from content")
    text: str | None = None
    fingerprint: str | None = None
    labels: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_of(self) -> ItemIn:
        if (self.text is None) == (self.fingerprint is None):
            raise ValueError('give exactly one of "text" and "fingerprint"')
        return self


class MatchIn(_Body):
    text: str
    banks: list[str] | None = Field(default=None, description="Default: every bank")
    limit: int | None = Field(default=None, ge=1, le=1000)


class BatchQuery(_Body):
    id: str
    text: str


class BatchIn(_Body):
    queries: list[BatchQuery]
    banks: list[str] | None = None
    limit: int | None = Field(default=None, ge=1, le=1000)


class FingerprintIn(_Body):
    text: str


class ReviewIn(_Body):
    bank: str
    item_id: str
    decision: Literal["confirmed", "false_positive", "note"]
    note: str = Field(default="", max_length=10_000)
    query: str | None = Field(default=None, description="The query text; only its SHA-256 is stored")
    query_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    score: float | None = None

    @model_validator(mode="after")
    def _query(self) -> ReviewIn:
        if self.query is None and self.query_sha256 is None:
            raise ValueError('give "query" or "query_sha256"')
        return self


class KeyIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["reader", "writer", "admin"]
