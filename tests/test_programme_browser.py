"""The programme report in headless Chromium: the cohort report's browser checks, on a fixture.

Same watcher as ``test_report_browser.py`` (DevTools protocol): no request but the file itself,
no console error, every section rendered, no sideways scrolling at 390 px, no text below 11 px
with every folded detail open, key tables stacking on a phone, at most 12 screens of main body,
every glossed term defined, print media expanding folded details, and a PDF. Skipped with a
reason when Chromium or websocket-client is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_programme_report import HETEROGENEOUS, SETTINGS, make_programme
from test_report_browser import (
    MAIN_HEIGHT_JS,
    MAX_SCREENS,
    OPEN_ALL_JS,
    PHONE,
    SCREEN,
    SMALL_TEXT_JS,
    Browser,
    _pdf_pages,
    check_page,
    print_to_pdf,
)
from test_report_browser import pytestmark as browser_marks

from balint_analysis.programme.report import render_programme_report

pytestmark = browser_marks
SECTIONS = (
    "summary", "forest", "heterogeneity", "outcomes", "stages", "cohorts", "methods", "glossary",
    "provenance",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def programme_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("programme")
    folder = make_programme(root, HETEROGENEOUS, small_arm=2)
    out = root / "reports" / "programmes" / "north" / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_programme_report(folder, settings=SETTINGS), encoding="utf-8")
    return out


def test_programme_report_renders_offline_without_errors(
    browser: Browser, programme_file: Path
) -> None:
    text = check_page(browser, programme_file, "programme-fixture", SECTIONS)
    assert "The answer in brief" in text
    assert "A new site could expect anywhere from an 11.2-point greater fall" in text
    sid = browser.open(programme_file.resolve().as_uri(), 1280)
    assert browser.evaluate(sid, "document.scripts.length") == 0
    size = browser.evaluate(
        sid, "(r => [r.width, r.height])(document.querySelector('svg.figure-svg')"
        ".getBoundingClientRect())",
    )  # fmt: skip
    assert size[0] > 200 and size[1] > 100


def test_programme_fonts_phone_tables_and_length(browser: Browser, programme_file: Path) -> None:
    url = programme_file.resolve().as_uri()
    for width in (1280, PHONE):
        sid = browser.open(url, width)
        browser.evaluate(sid, OPEN_ALL_JS)
        assert browser.evaluate(sid, SMALL_TEXT_JS) == []
        assert browser.evaluate(sid, "document.querySelectorAll('svg text').length") > 10
    sid = browser.open(url, PHONE)
    browser.evaluate(sid, OPEN_ALL_JS)
    cells = browser.evaluate(
        sid, "Array.from(document.querySelectorAll('table.stack td')).map(td => "
        "[td.dataset.label, td.getBoundingClientRect().right])",
    )  # fmt: skip
    assert {"Effect", "n Balint / comparison", "Attrition", "Estimate"} <= {c for c, _ in cells}
    assert all(right <= PHONE for _, right in cells)
    sid = browser.open(url, 1280, SCREEN)
    assert browser.evaluate(sid, MAIN_HEIGHT_JS) <= MAX_SCREENS * SCREEN


def test_programme_glossary_and_print(browser: Browser, programme_file: Path) -> None:
    sid = browser.open(programme_file.resolve().as_uri(), 1280)
    used = browser.evaluate(
        sid, "Array.from(document.querySelectorAll('a.term')).map(a => a.getAttribute('href'))"
    )
    entries = browser.evaluate(
        sid, "Array.from(document.querySelectorAll('#glossary .gl-entry')).map(e => '#' + e.id)"
    )
    assert {"#gl-pi", "#gl-tau", "#gl-i2", "#gl-meta", "#gl-ci"} <= set(used)
    assert set(used) == set(entries)
    inside = "document.querySelector('details.more .table-wrap').checkVisibility()"
    assert browser.evaluate(sid, inside) is False
    browser.send("Emulation.setEmulatedMedia", sid, media="print")
    assert browser.evaluate(sid, inside) is True


def test_programme_report_prints_to_pdf(programme_file: Path, tmp_path: Path) -> None:
    pdf = print_to_pdf(programme_file, tmp_path / "programme.pdf")
    assert pdf.startswith(b"%PDF-") and 2 <= _pdf_pages(pdf) <= 30
