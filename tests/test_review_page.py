"""The review page in a real headless Chromium (Debian's ``chromium``) driven by Playwright: a moderator
enters a key, pastes the republished copy, sees the original matched with its passages highlighted on both
sides, records a decision and finds it in the audit log.

``COPYTRACE_UPDATE_SCREENSHOT=1`` also writes the screenshot to ``docs/review-page.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copytrace import fingerprint
from copytrace.banks import Store
from copytrace.fingerprints.fingerprint import DEFAULT_PARAMS
from copytrace.store import ItemRecord
from copytrace.store.api_keys import create_key

from . import server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's tests; each test opens its pages in a context of its own."""
    if not Path(CHROMIUM).exists():
        message = "Chromium not found: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def test_moderator_reviews_a_match_in_the_browser(
    browser: Any, tmp_path: Path, text_000: str, text_001: str
) -> None:
    from playwright.sync_api import expect

    db = str(tmp_path / "store.db")
    with Store(db) as store:
        _, key = create_key(store, "moderator", "admin")
        store.create_bank("news", DEFAULT_PARAMS)
        store.add_items("news", [ItemRecord("000", fingerprint(text_000), text_000)])
    with server.serving(db, tmp_path) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            problems = _watch(page, url)
            response = page.goto(url + "/")
            assert response is not None
            assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
            page.fill("#api-key", key)
            page.click("#use-key")
            expect(page.locator("#key-status")).to_contain_text("Key accepted: 1 bank")
            expect(page.locator('input[name="bank"][value="news"]')).to_be_checked()
            page.fill("#query", text_001)
            page.click("#find")
            card = page.locator(".match")
            expect(card).to_have_count(1)
            expect(card).to_have_attribute("data-item", "000")
            query_marks = card.locator('.side[data-side="query"] mark')
            item_marks = card.locator('.side[data-side="item"] mark')
            expect(item_marks.first).to_be_visible()
            assert query_marks.count() == item_marks.count() >= 1
            first = query_marks.first.inner_text()
            assert first.startswith("We don't sleep for one night") and first in text_001
            words = str.split  # the copy was flattened: the same passage, laid out differently
            assert words(item_marks.first.inner_text()) == words(first)
            assert "Mehr News Agency" not in "".join(
                query_marks.all_inner_texts()
            )  # the footer is not a match
            card.locator(".note").fill("same article, reposted without attribution")
            card.locator("button.confirm").click()
            expect(card.locator(".decision-status")).to_contain_text("Recorded: confirmed by key:moderator")
            page.click("#show-audit")
            row = page.locator("#audit tbody tr").first
            expect(row).to_contain_text("review")
            expect(row).to_contain_text("key:moderator")
            expect(row).to_contain_text("same article, reposted without attribution")
            page.locator(".match").scroll_into_view_if_needed()
            shot = tmp_path / "review-page.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("COPYTRACE_UPDATE_SCREENSHOT"):
                shutil.copy(shot, Path(__file__).parents[1] / "docs" / "review-page.png")
            # a wrong key is refused on the page itself
            page.fill("#api-key", "ctk_000000000000_wrong")
            page.click("#use-key")
            expect(page.locator("#key-status")).to_contain_text("Key refused: unknown or revoked API key")
            assert problems == []  # no CSP violation, script error or request off this origin
        finally:
            context.close()


def _watch(page: Any, url: str) -> list[str]:
    """Console errors (a CSP violation is one), uncaught script errors, requests to other origins and any
    404 (a favicon the browser asks for and does not get, say).  An answer with another error status (the
    refused key) is expected, not a problem."""
    problems: list[str] = []
    page.on("response", lambda r: problems.append(f"404 for {r.url}") if r.status == 404 else None)

    def console(m: Any) -> None:
        if m.type == "error" and not m.text.startswith("Failed to load resource"):
            problems.append(f"console {m.type}: {m.text}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on(
        "request",
        lambda r: None if r.url.startswith((url, "data:")) else problems.append(f"request to {r.url}"),
    )
    return problems


def test_an_item_with_url_characters_in_its_id_opens_and_the_api_docs_load_locally(
    browser: Any, tmp_path: Path, text_000: str, text_001: str
) -> None:
    """The page builds item URLs that survive any id (it asks ``/v1/item?bank=&item_id=``), and ``/docs``
    renders Swagger UI from files the service serves itself, under its Content-Security-Policy."""
    from playwright.sync_api import expect

    odd = "2020/07 report?x=1#top %2e%2e"
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        _, key = create_key(store, "moderator", "reader")
        store.create_bank("archive", DEFAULT_PARAMS)
        store.add_items("archive", [ItemRecord(odd, fingerprint(text_000), text_000)])
    with server.serving(db, tmp_path) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            problems = _watch(page, url)
            page.goto(url + "/")
            page.fill("#api-key", key)
            page.click("#use-key")
            expect(page.locator("#key-status")).to_contain_text("Key accepted: 1 bank")
            page.fill("#query", text_001)
            page.click("#find")
            card = page.locator(".match")
            expect(card).to_have_attribute("data-item", odd)
            expect(card.locator('.side[data-side="item"] mark').first).to_be_visible()
            page.goto(url + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("copytrace")
            expect(page.locator(".opblock-summary-path", has_text="/v1/match:batch")).to_be_visible()
            assert problems == []
        finally:
            context.close()
