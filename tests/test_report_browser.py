"""Load the report in headless Chromium and watch it through the DevTools protocol.

Chromium is started with ``--remote-debugging-port=0``; the port it picked is read from the
``DevToolsActivePort`` file in its profile, and a websocket client (``websocket-client``, a test
extra) attaches to a fresh tab with the Runtime, Log, Network and Page domains enabled. The tests
then assert, from the browser's own events, that

* no network request is made except the ``file://`` document itself (no fonts, images, scripts or
  styles from anywhere, not even ``data:``);
* nothing is written to the console at error/warning level, no exception is thrown and the
  browser logs no error (a failed load or a blocked resource would appear here);
* the page renders every section, without horizontal overflow at 390 px;
* no visible text is drawn below 11 px at 1280 or 390 px, with every folded ``<details>`` opened
  (computed font size of each text node's element, times the SVG's screen scale for chart text);
* on a phone the key tables stack: no estimate, p, d or n cell lies beyond the screen's edge;
* the main body, details folded, is at most 12 screens of 900 px at 1280 px (fixture and demo);
* print media expands folded details, and ``chromium --headless --print-to-pdf`` turns the demo
  report into a non-empty PDF with a sane number of pages;

and save full-page screenshots (1280 px and 390 px) under ``artifacts/`` for a human to look at.
A positive control (a page that does request the network and does log an error) proves the
watcher sees what it is meant to see. Skipped with a reason when Chromium or websocket-client is
missing (``.ci/run`` installs Debian's chromium).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from project_helpers import use_few_imputations

from balint_analysis.report import render_report

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
try:
    import websocket  # websocket-client
except ImportError:  # pragma: no cover - depends on the environment
    websocket = None

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        websocket is None, reason="websocket-client not installed (pip install -e '.[test]')"
    ),
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = (
    "summary", "flow", "quality", "sample", "instruments", "results", "sensitivity", "dropout",
    "clinical", "dose", "methods", "limitations", "appendix", "glossary", "provenance",
)  # fmt: skip
PHONE = 390  # px: a current small phone's CSS width
SCREEN = 900  # px: one screen of a 1280 px wide laptop window
MAX_SCREENS = 12
MIN_TEXT_PX = 11
# Every visible text node whose drawn size is below the floor: [px, tag, text]. Chart text is
# scaled with its SVG, so its size is the font size times the SVG's screen scale.
SMALL_TEXT_JS = """(() => {
  const out = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement, text = n.textContent.trim();
    if (!text || el.closest('style, title, desc')) continue;
    const box = el.getBoundingClientRect(), cs = getComputedStyle(el);
    if (!box.width || !box.height || cs.visibility === 'hidden') continue;
    let px = parseFloat(cs.fontSize);
    if (el.closest('svg') && el.getScreenCTM) {
      const m = el.getScreenCTM();
      px *= Math.hypot(m.a, m.b);
    }
    if (px < MIN_TEXT_PX) out.push([Math.round(px * 10) / 10, el.tagName, text.slice(0, 40)]);
  }
  return out;
})()""".replace("MIN_TEXT_PX", str(MIN_TEXT_PX))
OPEN_ALL_JS = "document.querySelectorAll('details').forEach(d => d.open = true); true"
MAIN_HEIGHT_JS = "document.querySelector('main').getBoundingClientRect().height"


class Browser:
    """A headless Chromium driven over the DevTools protocol (one tab at a time)."""

    def __init__(self, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a stale file from an earlier run names a dead port
        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--disable-extensions", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = None
        try:
            self.ws = websocket.create_connection(
                f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True
            )
        except OSError:
            self.close()
            raise
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its result (events meanwhile are kept)."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        """Read events until ``method`` arrives."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))

    def drain(self, seconds: float) -> None:
        """Collect events for a while (late requests, deferred console messages)."""
        self.ws.settimeout(0.1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with contextlib.suppress(websocket.WebSocketTimeoutException):
                self.events.append(json.loads(self.ws.recv()))
        self.ws.settimeout(60)

    def open(self, url: str, width: int, height: int = 900) -> str:
        """Open ``url`` in a new tab of the given viewport size; returns the session id."""
        self.events = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        sid = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", sid)
        self.send(
            "Emulation.setDeviceMetricsOverride", sid, width=width, height=height,
            deviceScaleFactor=1, mobile=width < 600,
        )  # fmt: skip
        self.events = []  # only what the document itself causes
        self.send("Page.navigate", sid, url=url)
        self.wait_for("Page.loadEventFired")
        self.drain(0.5)
        return sid

    def evaluate(self, sid: str, expression: str) -> Any:
        res = self.send("Runtime.evaluate", sid, expression=expression, returnByValue=True)
        return res["result"].get("value")

    def screenshot(self, sid: str, out: Path) -> bytes:
        shot = self.send(
            "Page.captureScreenshot", sid, format="png", captureBeyondViewport=True
        )  # fmt: skip
        data = base64.b64decode(shot["data"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return data

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def problems(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions and browser log errors, as text."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry'].get('text')}")
            elif m == "Network.loadingFailed":
                out.append(f"loading failed: {p.get('errorText')}")
        return out

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield b
    finally:
        b.close()


def check_page(browser: Browser, path: Path, name: str, sections: tuple[str, ...] = SECTIONS):
    """Open ``path`` at 1280 and 375 px; assert offline, error-free rendering; save screenshots.

    Returns the page's visible text (at 1280 px).
    """
    url = path.resolve().as_uri()
    text = ""
    for width in (1280, PHONE):
        sid = browser.open(url, width)
        assert browser.requests() == [url], browser.requests()
        assert browser.problems() == []
        found = browser.evaluate(
            sid, "Array.from(document.querySelectorAll('main > section[id]')).map(s => s.id)"
        )
        assert [s for s in sections if s != "summary"] == [s for s in found if s != "summary"]
        overflow = browser.evaluate(
            sid, "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"page scrolls sideways by {overflow}px at {width}px"
        data = browser.screenshot(sid, ROOT / "artifacts" / f"{name}-{width}.png")
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
        if width == 1280:  # the whole text, folded details included
            browser.evaluate(sid, OPEN_ALL_JS)
            text = browser.evaluate(sid, "document.body.innerText")
    return text


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_report import make_config
    from test_report_sections import full_inputs

    cfg = make_config()
    out = tmp_path_factory.mktemp("report") / "report.html"
    out.write_text(render_report(full_inputs(cfg), cfg), encoding="utf-8")
    return out


def test_report_renders_offline_without_errors(browser: Browser, report_file: Path) -> None:
    text = check_page(browser, report_file, "report-fixture")
    assert "The answer in brief" in text
    assert "fell by 3.9 points more in the Balint group" in text
    assert "Mixed model, complete cases only" in text
    assert "<script>alert(1)</script>" in text  # shown as text, never run


def test_svg_figures_and_tables_render(browser: Browser, report_file: Path) -> None:
    sid = browser.open(report_file.resolve().as_uri(), 1280)
    sizes = browser.evaluate(
        sid,
        "Array.from(document.querySelectorAll('svg.figure-svg')).map(s => "
        "[s.getBoundingClientRect().width, s.getBoundingClientRect().height])",
    )
    assert len(sizes) == 4 and all(w > 200 and h > 100 for w, h in sizes)
    assert browser.evaluate(sid, "document.querySelectorAll('table caption').length") >= 15
    assert browser.evaluate(sid, "document.scripts.length") == 0


def test_watcher_sees_requests_and_errors(browser: Browser, tmp_path: Path) -> None:
    """Positive control: the checks above would fail on a page that breaks the rules."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png' alt=''>"
        "<script>console.error('boom')</script></body></html>",
        encoding="utf-8",
    )
    browser.open(bad.as_uri(), 800)
    assert "http://127.0.0.1:9/x.png" in browser.requests()
    assert any("boom" in p for p in browser.problems())


def test_no_text_below_11px_on_desktop_or_phone(browser: Browser, report_file: Path) -> None:
    """Font-size floor through the DevTools protocol, every folded detail opened."""
    for width in (1280, PHONE):
        sid = browser.open(report_file.resolve().as_uri(), width)
        assert browser.evaluate(sid, OPEN_ALL_JS)
        assert browser.evaluate(sid, "document.querySelectorAll('details:not([open])').length") == 0
        small = browser.evaluate(sid, SMALL_TEXT_JS)
        assert small == [], f"{len(small)} texts below {MIN_TEXT_PX}px at {width}px: {small[:5]}"
        n_chart_text = browser.evaluate(sid, "document.querySelectorAll('svg text').length")
        assert n_chart_text > 20  # the chart text was measured, not skipped


def test_key_tables_stack_on_a_phone(browser: Browser, report_file: Path) -> None:
    """At 390 px no estimate, CI, p, d or n cell of an effect table lies off-screen."""
    sid = browser.open(report_file.resolve().as_uri(), PHONE)
    browser.evaluate(sid, OPEN_ALL_JS)
    cells = browser.evaluate(
        sid,
        "Array.from(document.querySelectorAll('table.stack td')).map(td => "
        "[td.dataset.label, td.getBoundingClientRect().right])",
    )
    labels = {label for label, _ in cells}
    assert {"Estimate", "p", "Standardised effect", "n Balint / comparison"} <= labels
    assert all(right <= PHONE for _, right in cells), [c for c in cells if c[1] > PHONE][:5]


def test_main_body_is_at_most_12_screens(browser: Browser, report_file: Path) -> None:
    sid = browser.open(report_file.resolve().as_uri(), 1280, SCREEN)
    assert browser.evaluate(sid, "document.querySelectorAll('details.more:not([open])').length")
    assert browser.evaluate(sid, MAIN_HEIGHT_JS) <= MAX_SCREENS * SCREEN
    # opened, the details hold most of the report: folding is what keeps it short
    browser.evaluate(sid, OPEN_ALL_JS)
    assert browser.evaluate(sid, MAIN_HEIGHT_JS) > 1.5 * MAX_SCREENS * SCREEN


def test_glossary_defines_the_terms_used(browser: Browser, report_file: Path) -> None:
    sid = browser.open(report_file.resolve().as_uri(), 1280)
    links = browser.evaluate(
        sid,
        "Array.from(document.querySelectorAll('a.term')).map(a => "
        "[a.getAttribute('href'), a.querySelector('abbr').title])",
    )
    entries = browser.evaluate(
        sid, "Array.from(document.querySelectorAll('#glossary .gl-entry')).map(e => '#' + e.id)"
    )
    assert {"#gl-satterthwaite", "#gl-ci", "#gl-bh", "#gl-icc"} <= {h for h, _ in links}
    assert {h for h, _ in links} == set(entries)  # every term used is defined, no others listed
    assert all(len(title) > 40 for _, title in links)
    text = browser.evaluate(sid, "document.querySelector('main').innerText")
    main_text = text.split("Technical appendix\n")[0]
    assert "Treatment(" not in main_text and "C(group" not in main_text


def test_print_media_expands_folded_details(browser: Browser, report_file: Path) -> None:
    sid = browser.open(report_file.resolve().as_uri(), 1280)
    inside = "document.querySelector('details.more .table-wrap').checkVisibility()"
    assert browser.evaluate(sid, inside) is False  # folded on screen
    screen_height = browser.evaluate(sid, MAIN_HEIGHT_JS)
    browser.send("Emulation.setEmulatedMedia", sid, media="print")
    assert browser.evaluate(sid, inside) is True  # printed expanded
    assert browser.evaluate(sid, MAIN_HEIGHT_JS) > 1.5 * screen_height
    button = "document.querySelector('.print-button').checkVisibility()"
    assert browser.evaluate(sid, button) is False


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))


def print_to_pdf(html: Path, out: Path) -> bytes:
    """``chromium --headless --print-to-pdf`` of a report (its own profile, no network)."""
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={out.parent / 'pdf-profile'}", "--no-pdf-header-footer",
         f"--print-to-pdf={out}", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.exists(), proc.stderr[-2000:]
    return out.read_bytes()


def test_fixture_report_prints_to_pdf(report_file: Path, tmp_path: Path) -> None:
    pdf = print_to_pdf(report_file, tmp_path / "report.pdf")
    assert pdf.startswith(b"%PDF-") and len(pdf) > 50_000
    assert 6 <= _pdf_pages(pdf) <= 60


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo report: the small preset simulated and run through the whole workflow."""
    work = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [sys.executable, "-m", "balint_analysis.cli", "simulate", "--preset", "small", "--seed",
         "7", "--out", "data/raw/small", "--config-out", "config/config.yaml", "--cohort",
         "small"],
        cwd=work, check=True, capture_output=True, text=True,
    )  # fmt: skip
    use_few_imputations(work / "config" / "config.yaml")
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
         "--directory", str(work), "--cores", "2"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"report": work / "reports" / "small" / "report.html"}


@pytest.mark.e2e
def test_demo_report_screens_fonts_and_pdf(
    browser: Browser, demo_run: dict, tmp_path: Path
) -> None:
    """The demo report (Snakemake run of the small preset): ≤ 12 screens, font floor, PDF."""
    report = demo_run["report"]
    sid = browser.open(report.resolve().as_uri(), 1280, SCREEN)
    height = browser.evaluate(sid, MAIN_HEIGHT_JS)
    assert height <= MAX_SCREENS * SCREEN, f"main body is {height / SCREEN:.1f} screens"
    for width in (1280, PHONE):
        sid = browser.open(report.resolve().as_uri(), width)
        browser.screenshot(sid, ROOT / "artifacts" / f"report-demo-{width}.png")
        browser.evaluate(sid, OPEN_ALL_JS)
        assert browser.evaluate(sid, SMALL_TEXT_JS) == []
    pdf = print_to_pdf(report, tmp_path / "demo.pdf")
    (ROOT / "artifacts" / "report-demo.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 50_000
    assert 6 <= _pdf_pages(pdf) <= 60


def test_links_into_folded_details_open_them(browser: Browser, report_file: Path) -> None:
    """A contents or 'see …' link whose target is folded away unfolds it (no dead links)."""
    sid = browser.open(report_file.resolve().as_uri(), 1280)
    folded = browser.evaluate(
        sid,
        "Array.from(document.querySelectorAll('a[href^=\"#\"]')).map(a => a.getAttribute('href'))"
        ".filter(h => { const t = document.querySelector(h); const d = t && t.closest('details');"
        " return d && !d.open && t !== d; })",
    )
    assert folded, "expected at least one link into a folded section"
    target = json.dumps(folded[0])
    browser.evaluate(sid, f"location.hash = {target}; true")
    browser.drain(0.3)
    assert browser.evaluate(sid, f"document.querySelector({target}).checkVisibility()")
