"""Unit tests of the report stage: content from known inputs, privacy, safety, determinism."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from balint_analysis.config import StudyConfig, load_config
from balint_analysis.errors import InputError
from balint_analysis.report import ReportInputs, load_inputs, render_report, write_report
from balint_analysis.report.text import (
    certainty_sentence,
    design_info,
    effect_sentence,
    fmt,
    scale_info,
)

EVIL = "<script>alert(1)</script>"
TPS = ("pre", "post", "followup")
SCALES = [
    ("mbi_hss", "emotional_exhaustion"),
    ("mbi_hss", "depersonalization"),
    ("mbi_hss", "personal_accomplishment"),
    ("pss10", "total"),
]


# --------------------------------------------------------------------------- fixtures


def make_config(**over: Any) -> StudyConfig:
    """A two-arm, non-randomised demo config (overrides: design keys, analysis keys, top level)."""
    raw: dict[str, Any] = {
        "cohort": "demo",
        "title": "Balint groups for psychologists (synthetic demo cohort)",
        "synthetic": {"seed": 20261125, "preset": "demo"},
        "design": {
            "timepoints": list(TPS),
            "intervention": "balint",
            "control": "control",
            "randomised": False,
        },
        "participants": {
            "path": "data/raw/demo/participants.csv",
            "id": "participant_id",
            "group": "group",
            "cluster": "balint_group",
            "sessions": "sessions_attended",
        },
        "exports": [
            {
                "path": "data/raw/demo/pre_qualtrics.csv",
                "format": "qualtrics",
                "timepoint": "pre",
                "id": "ExternalReference",
            },
            {
                "path": "data/raw/demo/post_followup_redcap.csv",
                "format": "redcap",
                "id": "record_id",
                "timepoint_column": "redcap_event_name",
                "timepoint_values": {"post_arm_1": "post", "followup_arm_1": "followup"},
            },
        ],
        "instruments": {"mbi_hss": "MBI_{i}", "pss10": "PSS_{i}"},
        "analysis": {
            "primary": "mbi_hss.emotional_exhaustion",
            # The wording tests below read the follow-up result; the default primary timepoint
            # (the end of the groups) is tested in tests/test_report_primary_timepoint.py.
            "primary_timepoint": "followup",
            "covariates": ["age", "years_in_practice"],
            "alpha": 0.05,
            "min_cell_size": 5,
            "strict": False,
        },
        "privacy": {"key_env": "BALINT_ID_KEY", "allow_demo_key": True},
    }
    for key, value in over.items():
        if key in ("timepoints", "intervention", "control", "randomised"):
            if value is None:
                raw["design"].pop(key, None)
            else:
                raw["design"][key] = value
        elif key in ("primary", "min_cell_size", "alpha", "primary_timepoint"):
            if value is None:
                raw["analysis"].pop(key, None)
            else:
                raw["analysis"][key] = value
        elif value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return load_config(raw)


def _effects(single_arm: bool = False) -> pd.DataFrame:
    truth = {  # (instrument, scale): {timepoint: (estimate, half-width, d)}
        ("mbi_hss", "emotional_exhaustion"): {
            "post": (-2.8, 2.9, -0.30),
            "followup": (-3.9, 2.7, -0.42),
        },
        ("mbi_hss", "depersonalization"): {
            "post": (-0.8, 1.6, -0.12),
            "followup": (-1.1, 1.7, -0.17),
        },
        ("mbi_hss", "personal_accomplishment"): {
            "post": (1.9, 1.7, 0.30),
            "followup": (2.5, 2.0, 0.38),
        },
        ("pss10", "total"): {"post": (-1.2, 1.9, -0.19), "followup": (-1.6, 2.0, -0.25)},
    }
    rows = []
    for (inst, scale), per in truth.items():
        for t, (est, hw, d) in per.items():
            rows.append(
                {
                    "instrument": inst,
                    "scale": scale,
                    "timepoint": t,
                    "estimate": est,
                    "se": hw / 2.2,
                    "df": 7.4,
                    "ci_low": est - hw,
                    "ci_high": est + hw,
                    "p_value": 0.012 if abs(est) > hw else 0.31,
                    "p_adjusted": 0.04 if abs(est) > hw else 0.41,
                    "d_ppc2": d,
                    "d_ci_low": d - 0.35,
                    "d_ci_high": d + 0.35,
                    "d_model": est / 8.0,  # the model's estimate and CI over a baseline SD of 8
                    "d_model_ci_low": (est - hw) / 8.0,
                    "d_model_ci_high": (est + hw) / 8.0,
                    "n_intervention": 48 if t == "post" else 44,
                    "n_control": np.nan if single_arm else (50 if t == "post" else 46),
                    "converged": True,
                    "role": "primary" if scale == "emotional_exhaustion" else "secondary",
                    "design": "single-arm" if single_arm else "two-arm",
                    "effect_type": "within-group change" if single_arm else "difference in change",
                    "df_method": "Satterthwaite",
                }
            )
    return pd.DataFrame(rows)


def _emmeans(arms: tuple[str, ...]) -> pd.DataFrame:
    base = {
        "emotional_exhaustion": 27.0,
        "depersonalization": 9.0,
        "personal_accomplishment": 34.0,
        "total": 19.0,
    }
    slope = {
        "emotional_exhaustion": -2.0,
        "depersonalization": -0.5,
        "personal_accomplishment": 1.2,
        "total": -0.8,
    }
    rows = []
    for inst, scale in SCALES:
        for g in arms:
            for k, t in enumerate(TPS):
                m = base[scale] + (slope[scale] * k if g == "balint" else 0.1 * k)
                rows.append(
                    {
                        "instrument": inst,
                        "scale": scale,
                        "group": g,
                        "timepoint": t,
                        "mean": m,
                        "se": 1.1,
                        "ci_low": m - 2.2,
                        "ci_high": m + 2.2,
                        "n": [60, 50, 45][k],
                    }
                )
    return pd.DataFrame(rows)


def _scores(arms: tuple[str, ...], n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for g in arms:
        for i in range(n):
            pid = hashlib.sha256(f"{g}{i}".encode()).hexdigest()[:16]
            for t in TPS:
                for inst, scale in SCALES:
                    rows.append(
                        {
                            "participant": pid,
                            "group": g,
                            "timepoint": t,
                            "instrument": inst,
                            "scale": scale,
                            "score": float(rng.integers(5, 40)),
                            "n_items": 9,
                            "n_answered": 9,
                            "category": "moderate",
                        }
                    )
    return pd.DataFrame(rows)


def _participants(arms: tuple[str, ...], n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for g in arms:
        for i in range(n):
            rows.append(
                {
                    "participant": hashlib.sha256(f"{g}{i}".encode()).hexdigest()[:16],
                    "group": g,
                    "cluster": f"grp{i % 4}" if g == "balint" else None,
                    "sessions": float(rng.integers(4, 13)) if g == "balint" else np.nan,
                    "age": float(rng.normal(41 if g == "balint" else 44, 8)),
                    "years_in_practice": float(rng.normal(12, 5)),
                    "profession": ["psychologist", "doctor", "nurse"][i % 3],
                }
            )
    return pd.DataFrame(rows)


def make_inputs(config: StudyConfig | None = None) -> ReportInputs:
    """Known inputs for the default config (or a single-arm one)."""
    config = config or make_config()
    arms = config.design.groups
    single = config.design.single_arm
    rel = pd.DataFrame(
        [
            {
                "instrument": i,
                "scale": s,
                "timepoint": t,
                "n": 58,
                "alpha": 0.88 if s != "total" else 0.64,
                "ci_low": 0.82,
                "ci_high": 0.92,
            }
            for i, s in SCALES
            for t in TPS
        ]
    )
    rejected = pd.DataFrame(
        [
            {
                "source": "data/raw/demo/pre_qualtrics.csv",
                "row": "7",
                "column": "MBI_3",
                "reason": "value out of range 0–6",
                "action": "item set missing",
                "value": "9",
            },
            {
                "source": "data/raw/demo/pre_qualtrics.csv",
                "row": "12",
                "column": EVIL,
                "reason": f"unknown column {EVIL}",
                "action": "row excluded",
                "value": EVIL,
            },
            {
                "source": "data/raw/demo/post_followup_redcap.csv",
                "row": "3",
                "column": "",
                "reason": "duplicate submission",
                "action": "row excluded",
                "value": "",
            },
        ]
    )
    observed = {
        "balint": {"pre": 58, "post": 50, "followup": 45},
        "control": {"pre": 59, "post": 52, "followup": 47},
    }
    flow = {
        "cohort": "demo",
        "strict": False,
        "files": [
            {
                "source": "data/raw/demo/pre_qualtrics.csv",
                "kind": "export",
                "format": "qualtrics",
                "variant": "current",
                "encoding": "utf-8",
                "delimiter": ",",
                "sha256": "ab" * 32,
                "timepoints": ["pre"],
                "rows_in": 126,
                "rows_accepted": 117,
                "rows_rejected": 9,
                "rejected_by_reason": {
                    "preview or test response": 6,
                    EVIL: 1,
                    "duplicate submission": 2,
                },
                "items_invalidated": 3,
                "dropped_columns": {
                    "identifier": ["IPAddress", "RecipientEmail"],
                    "free_text": ["Comments"],
                    "unused": [],
                },
            },
            {
                "source": "data/raw/demo/post_followup_redcap.csv",
                "kind": "export",
                "format": "redcap",
                "variant": "longitudinal",
                "encoding": "windows-1250",
                "delimiter": ";",
                "sha256": "cd" * 32,
                "timepoints": ["post", "followup"],
                "rows_in": 196,
                "rows_accepted": 194,
                "rows_rejected": 2,
                "rejected_by_reason": {"duplicate submission": 2},
                "items_invalidated": 2,
                "dropped_columns": {"identifier": [], "free_text": [], "unused": []},
            },
        ],
        "roster": {
            "source": "data/raw/demo/participants.csv",
            "sha256": "ef" * 32,
            "rows_in": 120,
            "participants": 120,
            "by_group": {"balint": 60, "control": 60},
            "dropped_columns": {"identifier": ["email"], "free_text": [], "unused": []},
        },
        "participants": {
            "enrolled": {g: 60 for g in arms},
            "observed": {g: observed[g] for g in arms},
        },
        "totals": {
            "rows_in": 322,
            "rows_accepted": 311,
            "rows_rejected": 11,
            "items_invalidated": 5,
        },
    }
    models = {
        "outcomes": [
            {
                "instrument": i,
                "scale": s,
                "role": "primary" if s == "emotional_exhaustion" else "secondary",
                "design": "single-arm" if single else "two-arm",
                "formula": "score ~ C(group, Treatment('control')) * C(timepoint) + age + "
                "years_in_practice",
                "method": "REML",
                "optimizer": "lbfgs",
                "converged": True,
                "boundary": s == "depersonalization",
                "warnings": [],
                "fallback": None,
                "n_obs": 330,
                "n_participants": 120,
                "n_clusters": 4,
                "variance_components": {"participant": 20.1, "cluster": 1.2, "residual": 15.3},
                "icc_cluster": 0.03,
                "df_method": "Satterthwaite",
            }
            for i, s in SCALES
        ],
        "software": {"python": "3.11.7", "statsmodels": "0.15.0", "pandas": "3.1.1"},
    }
    return ReportInputs(
        scores=_scores(arms),
        reliability=rel,
        effects=_effects(single),
        emmeans=_emmeans(arms),
        rejected=rejected,
        participants=_participants(arms),
        flow=flow,
        models=models,
        pseudonymisation={
            "method": "HMAC-SHA256",
            "key_env": "BALINT_ID_KEY",
            "demo_key_used": True,
        },
        provenance={
            "inputs": [{"path": "config/config.yaml", "sha256": "00" * 32}],
            "processed": [],
            "versions": {"python": "3.11.7", "balint-analysis": "0.1.0"},
        },
    )


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(make_inputs(), make_config())


def text_of(html: str) -> str:
    """Visible text with tags removed and whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --------------------------------------------------------------------------- sentences


def _row(est: float, lo: float, hi: float, t: str = "followup") -> dict[str, Any]:
    return {"timepoint": t, "estimate": est, "ci_low": lo, "ci_high": hi}


def test_effect_sentence_matches_spec_example() -> None:
    cfg = make_config()
    info = scale_info(cfg, "mbi_hss", "emotional_exhaustion")
    s = effect_sentence(_row(-3.9, -6.6, -1.2), info, design_info(cfg), "pre")
    assert (
        "emotional exhaustion fell by 3.9 points more in the Balint group than in the "
        "comparison group (Balint group minus comparison group: −3.9 points, 95% CI −6.6 to "
        "−1.2; scale 0–54" in s
    )


def test_certainty_ci_excludes_zero_non_randomised() -> None:
    cfg = make_config()
    info = scale_info(cfg, "mbi_hss", "emotional_exhaustion")
    s = certainty_sentence(_row(-3.9, -6.6, -1.2), info, design_info(cfg))
    assert "consistent with a real reduction" in s
    assert "cannot rule out that differences between who chose to join explain it" in s
    assert "prove" not in s.lower() and "opposite" not in s


def test_certainty_ci_includes_zero() -> None:
    cfg = make_config()
    info = scale_info(cfg, "mbi_hss", "emotional_exhaustion")
    row = _row(-1.5, -4.0, 1.0)
    s = certainty_sentence(row, info, design_info(cfg))
    assert s.startswith("The data cannot distinguish")
    assert "consistent with a real" not in s
    e = effect_sentence(row, info, design_info(cfg), "pre")
    assert "anywhere from a 4.0-point greater fall to a 1.0-point greater rise" in e


def test_certainty_higher_is_better() -> None:
    cfg = make_config(primary="mbi_hss.personal_accomplishment")
    info = scale_info(cfg, "mbi_hss", "personal_accomplishment")
    good = certainty_sentence(_row(2.5, 0.5, 4.5), info, design_info(cfg))
    assert "consistent with a real increase in personal accomplishment" in good
    assert "opposite" not in good
    e = effect_sentence(_row(2.5, 0.5, 4.5), info, design_info(cfg), "pre")
    assert "rose by 2.5 points more in the Balint group" in e and "higher = better" in e
    bad = certainty_sentence(_row(-2.5, -4.5, -0.5), info, design_info(cfg))
    assert "real reduction" in bad and "opposite of the hoped-for effect" in bad


def test_certainty_randomised_and_single_arm() -> None:
    rcfg = make_config(randomised=True)
    info = scale_info(rcfg, "mbi_hss", "emotional_exhaustion")
    s = certainty_sentence(_row(-3.9, -6.6, -1.2), info, design_info(rcfg))
    assert "randomised" in s and "cannot rule out" not in s
    scfg = make_config(control=None)
    d = design_info(scfg)
    s = certainty_sentence(_row(-3.9, -6.6, -1.2), info, d)
    assert "no comparison group" in s.lower()
    e = effect_sentence(_row(-3.9, -6.6, -1.2), info, d, "pre")
    assert "in the Balint group fell by 3.9 points (change −3.9 points, 95% CI −6.6 to −1.2;" in e


def test_effect_sentence_when_both_groups_rose() -> None:
    cfg = make_config()
    info = scale_info(cfg, "mbi_hss", "emotional_exhaustion")
    s = effect_sentence(_row(-4.0, -6.0, -2.0), info, design_info(cfg), "pre", balint_change=2.0)
    assert (
        "emotional exhaustion rose by 4.0 points less in the Balint group than in the "
        "comparison group (Balint group minus comparison group: −4.0 points, 95% CI −6.0 to "
        "−2.0;" in s
    )
    assert "fell" not in s


def test_single_arm_ci_wording_is_not_comparative() -> None:
    cfg = make_config(control=None)
    info = scale_info(cfg, "mbi_hss", "emotional_exhaustion")
    s = effect_sentence(_row(-2.8, -5.7, 0.1), info, design_info(cfg), "pre")
    assert "anywhere from a 5.7-point fall to a 0.1-point rise" in s
    assert "greater" not in s and "more" not in s


def test_headline_uses_estimated_means_for_the_verb() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    emm = inputs.emmeans
    ee = emm["scale"] == "emotional_exhaustion"
    emm.loc[ee & (emm["group"] == "balint"), "mean"] = [27.0, 28.0, 29.0]
    emm.loc[ee & (emm["group"] == "control"), "mean"] = [27.0, 30.8, 32.9]
    emm.loc[ee, "ci_low"] = emm.loc[ee, "mean"] - 2.2
    emm.loc[ee, "ci_high"] = emm.loc[ee, "mean"] + 2.2
    head = text_of(render_report(inputs, cfg).split('id="flow"')[0])
    assert "emotional exhaustion rose by 3.9 points less in the Balint group" in head
    assert "Balint group 27.0 at pre → 29.0 at follow-up" in head


def test_fmt_uses_minus_and_no_negative_zero() -> None:
    assert fmt(-3.94) == "\u22123.9"
    assert fmt(-0.01) == "0.0"
    assert fmt(float("nan")) == "—"


# --------------------------------------------------------------------------- whole report


def test_first_screen_content(html: str) -> None:
    head = text_of(html.split('id="flow"')[0])
    assert "Synthetic demo data" in head
    assert "Non-randomised controlled comparison" in head
    assert "fell by 3.9 points more in the Balint group than in the comparison group" in head
    assert "−3.9 points, 95% CI −6.6 to −1.2; scale 0–54" in head
    assert "From pre to post" in head  # each timepoint
    assert "consistent with a real reduction" in head
    assert "cannot rule out that differences between who chose to join explain it" in head
    assert "Few Balint groups (4)" in head
    assert "25% of the Balint group" in head  # attrition 45/60 at follow-up
    assert not re.search(r"\bprov(?:e|es|ed|en)\b|\bproof\b", text_of(html), re.I)


def test_sections_present(html: str) -> None:
    t = text_of(html)
    for heading in (
        "Participant flow",
        "Data quality",
        "Sample at baseline",
        "Instruments and reliability",
        "Results per outcome",
        "Methods",
        "Limitations",
        "Provenance",
    ):
        assert f">{heading}<" in html, heading
    assert "REML" in t and "Satterthwaite" in t and "missing at random" in t
    assert "partially nested" in t
    assert "the documented DEMO key was used — not for real data" in t
    assert "HMAC-SHA256" in t
    # before the model stage writes its side files, their sections are omitted (nothing to say)
    for heading in ("Sensitivity analyses", "Clinical meaning: reliable change", "Dose: change"):
        assert heading not in t, heading
    assert "Benjamini–Hochberg" in t
    assert "windows-1250" in t and "qualtrics / current" in t
    assert "Self-selection" in t


def test_accessibility(html: str) -> None:
    assert '<html lang="en">' in html
    assert html.count("<caption") >= 6
    assert 'scope="col"' in html and 'scope="row"' in html
    assert html.count('role="img"') == 4
    assert html.count("<title id=") == 4 and "<desc id=" in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert "#0072B2" in html and "#D55E00" in html  # Okabe–Ito


def test_malicious_values_are_escaped(html: str) -> None:
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_title_escaped() -> None:
    cfg = make_config(title=f"Evil {EVIL} title")
    out = render_report(make_inputs(cfg), cfg)
    assert EVIL not in out and "Evil &lt;script&gt;" in out


def test_no_external_resources(html: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html and "@font-face" not in html
    assert "<img" not in html


def test_small_cells_suppressed() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    emm = inputs.emmeans
    mask = (
        (emm["scale"] == "emotional_exhaustion")
        & (emm["group"] == "control")
        & (emm["timepoint"] == "followup")
    )
    emm.loc[mask, ["mean", "ci_low", "ci_high", "n"]] = [47.83, 45.61, 50.05, 3]
    part = inputs.participants
    part.loc[part["group"] == "control", "years_in_practice"] = np.nan
    part.loc[part.index[part["group"] == "control"][:3], "years_in_practice"] = 91.25
    out = render_report(inputs, cfg)
    visible = text_of(out)  # text incl. SVG <text>/<desc>, without markup and coordinates
    for hidden in ("47.8", "45.6", "50.0", "91.2", "91.3"):
        assert not re.search(rf"(?<![\d.]){re.escape(hidden)}(?!\d)", visible), hidden
    assert "n = &lt;5" in out
    assert "1 cell(s) with fewer than 5 people are not shown" in out


def test_categorical_secondary_suppression() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    part = inputs.participants
    idx = part.index[part["group"] == "balint"]
    part.loc[idx, "profession"] = "psychologist"
    part.loc[idx[:2], "profession"] = "nurse"  # 2 nurses: suppressed, and one more level
    out = text_of(render_report(inputs, cfg))
    row = out.split("Profession: nurse")[1].split("Profession")[0]
    assert row.split()[0] == "&lt;5"  # primary: 2 nurses
    # secondary: the Balint arm's psychologists (arm size − 2) read "hidden", never "<5"; the
    # zero doctors describe nobody and stay shown
    row = out.split("Profession: psychologist")[1].split("</table>")[0]
    assert row.split()[0] == "hidden"
    row = out.split("Profession: doctor")[1].split("Profession")[0]
    assert row.split()[0] == "0"


def test_categorical_count_without_value_cannot_be_worked_out() -> None:
    """2 of 30 Balint participants have no profession: the 2 is not shown, and neither can it
    be worked out as 30 − (20 + 8) or from a percentage of the 28 with a value."""
    cfg = make_config()
    inputs = make_inputs(cfg)
    part = inputs.participants
    idx = part.index[part["group"] == "balint"]
    part.loc[idx[:20], "profession"] = "psychologist"
    part.loc[idx[20:28], "profession"] = "doctor"
    part.loc[idx[28:], "profession"] = None
    out = text_of(render_report(inputs, cfg))
    doctor = out.split("Profession: doctor")[1].split()[0]
    psych = out.split("Profession: psychologist")[1].split()[:2]
    assert doctor == "hidden"
    assert psych == ["20", "(67%)"]  # of the 30 in the header, not of the 28 with a value


def test_small_arm_suppresses_effect() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.effects["n_control"] = 4
    out = text_of(render_report(inputs, cfg))
    assert "so the main result is not reported" in out
    assert "3.9 points" not in out


def test_single_arm_report() -> None:
    cfg = make_config(control=None)
    out = text_of(render_report(make_inputs(cfg), cfg))
    assert "Single-arm before/after study" in out
    assert "No comparison group" in out
    assert "in the Balint group fell by 3.9 points" in out
    assert "standardised change within the group" in out


def test_missing_primary_effect_and_nonconvergence() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    inputs.effects = inputs.effects[inputs.effects["scale"] != "emotional_exhaustion"]
    inputs.models["outcomes"][0]["converged"] = False
    out = text_of(render_report(inputs, cfg))
    assert "No effect estimate is available for the main outcome" in out
    assert "did not converge" in out


def test_real_key_no_demo_text() -> None:
    cfg = make_config(synthetic=None)
    inputs = make_inputs(cfg)
    inputs.pseudonymisation = {"method": "HMAC-SHA256", "key_env": "MY_KEY", "demo_key_used": False}
    out = text_of(render_report(inputs, cfg))
    assert "Synthetic demo data" not in out and "DEMO key" not in out
    assert "MY_KEY" in out


def test_demo_key_on_real_data_warns() -> None:
    cfg = make_config(synthetic=None)
    out = render_report(make_inputs(cfg), cfg)
    assert 'role="alert"' in out and "demo pseudonymisation key was used" in out


def test_deterministic_render() -> None:
    cfg = make_config()
    a = render_report(make_inputs(cfg), cfg)
    b = render_report(make_inputs(cfg), cfg)
    assert a == b


def test_no_per_person_data(html: str) -> None:
    pids = _participants(("balint", "control"))["participant"]
    assert not any(p in html for p in pids)


# --------------------------------------------------------------------------- files


def _write_processed(d: Path, inputs: ReportInputs) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name in ("scores", "reliability", "effects", "emmeans", "rejected", "participants"):
        getattr(inputs, name).to_csv(d / f"{name}.csv", index=False)
    for name in ("flow", "models", "pseudonymisation"):
        (d / f"{name}.json").write_text(json.dumps(getattr(inputs, name)), encoding="utf-8")


def test_write_report_roundtrip_is_byte_identical(tmp_path: Path) -> None:
    cfg = make_config()
    proc = tmp_path / "processed"
    _write_processed(proc, make_inputs(cfg))
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text("cohort: demo\n", encoding="utf-8")
    out = tmp_path / "reports" / "demo" / "report.html"
    p = write_report(proc, cfg, out, input_files=[cfg_file])
    assert p == out and out.exists()
    first = out.read_bytes()
    write_report(proc, cfg, out, input_files=[cfg_file])
    assert out.read_bytes() == first
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    html = first.decode("utf-8")
    assert hashlib.sha256(cfg_file.read_bytes()).hexdigest() in html
    assert EVIL not in html and "&lt;script&gt;" in html
    assert "fell by 3.9 points more" in html


def test_load_inputs_provenance(tmp_path: Path) -> None:
    proc = tmp_path / "p"
    _write_processed(proc, make_inputs())
    inputs = load_inputs(proc)
    assert {
        "python",
        "pandas",
        "numpy",
        "statsmodels",
        "pandera",
        "snakemake",
        "balint-analysis",
    } <= set(inputs.provenance["versions"])
    names = [f["path"] for f in inputs.provenance["processed"]]
    assert "effects.csv" in names and "flow.json" in names
    assert inputs.rejected["column"].tolist()[1] == EVIL
    assert inputs.effects["timepoint"].tolist()[0] == "post"


def test_load_inputs_missing_file(tmp_path: Path) -> None:
    proc = tmp_path / "p"
    _write_processed(proc, make_inputs())
    (proc / "effects.csv").unlink()
    with pytest.raises(InputError, match="effects.csv"):
        load_inputs(proc)
    (proc / "participants.csv").unlink()
    _write_processed(proc, make_inputs())
    (proc / "participants.csv").unlink()
    assert load_inputs(proc).participants.empty  # the roster is optional
    with pytest.raises(InputError, match="nope.csv"):
        load_inputs(proc, input_files=[tmp_path / "nope.csv"])


def test_render_does_not_mutate_inputs() -> None:
    cfg = make_config()
    inputs = make_inputs(cfg)
    before = copy.deepcopy(inputs)
    render_report(inputs, cfg)
    pd.testing.assert_frame_equal(inputs.effects, before.effects)
    pd.testing.assert_frame_equal(inputs.participants, before.participants)
    assert inputs.flow == before.flow
