"""copytrace inside a real HMA (Hasher-Matcher-Actioner 1.1.7), configured as ``docs/threatexchange.md`` says.

HMA runs as its image runs it (``tests/hma/server.py``: gunicorn, HMA's migrations, PostgreSQL, its indexer
and index cache) in its own Python 3.13 environment (``tests/hma/make_venv.py``).  Texts are banked and
looked up through HMA's HTTP API, by upload and by signal, with both copytrace signal types; HMA's log must
hold no error.  Without HMA's source or Python 3.13 the tests are skipped, and fail under CI.
"""

from __future__ import annotations

import itertools
import os
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from copytrace.text.textio import read_text_file
from copytrace.threatexchange import CopytracePhraseSignal, CopytraceSignal

from .conftest import CANONICAL_000, CANONICAL_001, DATA
from .hma import make_venv, server
from .postgres import create_database
from .third_party import missing

SLOGAN = "Death to the occupiers"  # four words: too short for a copytrace signal, a phrase signal
EVASION = "D3ATH t0 the 0ccupiers!!"
SHORT = "so true!! 🔥"
_DATABASES = itertools.count()


def _inaugural(name: str) -> str:
    return read_text_file(DATA / "corpora" / "inaugural" / f"{name}.txt").text


@pytest.fixture(scope="module")
def hma_venv() -> Path:
    try:
        return make_venv.ensure()
    except make_venv.SetupError as exc:
        missing(f"HMA cannot be installed: {exc}")
        raise


@pytest.fixture(scope="module")
def hma(
    hma_venv: Path, postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[server.Hma]:
    database = create_database(postgres_admin_url, f"hma_{os.getpid()}_{next(_DATABASES)}")
    url = database.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    with server.running(hma_venv, url, tmp_path_factory.mktemp("hma")) as running:
        yield running


@pytest.fixture(scope="module")
def client(hma: server.Hma) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=hma.url, timeout=30) as c:
        yield c


def _ok(response: httpx2.Response) -> t.Any:
    assert response.status_code in (200, 201), f"{response.status_code}: {response.text}"
    return response.json()


def _upload(client: httpx2.Client, path: str, text: str, **params: str) -> t.Any:
    """A text uploaded as a file in the form field ``text`` (HMA's content type), as HMA's clients do."""
    return _ok(
        client.post(path, params=params, files={"text": ("post.txt", text.encode("utf-8"), "text/plain")})
    )


def _by_signal(client: httpx2.Client, signal_type: str, signal: str) -> t.Any:
    return _ok(client.get("/m/lookup", params={"signal_type": signal_type, "signal": signal}))


class Banked(t.NamedTuple):
    article: int  # canonical 000, uploaded
    slogan: int  # a slogan, uploaded: too short for a copytrace signal, a phrase signal
    speech: int  # an inaugural address, banked by its copytrace signal
    chant: int  # a chant, banked by its phrase signal


@pytest.fixture(scope="module")
def banked(client: httpx2.Client, hma: server.Hma) -> Banked:
    """Texts banked through HMA's API, once the matcher has loaded the index that holds the last of them."""
    for bank in ("ARTICLES", "SLOGANS", "SIGNALS"):
        _ok(client.post("/c/banks", json={"name": bank}))
    article = _upload(client, "/c/bank/ARTICLES/content", read_text_file(CANONICAL_000).text)
    assert set(article["signals"]) == {"copytrace", "copytrace_phrase"}
    slogan = _upload(client, "/c/bank/SLOGANS/content", SLOGAN)
    assert slogan["signals"] == {
        "copytrace": "",
        "copytrace_phrase": CopytracePhraseSignal.hash_from_str(SLOGAN),
    }
    speech_signal = CopytraceSignal.hash_from_str(_inaugural("1961-Kennedy"))
    speech = _ok(client.post("/c/bank/SIGNALS/signal", json={"copytrace": speech_signal}))
    chant_signal = CopytracePhraseSignal.hash_from_str("No justice, no peace")
    chant = _ok(client.post("/c/bank/SIGNALS/signal", json={"copytrace_phrase": chant_signal}))

    def loaded(signal_type: str, signal: str) -> bool:
        """The matcher finds ``signal``; until its first index is loaded HMA answers 503 'not yet ready'."""
        response = client.get("/m/lookup", params={"signal_type": signal_type, "signal": signal})
        if response.status_code == 503 and "not yet ready" in response.text:
            return False
        return bool(_ok(response))

    deadline = time.monotonic() + 120
    while not (loaded("copytrace", speech_signal) and loaded("copytrace_phrase", chant_signal)):
        if time.monotonic() > deadline:
            raise AssertionError(f"HMA's matcher never loaded the index:\n{hma.log.read_text()[-4000:]}")
        time.sleep(0.5)
    return Banked(article["id"], slogan["id"], speech["id"], chant["id"])


def _distances(matches: dict[str, list[dict[str, t.Any]]]) -> dict[str, list[tuple[int, int]]]:
    """Bank name -> (content id, distance) pairs; every distance must be a bare integer."""
    return {
        bank: [(m["bank_content_id"], int(m["distance"])) for m in found] for bank, found in matches.items()
    }


def _excerpt_post(text_000: str) -> str:
    roosevelt = _inaugural("1933-Roosevelt")
    return roosevelt[:1200] + "\n\n“" + text_000.split("\n")[3] + "”\n\n" + roosevelt[-900:]


def test_lookups_by_upload(client: httpx2.Client, banked: Banked, text_000: str) -> None:
    copy = _upload(client, "/m/lookup", read_text_file(CANONICAL_001).text)
    ((article, distance),) = _distances(copy["copytrace"])["ARTICLES"]
    assert article == banked.article and distance <= 5 and copy["copytrace_phrase"] == {}

    excerpt = _distances(_upload(client, "/m/lookup", _excerpt_post(text_000))["copytrace"])
    assert list(excerpt) == ["ARTICLES"] and excerpt["ARTICLES"][0][0] == banked.article
    assert 50 < excerpt["ARTICLES"][0][1] < 100

    evasion = _upload(client, "/m/lookup", EVASION)
    assert evasion["copytrace"] == {} and _distances(evasion["copytrace_phrase"]) == {
        "SLOGANS": [(banked.slogan, 0)]
    }

    speech = _upload(client, "/m/lookup", _inaugural("1961-Kennedy"))
    assert _distances(speech["copytrace"]) == {"SIGNALS": [(banked.speech, 0)]}
    chant = _upload(client, "/m/lookup", "NO JUSTICE... no peace!!!")
    assert _distances(chant["copytrace_phrase"]) == {"SIGNALS": [(banked.chant, 0)]}

    for post in (SHORT, _inaugural("1993-Clinton")):  # a post too short to fingerprint, and unrelated text
        assert _upload(client, "/m/lookup", post) == {"copytrace": {}, "copytrace_phrase": {}}


def test_lookups_by_signal(client: httpx2.Client, banked: Banked, text_000: str) -> None:
    copy = _distances(
        _by_signal(client, "copytrace", CopytraceSignal.hash_from_str(read_text_file(CANONICAL_001).text))
    )
    assert [m[0] for m in copy["ARTICLES"]] == [banked.article]
    excerpt = _distances(
        _by_signal(client, "copytrace", CopytraceSignal.hash_from_str(_excerpt_post(text_000)))
    )
    assert [m[0] for m in excerpt["ARTICLES"]] == [banked.article]
    # a long text's signal is longer than gunicorn's default request line: served with --limit-request-line 0
    long_signal = CopytraceSignal.hash_from_str(_inaugural("1961-Kennedy"))
    assert len(long_signal) > 4094 and _distances(_by_signal(client, "copytrace", long_signal)) == {
        "SIGNALS": [(banked.speech, 0)]
    }
    evasion = _by_signal(client, "copytrace_phrase", CopytracePhraseSignal.hash_from_str(EVASION))
    assert _distances(evasion) == {"SLOGANS": [(banked.slogan, 0)]}
    unrelated = CopytraceSignal.hash_from_str(_inaugural("1993-Clinton"))
    assert _by_signal(client, "copytrace", unrelated) == {}
    # the empty signal of a short post matches nothing; HMA's GET refuses an empty parameter itself
    assert CopytraceSignal.hash_from_str(SHORT) == ""
    refused = client.get("/m/lookup", params={"signal_type": "copytrace", "signal": ""})
    assert refused.status_code == 400 and "signal" in refused.text


def test_hashing_and_compare_show_the_similarity_fields(client: httpx2.Client, banked: Banked) -> None:
    text_001 = read_text_file(CANONICAL_001).text
    hashed = _upload(client, "/h/hash", text_001)
    assert hashed == {
        "copytrace": CopytraceSignal.hash_from_str(text_001),
        "copytrace_phrase": CopytracePhraseSignal.hash_from_str(text_001),
    }
    banked_signal = CopytraceSignal.hash_from_str(read_text_file(CANONICAL_000).text)
    compared = _ok(client.post("/m/compare", json={"copytrace": [banked_signal, hashed["copytrace"]]}))
    match, info = compared["copytrace"]  # the similarity info's fields, as /m/compare shows them
    post_in_bank, bank_in_post = info["query_containment"], info["item_containment"]
    assert match is True and info["distance"] == 100 - round(100 * max(post_in_bank, bank_in_post))
    assert 0.9 < post_in_bank <= 1 and 0.9 < bank_in_post <= 1 and info["family_size"] == 1


def test_status_and_log(client: httpx2.Client, hma: server.Hma, banked: Banked) -> None:
    status = _ok(client.get("/m/index/status"))
    assert status["copytrace"]["present"] and status["copytrace"]["size"] == 3  # the slogan's "" included
    assert status["copytrace_phrase"]["size"] == 3
    assert client.get("/status").text == "I-AM-ALIVE"
    assert hma.errors() == []
