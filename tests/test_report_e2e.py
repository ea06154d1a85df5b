"""The report of a real pipeline run: a small generated cohort through the whole workflow.

One Snakemake run (module-scoped, ~10 s) on ``simulate --preset small``; then the report is
checked against the files the run wrote: every section is there, the headline and the effect
tables show exactly the numbers of ``effects.csv`` (formatted as the report formats them), and
nothing identifying from the raw exports (participant ids, e-mails, IP addresses, names, free-text
comments) or the pseudonyms reaches it. When Chromium is available the same file is also opened in
it (offline, no console errors; see ``test_report_browser.py``).
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from project_helpers import use_few_imputations

from balint_analysis.instruments import load_instrument
from balint_analysis.report.text import fmt, fmt_ci, fmt_p, tp_label

REPO = Path(__file__).resolve().parents[1]
COHORT = "small"
pytestmark = pytest.mark.e2e
HEADINGS = (
    "The answer in brief", "Participant flow", "Data quality", "Sample at baseline",
    "Instruments and reliability", "Results per outcome", "Sensitivity analyses",
    "Clinical meaning: reliable change", "Dose: change vs sessions attended", "Methods",
    "Limitations", "Provenance",
)  # fmt: skip


class _Tables(HTMLParser):
    """Every ``<table>``: its caption id and its rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows, self._caption = [], None
        elif tag == "caption":
            self._caption = dict(attrs).get("id") or ""
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption or f"table-{len(self.tables)}"] = self._rows
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("report-e2e")
    subprocess.run(
        [sys.executable, "-m", "balint_analysis.cli", "simulate", "--preset", "small", "--seed",
         "7", "--out", f"data/raw/{COHORT}", "--config-out", "config/config.yaml", "--cohort",
         COHORT],
        cwd=work, check=True, capture_output=True, text=True,
    )  # fmt: skip
    use_few_imputations(work / "config" / "config.yaml")
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(work), "--cores", "2"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = work / "reports" / COHORT / "report.html"
    html = report.read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(html)
    return {
        "dir": work,
        "report": report,
        "html": html,
        "text": html_lib.unescape(
            re.sub(
                r"\s+",
                " ",
                re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S)),
            )
        ),
        "tables": parser.tables,
        "processed": work / "data" / "processed" / COHORT,
        "raw": work / "data" / "raw" / COHORT,
    }


def _effects(run: dict) -> pd.DataFrame:
    return pd.read_csv(run["processed"] / "effects.csv", dtype={"timepoint": str})


def test_every_section_is_present(run: dict) -> None:
    h2 = [html_lib.unescape(h) for h in re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", run["html"])]
    for heading in HEADINGS:
        assert heading in h2, heading
    assert "Synthetic demo data" in run["text"]


def test_effect_tables_equal_effects_csv(run: dict) -> None:
    eff = _effects(run)
    assert len(eff) >= 8  # at least the four burnout/stress scales at two later timepoints
    for (inst, scale), part in eff.groupby(["instrument", "scale"]):
        sid = f"outcome-{inst}-{scale}".replace("_", "-")
        if getattr(load_instrument(inst).scales[scale], "derived_from", None):
            assert f"{sid}-eff" not in run["tables"]  # derived: descriptive only
            continue
        rows = {r[0]: r for r in run["tables"][f"{sid}-eff"][1:]}
        assert len(rows) == len(part)
        for r in part.to_dict("records"):
            got = rows[tp_label(r["timepoint"])]
            assert got[1] == fmt(r["estimate"])
            assert got[2] == fmt_ci(r["ci_low"], r["ci_high"])
            assert got[3] == fmt(r["df"], 1)
            assert got[4] == fmt_p(r["p_value"])
            primary = scale == "emotional_exhaustion"
            assert got[5] == ("—" if primary else fmt_p(r["p_adjusted"]))
            # The standardised effect is the model's (its CI agrees with the CI in points);
            # Morris's d_ppc2 is in the line for meta-analysts under the table.
            assert got[6].startswith(
                f"{fmt(r['d_model'], 2)} "
                f"({fmt_ci(r['d_model_ci_low'], r['d_model_ci_high'], 2)})"
            )
            excludes = r["ci_low"] > 0 or r["ci_high"] < 0
            assert excludes == (r["d_model_ci_low"] > 0 or r["d_model_ci_high"] < 0)
            ppc2 = f"{tp_label(r['timepoint'])} {fmt(r['d_ppc2'], 2)} "
            assert ppc2 + f"({fmt_ci(r['d_ci_low'], r['d_ci_high'], 2)})" in run["text"]
            assert got[7] == f"{int(r['n_intervention'])} / {int(r['n_control'])}"
            assert got[8] == "yes"


def test_data_quality_details_follow_flow_json(run: dict) -> None:
    """Detection details, code matching and careless flags come from validate's files."""
    flow = json.loads((run["processed"] / "flow.json").read_text(encoding="utf-8"))
    quality = run["text"].split("Data quality")[2].split("Sample at baseline")[0]
    for f in flow["files"]:
        assert f"format {f['format']}" in quality
    assert "Participant codes across timepoints" in quality
    assert "Careless-responding flags" in quality
    assert "not available in this run (careless.csv" not in quality
    assert "(withheld: text, 4 characters)" in quality


def test_headline_equals_effects_csv(run: dict) -> None:
    eff = _effects(run)
    ee = eff[eff["scale"] == "emotional_exhaustion"]
    fu = ee[ee["primary_timepoint"]].iloc[0]  # the default: the end of the groups (post)
    assert fu["timepoint"] == "post"
    head = run["text"].split("Contents")[0]
    assert "The main result is at post: the end of the groups, the timepoint chosen before " \
           "analysis." in head
    other = ee[~ee["primary_timepoint"]].iloc[0]
    assert (f"Other timepoints: at follow-up, {fmt(other['estimate'])} points (95% CI "
            f"{fmt_ci(other['ci_low'], other['ci_high'])})") in head
    key = re.search(r'<span class="key-value">([^<]+)</span>', run["html"])
    assert key and html_lib.unescape(key.group(1)) == fmt(fu["estimate"])
    assert f"95% CI {fmt_ci(fu['ci_low'], fu['ci_high'])}" in head
    verb = "fell" if fu["estimate"] < 0 else "rose"
    assert f"by {fmt(abs(fu['estimate']))} points" in head and verb in head
    certain = (
        "consistent with a real"
        if fu["ci_high"] < 0 or fu["ci_low"] > 0
        else ("The data cannot distinguish a real effect")
    )
    assert certain in head


def test_optional_sections_follow_the_files(run: dict) -> None:
    """Before the model stage writes its side files the sections say so; after, they show them."""
    proc, text = run["processed"], run["text"]
    sens = proc / "sensitivity.csv"
    if sens.exists():
        s = pd.read_csv(sens)
        r = s[(s["analysis"] == "primary_lmm") & (s["scale"] == "emotional_exhaustion")].iloc[-1]
        assert f"{fmt(r['estimate'])} ({fmt_ci(r['ci_low'], r['ci_high'])})" in text
    else:  # a section with nothing to say is omitted
        assert "Sensitivity analyses" not in text
    for name, words in (
        ("clinical", "Reliably improved"),
        ("cutoffs", "Movement across published cut-offs"),
        ("dose", "Dose: change vs sessions attended"),
    ):
        assert (words in text) == (proc / f"{name}.csv").exists(), name
    if (proc / "items.csv").exists():
        assert "Item-level statistics are not available" not in text
        assert "median" in text.split("Item-level quality")[1].split("Results per outcome")[0]


def _canaries(raw: Path) -> list[str]:
    q = pd.read_csv(raw / "pre_qualtrics.csv", skiprows=[1, 2], dtype=str)
    roster = pd.read_csv(raw / "participants.csv", dtype=str)
    values: set[str] = set()
    for series in (q["IPAddress"], q["RecipientEmail"], roster["email"]):
        values |= set(series.dropna())
    for series in (q["RecipientLastName"], q["RecipientFirstName"]):
        values |= {v for v in series.dropna() if len(v) >= 4}
    texts = [q.filter(like="_TEXT").stack()]
    for path in sorted(raw.glob("*.csv")):  # free text of the other platforms' exports
        if path.name not in ("pre_qualtrics.csv", "participants.csv", "truth_scores.csv"):
            other = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            texts.append(other.filter(regex="(?i)comment").stack())
    for series in texts:
        values |= {v for v in series.dropna() if len(v) >= 10}
    values |= set(roster["participant_id"]) | set(q["ExternalReference"].dropna())
    return sorted(values)


def test_no_identifiers_or_people(run: dict) -> None:
    html = run["html"]
    canaries = _canaries(run["raw"])
    assert len(canaries) > 40  # ids, e-mails, IPs, names and comments were all found
    assert any("@" in c for c in canaries) and any(c.count(".") == 3 for c in canaries)
    for c in canaries:
        for form in {c, html_lib.escape(c), html_lib.escape(c, quote=False)}:
            assert not re.search(rf"(?<![\w.@-]){re.escape(form)}(?![\w@-])", html), c
    pseudonyms = pd.read_csv(run["processed"] / "participants.csv", dtype=str)["participant"]
    assert not any(p in html for p in pseudonyms)
    assert not re.search(r"https?://", html)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?!#)[a-z]+:""", html, re.I)
    assert "<script" not in html.lower()


def test_opens_in_chromium(run: dict) -> None:
    from test_report_browser import CHROMIUM, Browser, check_page, websocket

    if CHROMIUM is None or websocket is None:
        pytest.skip("no chromium binary on PATH or websocket-client missing")
    browser = Browser(run["dir"] / "chromium-profile")
    try:
        text = check_page(browser, run["report"], "report-e2e")
    finally:
        browser.close()
    eff = _effects(run)
    fu = eff[(eff["scale"] == "emotional_exhaustion") & (eff["timepoint"] == "followup")].iloc[0]
    assert fmt_ci(fu["ci_low"], fu["ci_high"]) in text
