"""Simulated programme with known site heterogeneity: does the two-stage meta-analysis recover it?

Usage: ``python benchmarks/programme_heterogeneity.py [--replicates 2000] [--sites 8]
[--tau 0.2] [--mu -0.3] [--seed 17]``. Prints one table (no files written).

Each replicate is a programme of ``--sites`` cohorts. Site ``i`` has a true effect
``theta_i ~ N(mu, tau^2)`` in SD units (the defaults: mu = -0.3 SD, the size reviews report for
burnout interventions, tau = 0.2 SD). Two levels of simulation:

* ``effects``: the site's estimate is ``y_i ~ N(theta_i, v_i)`` with the large-sample variance of
  a standardised mean difference for its arm sizes, ``v_i = (n_T + n_C)/(n_T n_C)`` (known v_i).
* ``participants``: each site's participants are drawn (arm sizes 10-75, baseline and follow-up
  scores in SD units, pre-post correlation 0.5, follow-up shifted by ``theta_i`` in the Balint
  arm); the site reports the difference in mean change and its SE estimated from its own data
  (Welch), so ``v_i`` is estimated, as in a real programme.

Per level it prints: the mean pooled estimate and its bias with the Monte Carlo (MC) SE; mean
tau^2 and tau (and their bias; REML truncates tau^2 at 0, so with 8 sites tau is biased low); the
coverage of the 95% Hartung-Knapp CI of mu; and the 95% prediction interval's coverage of a new
site's true effect (expected coverage: the probability mass of N(mu, tau^2) inside the
interval, averaged over replicates; and empirical, one new site drawn per replicate).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats

from balint_analysis.programme.meta_analysis import random_effects_meta


def site_sizes(rng: np.random.Generator, n_sites: int, arm_sizes=(10, 75)) -> np.ndarray:
    """Arm sizes (intervention, control) per site, uniform in ``arm_sizes`` (default 10-75 each,
    as Balint cohorts of 20-150)."""
    return rng.integers(arm_sizes[0], arm_sizes[1] + 1, size=(n_sites, 2))


def simulate_effects(rng: np.random.Generator, theta: np.ndarray, sizes: np.ndarray):
    """Site estimates with known sampling variances (SMD scale)."""
    vi = sizes.sum(axis=1) / sizes.prod(axis=1)
    return rng.normal(theta, np.sqrt(vi)), vi


def simulate_participants(rng: np.random.Generator, theta: np.ndarray, sizes: np.ndarray,
                          rho: float = 0.5):  # fmt: skip
    """Difference in mean change and its Welch variance, from each site's own participants."""
    yi, vi = np.empty(len(theta)), np.empty(len(theta))
    for i, (n_t, n_c) in enumerate(sizes):
        changes = []
        for n, shift in ((n_t, theta[i]), (n_c, 0.0)):
            pre = rng.standard_normal(n)
            post = rho * pre + math.sqrt(1 - rho**2) * rng.standard_normal(n) + shift
            changes.append(post - pre)
        yi[i] = changes[0].mean() - changes[1].mean()
        vi[i] = sum(c.var(ddof=1) / len(c) for c in changes)
    return yi, vi


def run(replicates: int, *, sites: int = 8, tau: float = 0.2, mu: float = -0.3, seed: int = 17,
        level: str = "effects", arm_sizes=(10, 75)) -> dict[str, float]:  # fmt: skip
    """Simulate ``replicates`` programmes and summarise recovery; figures with MC SEs."""
    rng = np.random.default_rng(seed)
    simulate = simulate_effects if level == "effects" else simulate_participants
    est, tau2, ci_cover, pi_expected, pi_empirical = [], [], [], [], []
    for _ in range(replicates):
        theta = rng.normal(mu, tau, size=sites)
        yi, vi = simulate(rng, theta, site_sizes(rng, sites, arm_sizes))
        fit = random_effects_meta(yi, vi)
        est.append(fit["estimate"])
        tau2.append(fit["tau2"])
        ci_cover.append(fit["ci_low"] <= mu <= fit["ci_high"])
        z_low, z_high = (fit["pi_low"] - mu) / tau, (fit["pi_high"] - mu) / tau
        pi_expected.append(stats.norm.cdf(z_high) - stats.norm.cdf(z_low))
        new_site = rng.normal(mu, tau)
        pi_empirical.append(fit["pi_low"] <= new_site <= fit["pi_high"])

    def mean_se(values) -> tuple[float, float]:
        a = np.asarray(values, dtype=float)
        return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))

    out: dict[str, float] = {}
    for name, values in (("estimate", est), ("tau2", tau2), ("tau", np.sqrt(tau2)),
                         ("ci_coverage", ci_cover), ("pi_coverage_expected", pi_expected),
                         ("pi_coverage_empirical", pi_empirical),
                         ("tau2_zero", np.asarray(tau2) == 0)):  # fmt: skip
        out[name], out[f"{name}_mc_se"] = mean_se(values)
    out["estimate_bias"] = out["estimate"] - mu
    out["tau2_bias"] = out["tau2"] - tau**2
    out["tau_bias"] = out["tau"] - tau
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--tau", type=float, default=0.2)
    parser.add_argument("--mu", type=float, default=-0.3)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    print(f"{args.sites} sites, mu = {args.mu} SD, tau = {args.tau} SD, "
          f"{args.replicates} replicates per level (seed {args.seed})")  # fmt: skip
    print(f"{'level':<13}{'figure':<24}{'value':>10}{'MC SE':>10}{'truth':>10}")
    for level in ("effects", "participants"):
        start = time.perf_counter()
        r = run(args.replicates, sites=args.sites, tau=args.tau, mu=args.mu, seed=args.seed,
                level=level)  # fmt: skip
        rows = [
            ("pooled estimate", r["estimate"], r["estimate_mc_se"], args.mu),
            ("  bias", r["estimate_bias"], r["estimate_mc_se"], 0.0),
            ("tau^2 (mean)", r["tau2"], r["tau2_mc_se"], args.tau**2),
            ("  bias", r["tau2_bias"], r["tau2_mc_se"], 0.0),
            ("tau (mean)", r["tau"], r["tau_mc_se"], args.tau),
            ("  bias", r["tau_bias"], r["tau_mc_se"], 0.0),
            ("share tau^2 = 0", r["tau2_zero"], r["tau2_zero_mc_se"], math.nan),
            ("95% CI coverage", r["ci_coverage"], r["ci_coverage_mc_se"], 0.95),
            ("95% PI cover (expected)", r["pi_coverage_expected"],
             r["pi_coverage_expected_mc_se"], 0.95),
            ("95% PI cover (new site)", r["pi_coverage_empirical"],
             r["pi_coverage_empirical_mc_se"], 0.95),
        ]  # fmt: skip
        for name, value, se, truth in rows:
            print(f"{level:<13}{name:<24}{value:>10.4f}{se:>10.4f}{truth:>10.4f}")
        print(f"{level:<13}{'seconds':<24}{time.perf_counter() - start:>10.1f}")


if __name__ == "__main__":
    main()
