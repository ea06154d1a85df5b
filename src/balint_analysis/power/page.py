"""The power analysis page: power curves (inline SVG) and the per-cell table, one HTML file."""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["power_curves_svg", "render_power_page"]

_VARYING = ["group_size", "icc", "attrition", "timepoints", "prepost_r"]
_LABELS = {"group_size": "Balint-group size", "icc": "ICC", "attrition": "attrition per wave",
           "timepoints": "timepoints", "prepost_r": "pre–post r"}  # fmt: skip
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def _panel_title(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{_LABELS[k]} {v:g}" for k, v in key.items())


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
    for n, (values, panel) in enumerate(summary.groupby(keys, sort=True)):
        key = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        panels.append(power_curves_svg(panel, title=_panel_title(key), alpha=alpha,
                                       prefix=f"pw{n}"))  # fmt: skip
    columns = ["n_per_arm", "group_size", "effect_d", "icc", "attrition", "timepoints",
               "prepost_r", "replicates", "power", "power_ci_low", "power_ci_high", "bias",
               "coverage", "median_df", "n_failed"]  # fmt: skip
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(row[c]))}</td>" for c in columns) + "</tr>"
        for _, row in summary.iterrows()
    )
    source_items = "".join(f"<li>{esc(s)}</li>" for s in sources)
    reading = "".join(f"<li>{esc(line)}</li>" for line in _reading(summary, keys))
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


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.3g}"
    return str(value)
