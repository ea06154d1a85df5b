"""Seeded synthetic programmes for the one-stage (IPD) model reference numbers.

Run from the repository root, then ``Rscript tests/reference/ipd_reference.R``::

    .venv/bin/python tests/reference/ipd_make_datasets.py

Writes ``ipd_<case>_scores.csv`` (cohort, site, participant, group, timepoint, instrument,
scale, score) and ``ipd_<case>_participants.csv`` (cohort, participant, group, cluster):

* ``sites``: 5 cohorts (two of them at one site, so 4 sites), 10-14 participants per arm,
  3 Balint groups per intervention arm, a clear site × treatment-effect variance (SD 3 points);
* ``boundary``: 5 cohorts, one per site, no site × treatment-effect variance (its REML estimate
  is 0), two outcomes: the second a rescaled copy with another baseline spread per cohort (for
  the standardised pooling).

Pseudonyms repeat across cohorts on purpose: they are only unique within a cohort.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TIMEPOINTS = ("pre", "post", "followup")


def programme(seed: int, sites: list[str], site_effect_sd: float) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    scores, roster = [], []
    site_level = {s: rng.normal(0, 3) for s in set(sites)}
    site_effect = {s: rng.normal(0, site_effect_sd) for s in set(sites)}
    for c, site in enumerate(sites):
        cohort = f"cohort{c + 1}"
        spread = 1.0 + 0.3 * c  # cohorts differ in baseline spread (standardised pooling)
        for group in ("balint", "control"):
            n = int(rng.integers(10, 15))
            for i in range(n):
                pid = f"p{i:02d}{group[0]}"
                cluster = f"G{i % 3 + 1}" if group == "balint" else ""
                cluster_effect = {"G1": -1.5, "G2": 0.5, "G3": 1.0}.get(cluster, 0.0)
                person = rng.normal(0, 4)
                roster.append({"cohort": cohort, "participant": pid, "group": group,
                               "cluster": cluster})
                for t, tp in enumerate(TIMEPOINTS):
                    if t > 0 and rng.random() < 0.12:
                        continue  # dropout / missed visit
                    treated_post = group == "balint" and t > 0
                    mean = 25 + site_level[site] + person + 1.0 * t
                    if treated_post:
                        mean += -3.0 + site_effect[site] + cluster_effect
                    score = mean + rng.normal(0, 3)
                    for scale, factor in (("emotional_exhaustion", 1.0),
                                          ("rescaled", spread)):
                        scores.append({"cohort": cohort, "site": site, "participant": pid,
                                       "group": group, "timepoint": tp, "instrument": "mbi_hss",
                                       "scale": scale, "score": round(score * factor, 3)})
    return pd.DataFrame(scores), pd.DataFrame(roster)


def main() -> None:
    cases = {"sites": (11, ["A", "A", "B", "C", "D"], 3.0),
             "boundary": (23, ["A", "B", "C", "D", "E"], 0.0)}
    for case, (seed, sites, sd) in cases.items():
        scores, roster = programme(seed, sites, sd)
        if case == "sites":
            scores = scores[scores["scale"] == "emotional_exhaustion"]
        scores.to_csv(HERE / f"ipd_{case}_scores.csv", index=False)
        roster.to_csv(HERE / f"ipd_{case}_participants.csv", index=False)


if __name__ == "__main__":
    main()
