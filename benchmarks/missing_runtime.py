"""Runtime of multiple imputation (issue 16) and the cost of holding variances over the δ grid.

Usage: ``python benchmarks/missing_runtime.py [--imputations 50] [--w2-participants 20000]
[--w2-only]``. One BLAS thread, as in the workflow's jobs (Snakemake sets
``OPENBLAS_NUM_THREADS`` to a job's threads, 1 here): an idle second BLAS thread spinning on a
shared core would otherwise roughly double the CPU seconds measured.

1. Demo cohort (``data/processed/demo/scores.csv`` + ``participants.csv``): per outcome, the
   time of :func:`impute_and_analyse` with M imputations, the 21-point δ grid (−1 to 1 baseline
   SD) in both δ scenarios and jump to reference, in-process on one core; then the total.
2. δ with variance components held (what the analysis does) against a REML refit at every δ,
   for the first ``--check`` imputations of every demo outcome: the maximum |difference| of
   the estimate and of the SE over the grid, in points and relative to the SE.
2b. The refitted δ scenarios (``missing_data.refit_outcomes``, missing/refit.py: refits at five δ
   nodes, interpolated) against the same direct refits at every grid δ off the nodes, the
   linear interpolation between grid points (the tipping root's) against the node polynomial
   at the grid's midpoints, the extra CPU per imputation, and each outcome's tipping points
   (SD units) held and refitted with M imputations.
3. A W2-sized synthetic cohort (``--w2-participants``, one outcome, Balint groups of 8): the
   primary fit (paid once per outcome in every chunk job) and the mean time of
   ``--w2-imputations`` imputations, extrapolated to M in chunks of ``--chunk-size`` and to
   ``--outcomes`` outcomes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TIMEPOINTS = ["pre", "post", "followup"]
COVARIATES = ["age", "years_in_practice"]
GRID_SD = np.round(np.linspace(-1.0, 1.0, 21), 10)


def demo_outcomes() -> tuple[pd.DataFrame, pd.DataFrame]:
    from balint_analysis.models.inputs import prepare_inputs

    scores = pd.read_csv(REPO / "data/processed/demo/scores.csv")
    roster = pd.read_csv(REPO / "data/processed/demo/participants.csv")
    frame, _ = prepare_inputs(scores, roster, TIMEPOINTS, "balint", "control", COVARIATES, {})
    return frame, roster


def run_outcome(sub, roster, m, *, covariates=COVARIATES, index=0, refit=False):
    from balint_analysis.missing.analysis import impute_and_analyse
    from balint_analysis.missing.stage import baseline_sd

    sd = baseline_sd(sub, timepoints=TIMEPOINTS, groups=["balint", "control"],
                     covariates=covariates)
    return impute_and_analyse(
        sub, instrument=sub["instrument"].iloc[0], scale=sub["scale"].iloc[0],
        participants=roster, timepoints=TIMEPOINTS, intervention="balint", control="control",
        covariates=covariates, covariate_levels={}, use_clusters=True, imputations=range(m),
        seed=20261125, outcome_index=index, deltas=list(GRID_SD * sd), alpha=0.05,
        refit=refit)


def primary_and_contrasts(sub):
    """The demo outcome's primary fit, completed design, baseline SD and reason (as the stage
    computes them), its post-baseline timepoints, their treatment contrasts and the rows each
    δ scenario shifts."""
    from balint_analysis.missing import analysis as mi

    fit, design, sd, reason = mi._primary(
        sub, timepoints=TIMEPOINTS, intervention="balint", control="control",
        covariates=COVARIATES, covariate_levels={}, use_clusters=True)
    if reason:
        return fit, design, sd, reason, [], None, {}
    post = list(design.data.levels[1:])
    L = np.array([mi.treatment_contrast(design.data, t)[design.data.keep] for t in post])
    shift = {"delta_balint": design.missing & design.balint, "delta_both": design.missing}
    return fit, design, sd, reason, post, L, shift


def held_versus_refit(sub, n_check: int) -> tuple[float, ...]:
    """Max |estimate difference| (points), |SE difference| (points), |estimate difference| /
    SE, relative SE difference (refit / held - 1: max and min) over the grid, and max relative
    SE difference within |δ| <= 0.5 SD."""
    from balint_analysis.missing import analysis as mi
    from balint_analysis.missing.completed import analyse_completed

    fit, design, sd, reason, post, L, shift = primary_and_contrasts(sub)
    if reason:
        return (np.nan,) * 6
    worst = [0.0, 0.0, 0.0, -np.inf, np.inf, 0.0]
    for m in range(n_check):
        rng = np.random.default_rng(np.random.SeedSequence([1, 0, m]))
        draw = mi.draw_parameters(fit, design, rng)
        y = mi.completed_scores(design, draw)
        start = np.asarray(fit.state.phi, dtype=float)
        est0, var0, _, weights, phi0 = analyse_completed(fit, design, y, L, shift, start)
        for name, rows in shift.items():
            for d_sd, d in zip(GRID_SD, GRID_SD * sd, strict=True):
                est, var, _, _, _ = analyse_completed(fit, design, y + d * rows, L, {},
                                                         phi0)
                held = est0 + d * weights[name]
                de = np.abs(est - held)
                ds = np.abs(np.sqrt(var) - np.sqrt(var0))
                rel = np.sqrt(var) / np.sqrt(var0) - 1.0
                near = np.abs(rel).max() if abs(d_sd) <= 0.5 + 1e-9 else 0.0
                worst = [max(worst[0], de.max()), max(worst[1], ds.max()),
                         max(worst[2], (de / np.sqrt(var)).max()), max(worst[3], rel.max()),
                         min(worst[4], rel.min()), max(worst[5], near)]
    return tuple(worst)


def interpolated_versus_refit(sub, n_check: int) -> tuple[float, ...]:
    """Max relative SE error and max |estimate error| / SE of the refitted δ rows against a
    REML refit at every grid δ off the nodes (``n_check`` imputations, both scenarios), and
    max relative SE difference between the linear interpolation of neighbouring grid rows and
    the node polynomial at the grid's midpoints."""
    from balint_analysis.missing import analysis as mi
    from balint_analysis.missing.completed import analyse_completed
    from balint_analysis.missing.refit import delta_nodes, interpolate_polynomial

    fit, design, sd, reason, post, L, shift = primary_and_contrasts(sub)
    if reason:
        return (np.nan,) * 3
    deltas = [float(d) for d in GRID_SD * sd]
    nodes = delta_nodes(deltas)
    worst = [0.0, 0.0, 0.0]
    for m in range(n_check):
        got = mi._one_imputation(fit, design, post, deltas, 1, 0, m, refit=True)
        rng = np.random.default_rng(np.random.SeedSequence([1, 0, m]))
        y = mi.completed_scores(design, mi.draw_parameters(fit, design, rng))
        start = np.asarray(fit.state.phi, dtype=float)
        *_, phi0 = analyse_completed(fit, design, y, L, {}, start)
        for name, rows in shift.items():
            at_nodes = np.array([analyse_completed(fit, design, y + d * rows, L, {}, phi0)[1]
                                 for d in nodes])
            for d in deltas:
                if np.isclose(nodes, d).any():
                    continue
                est, var, _, _, _ = analyse_completed(fit, design, y + d * rows, L, {}, phi0)
                row = np.array([got[(name, d, t)][:2] for t in post])
                worst[0] = max(worst[0], np.abs(np.sqrt(row[:, 1] / var) - 1).max())
                worst[1] = max(worst[1], (np.abs(row[:, 0] - est) / np.sqrt(var)).max())
            mid = (np.array(deltas[:-1]) + np.array(deltas[1:])) / 2
            poly = interpolate_polynomial(nodes, at_nodes, mid)
            grid_var = interpolate_polynomial(nodes, at_nodes, deltas)
            linear = (grid_var[:-1] + grid_var[1:]) / 2
            worst[2] = max(worst[2], np.abs(np.sqrt(linear / poly) - 1).max())
    return tuple(worst)


def refit_tipping(frame, roster, m: int) -> pd.DataFrame:
    """Every demo outcome's tipping points (SD units) with variances held and refitted, and
    the CPU seconds of each (M = ``m``)."""
    from balint_analysis.missing.stage import pool_chunks
    from balint_analysis.missing.tipping import variance_components

    rows = []
    for k, ((inst, scale), sub) in enumerate(frame.groupby(["instrument", "scale"])):
        tips, cpu = [], []
        for refit in (False, True):
            start = time.process_time()
            per = run_outcome(sub, roster, m, index=k, refit=refit)
            cpu.append(time.process_time() - start)
            per["variance_components"] = variance_components(per["scenario"], held=not refit)
            sd = float(per["baseline_sd"].iloc[0])
            _, tip = pool_chunks(per.drop(columns="baseline_sd"), {(inst, scale): sd}, 0.05)
            tips.append(tip)
        for (_, held), (_, refitted) in zip(tips[0].iterrows(), tips[1].iterrows(),
                                            strict=True):
            rows.append((f"{inst}.{scale}", held["timepoint"], held["scenario"],
                         held["tipping_delta_sd"], refitted["tipping_delta_sd"],
                         cpu[1] - cpu[0]))
    return pd.DataFrame(rows, columns=["outcome", "timepoint", "scenario", "held_sd",
                                       "refitted_sd", "extra_cpu_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imputations", type=int, default=50)
    parser.add_argument("--check", type=int, default=5)
    parser.add_argument("--w2-participants", type=int, default=20_000)
    parser.add_argument("--w2-imputations", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=25)
    parser.add_argument("--outcomes", type=int, default=10, help="outcomes of the W2 cohort")
    parser.add_argument("--w2-only", action="store_true", help="only the W2-sized cohort")
    args = parser.parse_args()
    if not args.w2_only:
        demo(args)
    w2_sized(args)


def demo(args: argparse.Namespace) -> None:
    frame, roster = demo_outcomes()
    total = 0.0
    print(f"Demo cohort, M = {args.imputations}, 21 δ x 2 scenarios + MAR + J2R, one core")
    for k, ((inst, scale), sub) in enumerate(frame.groupby(["instrument", "scale"])):
        start = time.process_time()
        run_outcome(sub, roster, args.imputations, index=k)
        cpu = time.process_time() - start
        total += cpu
        print(f"  {inst}.{scale:<26} {cpu:6.2f} s CPU")
    print(f"  all {frame.groupby(['instrument', 'scale']).ngroups} outcomes: {total:.2f} s CPU")

    print(f"δ with variances held vs REML refit per δ ({args.check} imputations per outcome)")
    table = pd.DataFrame(
        [(f"{i}.{s}", *held_versus_refit(sub, args.check))
         for (i, s), sub in frame.groupby(["instrument", "scale"])],
        columns=["outcome", "max_abs_d_est", "max_abs_d_se", "max_d_est_over_se",
                 "max_rel_se_refit_vs_held", "min_rel_se_refit_vs_held",
                 "max_abs_rel_se_within_0.5sd"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    print(f"Refitted δ rows (5 nodes, interpolated) vs REML refit per δ ({args.check} "
          "imputations per outcome)")
    table = pd.DataFrame(
        [(f"{i}.{s}", *interpolated_versus_refit(sub, args.check))
         for (i, s), sub in frame.groupby(["instrument", "scale"])],
        columns=["outcome", "max_rel_se_error", "max_est_error_over_se",
                 "max_rel_se_linear_between_grid"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
    print(f"Tipping points held vs refitted (M = {args.imputations}; SD units)")
    print(refit_tipping(frame, roster, args.imputations).to_string(
        index=False, float_format=lambda v: f"{v:.3f}"))


def w2_sized(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from missing_coverage import simulate_cohort

    from balint_analysis.missing import analysis as mi
    from balint_analysis.missing.completed import completed_structure

    n = args.w2_participants
    sub, _ = simulate_cohort(n // 2, np.random.default_rng(2))
    start = time.process_time()
    fit, design, _, _ = mi._primary(sub, timepoints=TIMEPOINTS, intervention="balint",
                                    control="control", covariates=["age"], covariate_levels={},
                                    use_clusters=True)
    completed_structure(design)
    primary = time.process_time() - start
    grid = list(GRID_SD * 8.0)
    per_imp = {}
    for refit in (False, True):  # held at MAR (every outcome but the primary) / refitted
        start = time.process_time()
        for m in range(args.w2_imputations):
            mi._one_imputation(fit, design, TIMEPOINTS[1:], grid, 1, 0, m, refit=refit)
        per_imp[refit] = (time.process_time() - start) / args.w2_imputations
    chunks = -(-args.imputations // args.chunk_size)
    held, refitted = (chunks * primary + args.imputations * per_imp[r] for r in (False, True))
    total = (args.outcomes - 1) * held + refitted
    print(f"W2-sized cohort ({n:,} participants, Balint groups of 8, one outcome), one core: "
          f"primary fit + completed design {primary:.2f} s CPU (once per outcome and chunk "
          f"job); per imputation (mean of {args.w2_imputations}) {per_imp[False]:.3f} s with "
          f"the variances held at MAR over δ, {per_imp[True]:.3f} s refitted at the δ nodes "
          f"(the primary outcome); M = {args.imputations} in {chunks} chunk job(s): "
          f"{held:.1f} s CPU per held outcome, {refitted:.1f} s for the primary outcome, "
          f"{total:.0f} s CPU for {args.outcomes} outcomes (one primary), "
          f"~{total / min(chunks, 2):.0f} s on 2 cores")

if __name__ == "__main__":
    main()
