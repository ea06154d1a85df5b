"""The power analysis page: power curves (inline SVG) and the per-cell table, one HTML file."""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["mechanism_section", "mechanism_sentences", "power_curves_svg", "render_power_page"]

_VARYING = ["group_size", "icc", "attrition", "timepoints", "prepost_r", "attrition_mechanism"]
_LABELS = {"group_size": "Balint-group size", "icc": "ICC", "attrition": "attrition per wave",
           "timepoints": "timepoints", "prepost_r": "pre–post r",
           "attrition_mechanism": "drop-out"}  # fmt: skip
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def _panel_title(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{_LABELS[k]} {v if isinstance(v, str) else format(v, 'g')}"
                     for k, v in key.items())  # fmt: skip


def power_curves_svg(panel: pd.DataFrame, *, title: str, alpha: float, prefix: str) -> str:
    """Power against participants per arm, one line per effect size, with Monte-Carlo CIs."""
    import matplotlib
    from matplotlib.figure import Figure

    from balint_analysis.report.figures import inline_svg

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "balint-power",
                                "font.size": 11, "path.simplify": False}):  # fmt: skip
        fig = Figure(figsize=(6.4, 3.8))
        ax = fig.add_subplot()
        for i, (d, sub) in enumerate(panel.groupby("effect_d", sort=True)):
            sub = sub.sort_values("n_per_arm")
            err = [sub["power"] - sub["power_ci_low"], sub["power_ci_high"] - sub["power"]]
            ax.errorbar(sub["n_per_arm"], sub["power"], yerr=err, marker="os^Dv<>"[i % 7],
                        color=_PALETTE[i % 7], capsize=3, label=f"d = {d:g}")  # fmt: skip
        ax.axhline(0.8, color="#666666", linestyle=":", linewidth=1)
        ax.axhline(alpha, color="#666666", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("participants per arm")
        ax.set_ylabel("power")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="upper left", frameon=False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    desc = "; ".join(
        f"d={r.effect_d:g}, n={r.n_per_arm:g}: power {r.power:.2f}"
        for r in panel.sort_values(["effect_d", "n_per_arm"]).itertuples()
    )
    return inline_svg(buf.getvalue(), prefix, f"Power curves ({title})", desc)


def render_power_page(
    summary: pd.DataFrame, *, title: str, alpha: float, replicates: int, seed: int,
    sources: Sequence[str],
) -> str:  # fmt: skip
    """A self-contained HTML page: what was simulated, power curves, and the table."""
    esc = html.escape
    panels = []
    keys = [k for k in _VARYING if k in summary]
    grid = summary[~summary["mechanism_panel"]] if "mechanism_panel" in summary else summary
    for n, (values, panel) in enumerate(grid.groupby(keys, sort=True)):
        key = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        panels.append(power_curves_svg(panel, title=_panel_title(key), alpha=alpha,
                                       prefix=f"pw{n}"))  # fmt: skip
    columns = ["n_per_arm", "group_size", "effect_d", "icc", "attrition", "timepoints",
               "prepost_r", "attrition_mechanism", "true_effect", "replicates", "power",
               "power_ci_low", "power_ci_high", "bias", "bias_mc_se", "coverage", "median_df",
               "n_failed"]  # fmt: skip
    columns = [c for c in columns if c in summary]
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(row[c]))}</td>" for c in columns) + "</tr>"
        for _, row in summary.iterrows()
    )
    source_items = "".join(f"<li>{esc(s)}</li>" for s in sources)
    reading = "".join(f"<li>{esc(line)}</li>" for line in _reading(grid, keys))
    mechanisms = mechanism_section(summary, alpha=alpha)
    figures = "".join(f"<figure>{svg}</figure>" for svg in panels)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto;
       padding: 0 1rem; line-height: 1.45; color: #1a1a1a; }}
table {{ border-collapse: collapse; font-size: .85rem; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ccc; padding: .2rem .4rem; text-align: right; }}
figure {{ margin: 1rem 0; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>How likely is the next evaluation to detect a real Balint-group effect? Each cell of the grid
was simulated {replicates} times (seed {seed}) and analysed with the project's primary model
(REML linear mixed model with a partially nested Balint-group random effect and Satterthwaite
degrees of freedom). <strong>Power</strong> is the share of replicates with p &lt; {alpha:g} for
the group × time effect at the last timepoint; the bars are 95% Monte-Carlo intervals. The
dotted line marks the conventional 80% target, the dashed line alpha (a zero effect should sit
there). Effects are in baseline standard deviations (d).</p>
<h2>Reading the grid</h2>
<ul>{reading}</ul>
<h2>Power curves</h2>
{figures}
{mechanisms}
<h2>All cells</h2>
<table><caption>Power, bias and CI coverage per grid cell</caption>
<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Where the defaults come from</h2>
<ul>{source_items}</ul>
</body></html>
"""


def _reading(summary: pd.DataFrame, keys: list[str]) -> list[str]:
    """One sentence per panel and non-zero effect: the smallest n per arm reaching 80%."""
    lines = []
    for values, panel in summary.groupby(keys, sort=True):
        key = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        where = f" ({_panel_title(key)})" if summary.groupby(keys).ngroups > 1 else ""
        for d, sub in panel[panel["effect_d"] != 0].groupby("effect_d", sort=True):
            sub = sub.sort_values("n_per_arm")
            enough = sub[sub["power"] >= 0.8]
            if len(enough):
                n = int(enough["n_per_arm"].iloc[0])
                lines.append(f"d = {d:g}{where}: 80% power from {n} participants per arm "
                             f"(power {enough['power'].iloc[0]:.2f}).")  # fmt: skip
            else:
                n_max, p_max = int(sub["n_per_arm"].iloc[-1]), sub["power"].iloc[-1]
                lines.append(f"d = {d:g}{where}: 80% power is not reached in this grid; "
                             f"{n_max} per arm gives {p_max:.2f}.")  # fmt: skip
        nulls = panel[panel["effect_d"] == 0]
        if len(nulls):
            lines.append(f"No effect{where}: false-positive rate "
                         f"{nulls['power'].min():.2f}–{nulls['power'].max():.2f} "
                         f"(should be near alpha).")  # fmt: skip
    return lines


_DESIGN = ["n_per_arm", "group_size", "effect_d", "icc", "attrition", "timepoints", "prepost_r"]
_MECHANISM_ORDER = {"MCAR": 0, "MAR": 1, "MNAR": 2}


def _mechanism_designs(summary: pd.DataFrame) -> list[pd.DataFrame]:
    """Designs simulated under more than one drop-out mechanism, rows in MCAR, MAR, MNAR order."""
    if "attrition_mechanism" not in summary:
        return []
    designs = []
    for _, design in summary.groupby(_DESIGN, sort=True):
        if design["attrition_mechanism"].nunique() > 1:
            order = design["attrition_mechanism"].map(_MECHANISM_ORDER)
            designs.append(design.assign(_order=order).sort_values("_order").drop(columns="_order"))
    return designs


def mechanism_sentences(design: pd.DataFrame) -> list[str]:
    """Plain-words reading of one design under each drop-out mechanism."""
    first = design.iloc[0]
    lines = [f"{first['n_per_arm']:g} participants per arm, true effect d = "
             f"{first['effect_d']:g}, {first['attrition']:.0%} drop-out before each later wave "
             f"(the same share under every mechanism):"]  # fmt: skip
    for row in design.to_dict("records"):
        power = f"power {row['power']:.2f}"
        bias = f"{row['bias']:+.2f} SD (± {row['bias_mc_se']:.2f})"
        mechanism = row["attrition_mechanism"]
        if mechanism == "MCAR":
            lines.append(f"If leaving is unrelated to anything (MCAR): {power}, the estimate is "
                         f"off by {bias} on average.")  # fmt: skip
        elif mechanism == "MAR":
            lines.append(f"If people with worse baseline scores leave more often (MAR, odds × "
                         f"{row['mar_odds_ratio']:g} per SD worse): {power}, the estimate is off "
                         f"by {bias} — the model accounts for what was measured before they "
                         f"left.")  # fmt: skip
        else:
            direction = "overstates" if row["bias"] > 0 else "understates"
            lines.append(f"If those who leave the Balint groups would have scored "
                         f"{row['mnar_delta']:g} SD worse than similar participants who stayed "
                         f"(MNAR): {power} (the data look as under MCAR), but the estimate "
                         f"{direction} the true effect in everyone who started "
                         f"({row['true_effect']:.2f}) by {bias}, and its 95% intervals contain "
                         f"the true effect in {row['coverage']:.0%} of studies instead of "
                         f"95%.")  # fmt: skip
    return lines


def mechanism_section(summary: pd.DataFrame, *, alpha: float) -> str:
    """HTML section comparing the drop-out mechanisms: a sentence list and a table per design."""
    designs = _mechanism_designs(summary)
    if not designs:
        return ""
    esc = html.escape
    columns = ["attrition_mechanism", "true_effect", "power", "power_ci_low", "power_ci_high",
               "mean_estimate", "bias", "bias_mc_se", "coverage"]  # fmt: skip
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    parts = []
    for design in designs:
        items = "".join(f"<li>{esc(line)}</li>" for line in mechanism_sentences(design)[1:])
        body = "".join("<tr>" + "".join(f"<td>{esc(_cell(row[c]))}</td>" for c in columns)
                       + "</tr>" for _, row in design.iterrows())  # fmt: skip
        caption = (f"Power (p &lt; {alpha:g}), bias (mean estimate − true effect, ± "
                   f"Monte-Carlo SE) and 95% CI coverage by drop-out mechanism")  # fmt: skip
        parts.append(f"<p>{esc(mechanism_sentences(design)[0])}</p><ul>{items}</ul><table>"
                     f"<caption>{caption}</caption><thead><tr>{head}</tr></thead>"
                     f"<tbody>{body}</tbody></table>")  # fmt: skip
    return f"""<h2>Who drops out: how drop-out erodes power and accuracy</h2>
<p>Drop-out that depends only on what was measured before people left costs power but the
primary model still estimates the effect correctly. Drop-out related to how people would have
scored later cannot be seen in the data: the estimate is then too optimistic, by about
δ times the share of Balint participants missing at the end. The report's section on drop-out
asks how large that δ would have to be to change the conclusion.</p>
{"".join(parts)}"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.3g}"
    return str(value)
