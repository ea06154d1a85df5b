"""The programme report: wording, numbers from the files, links, privacy, self-containment.

Fixture programmes are small folders of the pooled stage's files (meta.csv, meta_analysis.csv,
leave_one_out.csv, ipd.csv, cohorts.json) built here from synthetic per-cohort effects; the pooled
rows come from the real meta-analysis functions, so the sentences are checked against numbers
computed the way the pooled stage computes them (and by hand where stated).
"""

from __future__ import annotations

import html as html_module
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from balint_analysis.errors import InputError
from balint_analysis.programme.meta_analysis import (
    leave_one_out,
    meta_analyse,
    random_effects_meta,
)
from balint_analysis.programme.report import render_programme_report
from balint_analysis.programme.report_text import range_words, stages_sentence
from balint_analysis.report.text import fmt, fmt_ci

BY = ["instrument", "scale", "timepoint"]
SETTINGS = {
    "name": "north",
    "title": "Balint groups in the northern programme",
    "labels": {"mbi.ee": "Emotional exhaustion (MBI)"},
    "directions": {"mbi.ee": "higher_is_worse"},
}
# Per cohort: (estimate, se) of the difference in change at post (points).
CONSISTENT = [(-3.0, 1.0), (-2.6, 1.1), (-3.4, 0.9), (-2.8, 1.2), (-3.1, 1.0)]
HETEROGENEOUS = [(-6.0, 0.7), (-4.0, 0.8), (1.0, 0.7), (2.0, 0.9), (-1.0, 0.8), (-5.0, 0.7)]
TWO = [(-3.0, 1.0), (-1.0, 1.2)]
PSEUDONYM = "p_8f3a9c1e77"  # what a participant pseudonym looks like: must never appear


def _meta_rows(effects: list[tuple[float, float]], small_arm: int | None = None) -> pd.DataFrame:
    rows = []
    for i, (est, se) in enumerate(effects):
        n_i = 3 if small_arm == i else 20 + i
        rows.append({
            "programme": "north", "cohort": f"c{i + 1}", "site": f"Site{chr(65 + i)}",
            "year": 2020 + i % 3, "country": "NL", "instrument": "mbi",
            "instrument_version": "HSS", "scale": "ee", "timepoint": "post",
            "primary_timepoint": True, "role": "primary", "design": "two_arm",
            "randomised": i % 2 == 0, "n_clusters": 2 + i % 2, "n_timepoints": 3,
            "n_enrolled_intervention": n_i + 4, "n_enrolled_control": 24 + i,
            "n_intervention": n_i, "n_control": 18 + i, "n_baseline_intervention": n_i + 4,
            "n_baseline_control": 24 + i, "attrition_intervention": 4 / (n_i + 4),
            "attrition_control": 6 / (24 + i), "baseline_difference": 0.05 * i,
            "estimate": est, "se": se, "ci_low": est - 2.1 * se, "ci_high": est + 2.1 * se,
            "df": 30.0, "yi_smd": est / 8, "vi_smd": (se / 8) ** 2, "smd_measure": "d_model",
            "estimable": True, "reason": "",
        })  # fmt: skip
    post = pd.DataFrame(rows)
    # a follow-up row per cohort: pooled too, but not the timepoint the answer is about
    follow = post.assign(timepoint="followup", primary_timepoint=False,
                         estimate=post["estimate"] + 1.0, ci_low=post["ci_low"] + 1.0,
                         ci_high=post["ci_high"] + 1.0)  # fmt: skip
    return pd.concat([post, follow], ignore_index=True)


def make_programme(root: Path, effects, *, small_arm: int | None = None) -> Path:
    """Write a fixture programme's pooled-stage files under ``root`` (and stub cohort reports).

    The layout is the workflow's: ``data/processed/programmes/north/`` for the files,
    ``reports/<cohort>/report.html`` for the cohort reports; returns the programme folder.
    """
    folder = root / "data" / "processed" / "programmes" / "north"
    folder.mkdir(parents=True, exist_ok=True)
    meta = _meta_rows(effects, small_arm)
    meta.to_csv(folder / "meta.csv", index=False)
    diff = meta.assign(yi=meta["estimate"], vi=meta["se"] ** 2, measure="difference_in_change")
    smd = meta.assign(yi=meta["yi_smd"], vi=meta["vi_smd"], measure="smd")
    pooled = pd.concat(
        [meta_analyse(d, by=BY).assign(measure=d["measure"].iloc[0]) for d in (diff, smd)]
    )
    pooled.to_csv(folder / "meta_analysis.csv", index=False)
    loo = pd.concat(
        [leave_one_out(d, by=BY).assign(measure=d["measure"].iloc[0]) for d in (diff, smd)]
    )
    loo.to_csv(folder / "leave_one_out.csv", index=False)
    pd.DataFrame([{
        "instrument": "mbi", "scale": "ee", "timepoint": "post", "estimate": -2.7, "se": 0.6,
        "df": 12.3, "ci_low": -4.0, "ci_high": -1.4, "p_value": 0.001, "tau_site_effect": 0.4,
        "n_cohorts": len(effects), "n_participants": 200, "pooling": "same_instrument",
        "converged": True, "reason": "",
    }]).to_csv(folder / "ipd.csv", index=False)  # fmt: skip
    reports = root / "reports"
    cohorts = []
    for name in meta["cohort"].unique():
        (reports / name).mkdir(parents=True, exist_ok=True)
        (reports / name / "report.html").write_text("<!DOCTYPE html><title>c</title>")
        cohorts.append({
            "name": name, "config": f"config/cohorts/{name}.yaml",
            "report": f"../../{name}/report.html", "key_fingerprint": "a1b2c3d4",
            "demo_key_used": False, "min_cell_size": 5,
            "software": {"balint-analysis": "0.9.0", "python": "3.11.7"},
            "outputs": {"effects.csv": f"{len(name):064x}"},
        })  # fmt: skip
    programme = {"name": "north", "title": SETTINGS["title"], "min_cell_size": 5, "alpha": 0.05}
    (folder / "cohorts.json").write_text(
        json.dumps({"programme": programme, "cohorts": cohorts}), encoding="utf-8"
    )
    return folder


def _render(tmp_path: Path, effects, **kw) -> tuple[str, pd.DataFrame]:
    folder = make_programme(tmp_path, effects, **kw)
    html = render_programme_report(folder, settings=SETTINGS)
    pooled = pd.read_csv(folder / "meta_analysis.csv")
    return html, pooled[pooled["timepoint"] == "post"].reset_index(drop=True)


def _text(html: str) -> str:
    """Visible text of the page, tags dropped and whitespace collapsed."""
    body = re.sub(r"<(style|title|desc)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", body)))
    return re.sub(r"\( | (?=[).,;:])", lambda m: m.group(0).strip(), text)


def _summary(html: str) -> str:
    return _text(html.split('<section id="summary"')[1].split("</section>")[0])


def test_consistent_sites_answer_in_words(tmp_path: Path) -> None:
    html, pooled = _render(tmp_path, CONSISTENT)
    # tau^2 = 0 here, so the pooled estimate is the inverse-variance weighted mean (by hand):
    w = [1 / se**2 for _, se in CONSISTENT]
    mean = sum(wi * est for wi, (est, _) in zip(w, CONSISTENT, strict=True)) / sum(w)
    assert round(mean, 6) == round(pooled["estimate"].iloc[0], 6) == round(-3.026151, 6)
    text = _summary(html)
    assert (
        "Across 5 cohorts, the pooled effect of Balint groups on emotional exhaustion (MBI) at "
        "post is −3.0 points (95% CI −3.4 to −2.6): emotional exhaustion fell by 3.0 points "
        "more in the Balint groups than in the comparison groups." in text
    )
    assert "A new site could expect anywhere from a 2.6- to a 3.4-point greater fall" in text
    assert "τ = 0, I² = 0%" in text and "cannot show a difference between them" in text
    assert "consistent with a real reduction in emotional exhaustion in the Balint" in text
    assert "might not see the average effect" not in text


def test_heterogeneous_sites_prediction_interval_crossing_zero(tmp_path: Path) -> None:
    html, pooled = _render(tmp_path, HETEROGENEOUS)
    row = pooled[pooled["measure"] == "difference_in_change"].iloc[0]
    assert row["pi_low"] < 0 < row["pi_high"] and row["ci_low"] < 0 < row["ci_high"]
    text = _summary(html)
    assert (
        "A new site could expect anywhere from an 11.2-point greater fall to a 6.8-point greater "
        "rise in the Balint groups (prediction interval). That range includes no difference at "
        "all and a change in the other direction: a new site might not see the average effect."
        in text
    )
    assert "τ = 3.2 points; considerable heterogeneity: about 95% of the spread" in text
    assert "chance (I²). With only 6 cohorts, both are rough estimates." in text
    assert "cannot distinguish a real effect from no effect" in text
    assert "This is not evidence that Balint groups have no effect" in text
    assert "no effect of" not in text.lower() and "did not work" not in text.lower()
    assert 'class="prediction"' in html  # the forest plot draws the new-site interval
    # leave-one-out: without SiteA (the largest fall), refitted from the other five cohorts
    rest = HETEROGENEOUS[1:]
    without = random_effects_meta([e for e, _ in rest], [s**2 for _, s in rest])
    loo = html.split('id="cap-loo"')[1].split("</table>")[0]
    first = loo.split("SiteA 2020</th>")[1].split("</tr>")[0]
    assert f">{fmt(without['estimate'])}<" in first and fmt(without["estimate"]) == "−1.4"
    assert loo.count("<tr>") == 1 + len(HETEROGENEOUS)


def test_two_cohorts_say_what_can_and_cannot_be_concluded(tmp_path: Path) -> None:
    html, pooled = _render(tmp_path, TWO)
    text = _summary(html)
    assert "Only 2 cohorts could be pooled. What can be concluded: the average effect" in text
    assert "What cannot: how much the effect differs between sites, or what a new site" in text
    assert "no range for a new site is given" in text
    assert "A new site could expect" not in html and "new site:" not in text
    assert 'class="prediction"' not in html  # no new-site interval drawn either
    assert "−2.1 points (95% CI −14.7 to 10.5)" in text  # t on 1 df: honest width
    assert pooled["k"].iloc[0] == 2


def _formatted(values, digits: int) -> set[str]:
    return {fmt(v, digits) for v in values} | {fmt(abs(v), digits) for v in values}


def test_every_number_on_the_first_screen_comes_from_the_files(tmp_path: Path) -> None:
    html, pooled = _render(tmp_path, HETEROGENEOUS)
    diff = pooled[pooled["measure"] == "difference_in_change"].iloc[0]
    smd = pooled[pooled["measure"] == "smd"].iloc[0]
    cols = ["estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau"]
    allowed = _formatted(diff[cols].astype(float), 1) | _formatted([smd["estimate"]], 2)
    allowed |= {f"{diff['i2']:.0f}", str(int(diff["k"])), "95", "0"}
    numbers = re.findall(r"\d+(?:\.\d+)?", _summary(html).replace("−", "-"))
    assert numbers and {n for n in numbers if n not in allowed} == set()
    # and a changed file changes the page: the numbers are read, not fixed
    folder = tmp_path / "data" / "processed" / "programmes" / "north"
    frame = pd.read_csv(folder / "meta_analysis.csv")
    frame.loc[frame["measure"] == "difference_in_change", "estimate"] = -9.87
    frame.to_csv(folder / "meta_analysis.csv", index=False)
    assert "is −9.9 points" in _summary(render_programme_report(folder, settings=SETTINGS))


def test_links_are_relative_and_resolve(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, CONSISTENT)
    where = tmp_path / "reports" / "programmes" / "north"  # where the report is written
    hrefs = re.findall(r'href="([^"]*)"', html)
    external = [h for h in hrefs if not h.startswith("#")]
    assert len(external) == 2 * len(CONSISTENT)  # design table and provenance, per cohort
    for h in external:
        assert not re.match(r"^(?:[a-z]+:|/)", h) and (where / h).resolve().is_file(), h
    ids = set(re.findall(r'id="([^"]+)"', html))
    assert {h[1:] for h in hrefs if h.startswith("#")} <= ids  # no dead in-page links


def test_absolute_or_remote_report_paths_are_not_linked(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, CONSISTENT)
    raw = json.loads((folder / "cohorts.json").read_text())
    raw["cohorts"][0]["report"] = "/srv/reports/c1/report.html"
    raw["cohorts"][1]["report"] = "https://example.org/c2.html"
    (folder / "cohorts.json").write_text(json.dumps(raw))
    html = render_programme_report(folder, settings=SETTINGS)
    assert "/srv/reports" not in html and "example.org" not in html
    assert html.count('href="../../c3/report.html"') == 2


def test_self_contained_and_no_participant_identifiers(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, HETEROGENEOUS)
    # plant a pseudonym where a careless pooled stage might leave one: never shown
    meta = pd.read_csv(folder / "meta.csv").assign(participant=PSEUDONYM)
    meta.to_csv(folder / "meta.csv", index=False)
    raw = json.loads((folder / "cohorts.json").read_text())
    raw["cohorts"][0]["participants"] = [PSEUDONYM]
    (folder / "cohorts.json").write_text(json.dumps(raw))
    html = render_programme_report(folder, settings=SETTINGS)
    assert PSEUDONYM not in html
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(?:script|link|img|iframe|object)\b", html, re.I)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert html == render_programme_report(folder, settings=SETTINGS)  # deterministic


def test_small_arm_counts_and_estimates_are_suppressed(tmp_path: Path) -> None:
    html, _ = _render(tmp_path, CONSISTENT, small_arm=1)
    row = html.split('href="../../c2/report.html">')[1].split("</tr>")[0]
    assert "&lt;5 / 19" in row and "suppressed" in row
    assert "−2.6 (" not in row  # its own estimate is not shown
    forest = html.split('<figure class="chart forest">')[1].split("</figure>")[0]
    assert "SiteB" not in forest and "SiteA" in forest
    # attrition: 4 of 24 lost is a count below 5 and reads as such; 6 of 24 is shown
    first = html.split('href="../../c1/report.html">')[1].split("</tr>")[0]
    assert "&lt;5 people / 25%" in first


def test_baseline_difference_of_a_small_baseline_arm_is_suppressed(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, CONSISTENT)
    meta = pd.read_csv(folder / "meta.csv")
    meta.loc[meta["cohort"] == "c3", "n_baseline_control"] = 4
    meta.to_csv(folder / "meta.csv", index=False)
    html = render_programme_report(folder, settings=SETTINGS)
    row = _text(html.split('href="../../c3/report.html">')[1].split("</tr>")[0]).strip()
    assert row.endswith("suppressed −3.4 (−5.3 to −1.5)")  # its effect is still shown
    row = _text(html.split('href="../../c4/report.html">')[1].split("</tr>")[0]).strip()
    assert row.endswith("0.15 −2.8 (−5.3 to −0.3)")


def test_missing_pooled_file_is_one_clear_line(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, TWO)
    (folder / "meta_analysis.csv").unlink()
    with pytest.raises(InputError, match=r"meta_analysis\.csv: missing; run the programme"):
        render_programme_report(folder, settings=SETTINGS)


def test_every_pooled_outcome_and_timepoint_is_tabulated(tmp_path: Path) -> None:
    html, post = _render(tmp_path, HETEROGENEOUS)
    pooled = pd.read_csv(tmp_path / "data/processed/programmes/north/meta_analysis.csv")
    table = html.split('id="cap-outcomes"')[1].split("</table>")[0]
    follow = pooled.query("measure == 'difference_in_change' and timepoint == 'followup'").iloc[0]
    assert round(follow["estimate"] - post["estimate"].iloc[0], 9) == 1.0  # shifted by 1
    row = table.split("follow-up</td>")[1].split("</tr>")[0]
    assert f">{fmt(follow['estimate'])}<" in row and ">6<" in row
    assert fmt_ci(follow["pi_low"], follow["pi_high"]) in row
    assert table.count("(main)") == 1 and table.count("<tr>") == 3


def test_pooled_file_without_a_column_is_one_clear_line(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, TWO)
    pd.read_csv(folder / "meta.csv").drop(columns=["se"]).to_csv(folder / "meta.csv", index=False)
    with pytest.raises(InputError, match=r"meta\.csv: column\(s\) se missing; rerun") as err:
        render_programme_report(folder, settings=SETTINGS)
    assert "\n" not in str(err.value)
    (folder / "cohorts.json").write_text('"not a list"')
    with pytest.raises(InputError, match=r"cohorts\.json: expected a list of cohorts"):
        render_programme_report(folder, settings=SETTINGS)


def test_range_words() -> None:
    assert range_words(-4.3, -1.5) == "a 1.5- to a 4.3-point greater fall in the Balint groups"
    assert range_words(0.4, 2.0) == "a 0.4- to a 2.0-point greater rise in the Balint groups"
    assert range_words(-8.0, 1.0) == (
        "an 8.0-point greater fall to a 1.0-point greater rise in the Balint groups"
    )


def test_provenance_and_demo_key_warning(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, TWO)
    html = render_programme_report(folder, settings=SETTINGS)
    prov = _text(html.split('id="provenance"')[1])
    assert "config/cohorts/c1.yaml" in prov and "a1b2c3d4" in prov and f"{2:064x}" in prov
    assert "balint-analysis 0.9.0, python 3.11.7" in prov
    assert "Run date" not in prov  # the pooled stage records none: no column of dashes
    assert "demo pseudonymisation key" not in html
    raw = json.loads((folder / "cohorts.json").read_text())
    raw["cohorts"][1]["demo_key_used"] = True
    (folder / "cohorts.json").write_text(json.dumps(raw))
    html = render_programme_report(folder, settings=SETTINGS)
    assert "the documented demo pseudonymisation key was used by c2." in _text(html)


def test_standardised_measure_and_one_stage_in_the_same_unit(tmp_path: Path) -> None:
    folder = make_programme(tmp_path, HETEROGENEOUS)
    html = render_programme_report(folder, settings={**SETTINGS, "measure": "smd"})
    smd = (
        pd.read_csv(folder / "meta_analysis.csv")
        .query("measure == 'smd' and timepoint == 'post'")
        .iloc[0]
    )
    text = _summary(html)
    assert f"at post is {fmt(smd['estimate'], 2)} SD (95% CI " in text
    assert "pooled standardised effect" in text
    # the one-stage model pooled raw points: compared with the two-stage result in points
    stages = _text(html.split('id="stages"')[1].split("</section>")[0])
    assert "estimates −2.7 (−4.0 to −1.4); the two-stage meta-analysis −2.2 (" in stages
    assert 'class="ipd"' not in html  # and not drawn on the standardised forest plot


def test_a_single_cohort_is_not_pooled(tmp_path: Path) -> None:
    html, pooled = _render(tmp_path, [(-3.0, 1.0)])
    assert pooled["estimate"].isna().all() and (pooled["k"] == 1).all()
    text = _summary(html)
    assert (
        "Across 1 cohort, no pooled effect on emotional exhaustion (MBI) at post could be" in text
    )
    assert "With a single cohort there is nothing to pool" in text
    assert 'class="key-figure"' not in html and 'class="pooled"' not in html
    stages = _text(html.split('id="stages"')[1].split("</section>")[0])
    assert (
        "estimates −2.7 (−4.0 to −1.4); there is no two-stage estimate to compare it with."
        in stages
    )


def test_one_stage_without_site_variation_is_not_read_as_the_answer() -> None:
    # The example programme's numbers: close estimates, but the one-stage model put the
    # site x treatment variance on its boundary, so only its interval leaves out zero.
    two = {"estimate": -5.2019, "se": 3.9118, "ci_low": -22.033, "ci_high": 11.6292,
           "tau": 5.9997}  # fmt: skip
    one = {"estimate": -5.3351, "ci_low": -8.8169, "ci_high": -1.8533, "tau_site_effect": 0.0}
    text = stages_sentence(two, one, "points")
    assert "The two agree closely (difference 0.1 points)." in text
    assert text.endswith(
        "The one-stage model estimated no variation of the effect between sites, so its interval "
        "leaves out the differences between sites that the two-stage interval allows for, and is "
        "narrower for that reason. Only the one-stage interval leaves out zero (no difference); "
        "the answer above rests on the two-stage result."
    )
    # with site variation estimated and the same conclusion, no caveat
    one_varied = one | {"tau_site_effect": 4.0, "ci_low": -20.0, "ci_high": 9.0}
    assert stages_sentence(two, one_varied, "points").endswith("count differently in the two.")
