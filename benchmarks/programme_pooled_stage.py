"""The whole pooled stage of a programme at scale: 100 cohorts x 200 participants x 3 timepoints.

Usage: ``python benchmarks/programme_pooled_stage.py [--cohorts 100] [--participants 200]
[--seed 17]``. Prints one table; the cohorts' output files are written to a temporary folder
(deleted afterwards).

Each cohort's outputs (``effects.csv``, ``scores.csv``, ``participants.csv``, ``flow.json``,
``models.json``, ``pseudonymisation.json``) are simulated as ``benchmarks/programme_scale.py``
simulates scores (one outcome, MBI-HSS emotional exhaustion); the effect rows are the
difference in mean change with its Welch SE. Then :func:`balint_analysis.programme.stage.pool_job`
runs exactly as the workflow's ``programme_pool`` job does: read every cohort's files, build
``meta.csv``, the two-stage meta-analysis and leave-one-out table for both measures, the
one-stage model, ``cohorts.json``, and write them. Target (issue 17): <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from programme_scale import TIMEPOINTS, cohort_effects, programme  # noqa: E402

from balint_analysis.programme.config import Programme, ProgrammeCohort  # noqa: E402
from balint_analysis.programme.stage import POOLED_FILES, pool_job  # noqa: E402


def _effects(part: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in part.to_dict("records"):
        se = float(np.sqrt(r["vi"]))
        t = stats.t.ppf(0.975, 90)
        rows.append({"instrument": "mbi_hss", "scale": "emotional_exhaustion",
                     "timepoint": r["timepoint"], "estimate": r["yi"], "se": se, "df": 90.0,
                     "ci_low": r["yi"] - t * se, "ci_high": r["yi"] + t * se, "p_value": 0.5,
                     "d_ppc2": r["yi"] / 6, "d_ci_low": (r["yi"] - 1.96 * se) / 6,
                     "d_ci_high": (r["yi"] + 1.96 * se) / 6, "n_intervention": 90,
                     "n_control": 90, "role": "primary", "design": "two-arm",
                     "d_model": r["yi"] / 6, "d_model_ci_low": (r["yi"] - t * se) / 6,
                     "d_model_ci_high": (r["yi"] + t * se) / 6,
                     "primary_timepoint": r["timepoint"] == "post", "estimable": True,
                     "reason": ""})  # fmt: skip
    return pd.DataFrame(rows)


def write_cohorts(root: Path, n_cohorts: int, n_participants: int, seed: int) -> Programme:
    """Every cohort's output files under ``root/data/processed/<cohort>/``; the programme."""
    scores, roster = programme(n_cohorts, n_participants, seed)
    effects = cohort_effects(scores)
    roster = roster.assign(group=np.where(roster["cluster"] != "", "balint", "control"))
    cohorts = []
    for name, part in scores.groupby("cohort"):
        folder = root / "data" / "processed" / name
        folder.mkdir(parents=True)
        part.drop(columns=["cohort", "site"]).assign(n_items=9, n_answered=9,
                                                     category="").to_csv(
            folder / "scores.csv", index=False)  # fmt: skip
        people = roster[roster["cohort"] == name].drop(columns="cohort")
        people.to_csv(folder / "participants.csv", index=False)
        _effects(effects[effects["cohort"] == name]).to_csv(folder / "effects.csv", index=False)
        half = n_participants // 2
        flow = {"participants": {"enrolled": {"balint": half, "control": half}, "observed": {
            g: {t: int(((part["group"] == g) & (part["timepoint"] == t)).sum())
                for t in TIMEPOINTS} for g in ("balint", "control")}}}  # fmt: skip
        (folder / "flow.json").write_text(json.dumps(flow), encoding="utf-8")
        models = {"outcomes": [{"design": "two-arm"}], "software": {"python": "3"},
                  "settings": {"alpha": 0.05, "primary": "mbi_hss.emotional_exhaustion",
                               "primary_timepoint": "post"}}  # fmt: skip
        (folder / "models.json").write_text(json.dumps(models), encoding="utf-8")
        (folder / "pseudonymisation.json").write_text(json.dumps(
            {"key_fingerprint": "0" * 16, "demo_key_used": False}), encoding="utf-8")
        cohorts.append(ProgrammeCohort(
            config=f"config/{name}.yaml", cohort=name, site=name, year=2026, country=None,
            title=name, randomised=False, timepoints=tuple(TIMEPOINTS), intervention="balint",
            control="control", min_cell_size=5, raw_inputs=(),
            instrument_versions={"mbi_hss": "22 items"}))  # fmt: skip
    section = {"name": "scale", "title": "Scale", "cohorts": [], "alpha": 0.05,
               "pool_standardised": False, "min_cell_size": 5}  # fmt: skip
    return Programme(name="scale", title="Scale", cohorts=tuple(cohorts), outcomes=None,
                     primary_outcome=None, primary_timepoint=None, pool_standardised=False,
                     alpha=0.05, min_cell_size=5, raw={"programme": section})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prog = write_cohorts(root, args.cohorts, args.participants, args.seed)
        out_dir = root / "data" / "processed" / "programmes" / prog.name
        out = {k: str(out_dir / v) for k, v in POOLED_FILES.items()}
        out_dir.mkdir(parents=True)
        start, cpu = time.perf_counter(), time.process_time()
        pool_job(prog, out, root=root)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        meta = pd.read_csv(out["meta"])
        ipd = pd.read_csv(out["ipd"])
        pooled = pd.read_csv(out["meta_analysis"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    post = pooled[(pooled["timepoint"] == "post") & (pooled["measure"] == "difference_in_change")]
    print(f"pooled stage, {args.cohorts} cohorts x {args.participants} participants x "
          f"{len(TIMEPOINTS)} timepoints (one outcome)")
    print(f"  wall {wall:.1f} s, CPU {cpu:.1f} s (this process), peak RSS {peak:.0f} MB")
    print(f"  meta.csv rows {len(meta)}; two-stage post: {post['estimate'].iloc[0]:.3f} "
          f"(k {post['k'].iloc[0]:.0f}, tau {post['tau'].iloc[0]:.3f}); one-stage post: "
          f"{ipd.loc[ipd['timepoint'] == 'post', 'estimate'].iloc[0]:.3f}")


if __name__ == "__main__":
    main()
