"""Scale of the programme's pooled stage: 100 cohorts × 200 participants × 3 timepoints.

Usage: ``python benchmarks/programme_scale.py [--cohorts 100] [--participants 200]
[--repeat 3] [--seed 17] [--dense-sites 0]``. Prints one table (no files written).

Each cohort (its own site) has ``--participants`` participants, half per arm, the Balint arm in
groups of 10, three timepoints (pre, post, followup) with ~10% missed follow-up visits;
scores have a site level (SD 3 points), a site × treatment effect (SD 2 points around -3), a
Balint-group effect (SD 1), a participant level (SD 4) and residual noise (SD 3). Pseudonyms
repeat across cohorts, as real cohorts' do. Timed (median of ``--repeat`` runs, data generation
not timed):

* ``one_stage_model``: the one-stage pooled model of ``--outcomes`` outcomes (default 9, the
  demo battery's count; further outcomes are the same design with fresh scores), all cohorts
  (target: the pooled stage <= 60 s on 2 cores);
* ``meta_analyse`` + ``leave_one_out``: the two-stage meta-analysis of the cohorts' effects
  (yi, vi per cohort) for the first outcome at two timepoints (milliseconds per outcome);
* with ``--recovery R`` (instead of the timings): R programmes of 8 sites × 60 participants
  with a site × treatment-effect SD of 0.2 outcome SDs: mean estimate, mean tau and CI
  coverage with Monte Carlo SEs;
* with ``--dense-sites N``: the REML evaluation of the cohort model's dense engine
  (every site one dense block) on N cohorts, against the per-site engine, to show why the pooled
  model evaluates sites in random-effect space.

The pooled estimate, its SE and the estimated site × treatment-effect SD are printed beside the
truth as a sanity check (one programme: no Monte Carlo claim).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from balint_analysis.models.design import model_data
from balint_analysis.models.reml import reml_state, variance_structure
from balint_analysis.programme.ipd import (
    one_stage_model,
    pooled_observations,
    random_components,
)
from balint_analysis.programme.ipd_engine import site_reml_state, site_structure
from balint_analysis.programme.meta_analysis import leave_one_out, meta_analyse

TIMEPOINTS = ["pre", "post", "followup"]
EFFECT, SITE_EFFECT_SD = -3.0, 2.0


def programme(n_cohorts: int, n_participants: int, seed: int,
              site_effect_sd: float = SITE_EFFECT_SD) -> tuple[pd.DataFrame, ...]:  # fmt: skip
    """Scores and rosters of a simulated programme (numpy, vectorised)."""
    rng = np.random.default_rng(seed)
    per_arm = n_participants // 2
    cohort = np.repeat(np.arange(n_cohorts), 2 * per_arm)
    local = np.tile(np.arange(2 * per_arm), n_cohorts)
    balint = local < per_arm
    cluster = np.where(balint, local // 10, -1)
    site_level = rng.normal(0, 3, n_cohorts)[cohort]
    site_effect = rng.normal(0, site_effect_sd, n_cohorts)[cohort]
    group_effect = rng.normal(0, 1, (n_cohorts, per_arm // 10 + 1))[cohort, np.maximum(cluster, 0)]
    person = rng.normal(0, 4, cohort.size)
    rows = []
    for t, tp in enumerate(TIMEPOINTS):
        treated = balint & (t > 0)
        score = (25 + site_level + person + t
                 + treated * (EFFECT + site_effect + group_effect)
                 + rng.normal(0, 3, cohort.size))  # fmt: skip
        seen = (rng.random(cohort.size) > 0.1) | (t == 0)
        rows.append(pd.DataFrame({"cohort": cohort[seen], "local": local[seen],
                                  "group": np.where(balint[seen], "balint", "control"),
                                  "timepoint": tp, "score": np.round(score[seen], 1)}))
    scores = pd.concat(rows, ignore_index=True)
    scores["cohort"] = "c" + scores["cohort"].astype(str).str.zfill(3)
    scores["participant"] = "p" + scores.pop("local").astype(str).str.zfill(4)
    scores["site"] = scores["cohort"]
    scores["instrument"], scores["scale"] = "mbi_hss", "emotional_exhaustion"
    roster = pd.DataFrame({"cohort": "c" + pd.Series(cohort).astype(str).str.zfill(3),
                           "participant": "p" + pd.Series(local).astype(str).str.zfill(4),
                           "cluster": np.where(cluster >= 0, "G" + pd.Series(cluster).astype(str),
                                               "")})  # fmt: skip
    return scores, roster


def cohort_effects(scores: pd.DataFrame) -> pd.DataFrame:
    """Per cohort and post timepoint: difference in mean change (Welch SE), as yi and vi."""
    wide = scores.pivot_table(index=["cohort", "participant", "group"], columns="timepoint",
                              values="score").reset_index()  # fmt: skip
    out = []
    for t in TIMEPOINTS[1:]:
        change = wide.assign(change=wide[t] - wide["pre"]).dropna(subset=["change"])
        g = change.groupby(["cohort", "group"])["change"].agg(["mean", "var", "count"]).unstack()
        yi = g[("mean", "balint")] - g[("mean", "control")]
        vi = g[("var", "balint")] / g[("count", "balint")] + g[("var", "control")] / g[
            ("count", "control")]
        out.append(pd.DataFrame({"cohort": yi.index, "timepoint": t, "yi": yi.to_numpy(),
                                 "vi": vi.to_numpy()}))  # fmt: skip
    return pd.concat(out, ignore_index=True)


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def dense_versus_sites(scores, roster, n_sites: int) -> tuple[float, float]:
    """Seconds per REML evaluation (value, gradient, Hessian) of both engines on n_sites."""
    keep = sorted(scores["cohort"].unique())[:n_sites]
    obs = pooled_observations(scores[scores["cohort"].isin(keep)], roster)
    data = model_data(obs, levels=TIMEPOINTS, intervention="balint", control="control")
    comps = random_components(data.frame, data.clustered)
    X, sites = data.X[:, data.keep], data.frame["site"].to_numpy()
    phi = np.array([16.0, 9.0, 4.0, 1.0, 9.0])
    dense = variance_structure(X, data.y, sites, comps)
    by_site = site_structure(X, data.y, sites, comps)
    with threadpool_limits(1):  # as in the pooled fit
        return (timed(lambda: reml_state(dense, phi), 1)[0],
                timed(lambda: site_reml_state(by_site, phi), 3)[0])


def recovery(replicates: int, sites: int, participants: int, seed: int) -> None:
    """Known site heterogeneity (tau = 0.2 SD of the outcome, SD 5 points: 1 point): does the
    one-stage model recover the effect and tau? Prints means with Monte Carlo SEs."""
    arms = {"intervention": "balint", "control": "control"}
    tau = 0.2 * 5.0
    rows = []
    for r in range(replicates):
        scores, roster = programme(sites, participants, seed + r, site_effect_sd=tau)
        res = one_stage_model(scores, roster, timepoints=TIMEPOINTS, **arms).iloc[0]
        rows.append(res[["estimate", "ci_low", "ci_high", "tau_site_effect", "converged"]])
    res = pd.DataFrame(rows)
    ok = res[res["converged"].astype(bool)]
    mc = lambda v: v.std(ddof=1) / np.sqrt(len(v))  # noqa: E731
    cover = ((ok["ci_low"] <= EFFECT) & (ok["ci_high"] >= EFFECT)).astype(float)
    print(f"\nrecovery: {replicates} programmes of {sites} sites x {participants} participants, "
          f"effect {EFFECT}, tau {tau} (0.2 SD); converged {len(ok)}")
    print(f"  mean estimate {ok['estimate'].mean():.3f} (MC SE {mc(ok['estimate']):.3f})")
    print(f"  mean tau {ok['tau_site_effect'].mean():.3f} (MC SE {mc(ok['tau_site_effect']):.3f}),"
          f" tau on the boundary (0) in {(ok['tau_site_effect'] == 0).mean():.0%}")
    print(f"  95% CI coverage of the effect {cover.mean():.3f} (MC SE {mc(cover):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--dense-sites", type=int, default=0)
    parser.add_argument("--outcomes", type=int, default=9)
    parser.add_argument("--recovery", type=int, default=0, metavar="REPLICATES")
    args = parser.parse_args()
    if args.recovery:
        recovery(args.recovery, 8, 60, args.seed)
        return
    scores, roster = programme(args.cohorts, args.participants, args.seed)
    # Further outcomes: the same programme design with fresh scores (other seeds).
    scores = pd.concat([scores] + [
        programme(args.cohorts, args.participants, args.seed + k)[0].assign(scale=f"scale{k}")
        for k in range(1, args.outcomes)], ignore_index=True)  # fmt: skip
    print(f"programme: {args.cohorts} cohorts x {args.participants} participants x 3 timepoints "
          f"x {args.outcomes} outcomes = {len(scores)} observations; cores visible: "
          f"{os.cpu_count()}; load (1 min) {os.getloadavg()[0]:.1f}")
    arms = {"intervention": "balint", "control": "control"}
    seconds, ipd = timed(lambda: one_stage_model(scores, roster, timepoints=TIMEPOINTS, **arms),
                         args.repeat)  # fmt: skip
    first = scores[scores["scale"] == "emotional_exhaustion"]
    effects = cohort_effects(first).assign(instrument="mbi_hss", scale="emotional_exhaustion")
    by = ["instrument", "scale", "timepoint"]
    meta_seconds, meta = timed(lambda: meta_analyse(effects, by=by), args.repeat)
    loo_seconds, _ = timed(lambda: leave_one_out(effects, by=by), args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{'what':<42}{'seconds (median)':>18}{'target':>10}")
    print(f"{f'one-stage pooled model ({args.outcomes} outcomes)':<42}{seconds:>18.2f}")
    print(f"{'two-stage meta_analyse (2 timepoints)':<42}{meta_seconds:>18.3f}{'':>10}")
    print(f"{'two-stage leave_one_out (2 x 100 refits)':<42}{loo_seconds:>18.3f}{'':>10}")
    total = seconds + meta_seconds + loo_seconds
    print(f"{'pooled stage (sum)':<42}{total:>18.2f}{'<= 60':>10}  "
          f"{'PASS' if total <= 60 else 'FAIL'}")
    print(f"peak RSS of this process: {peak:.0f} MB")
    print("\none-stage rows (truth: effect -3.0, site x effect SD 2.0):")
    shown = ["timepoint", "estimate", "se", "df", "tau_site_effect", "n_participants",
             "converged", "reason"]  # fmt: skip
    print(ipd.loc[ipd["scale"] == "emotional_exhaustion", shown].to_string(index=False))
    print("\ntwo-stage rows:")
    print(meta[["timepoint", "estimate", "se", "tau", "k"]].to_string(index=False))
    if args.dense_sites:
        dense, sites = dense_versus_sites(scores, roster, args.dense_sites)
        print(f"\none REML evaluation on {args.dense_sites} sites: dense blocks {dense:.2f} s, "
              f"per-site random-effect space {sites:.3f} s")


if __name__ == "__main__":
    main()
