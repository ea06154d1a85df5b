"""Generate the small seeded datasets that ``lme4_reference.R`` fits (run once; outputs committed).

Usage (from the repository root)::

    .venv/bin/python tests/reference/make_datasets.py
    Rscript tests/reference/lme4_reference.R

Each dataset is written as ``<name>_scores.csv`` (the ``scores.csv`` columns; scores that are
"not computable" appear as empty cells, drop-outs are missing rows) and ``<name>_participants.csv``
(``participant, group, cluster, sessions, age, years_in_practice``; ``categorical`` adds
``gender, night_shifts, arm_code``). The data-generating model is
the partially nested LMM of docs/contract.md: person intercept, a Balint-group effect on the
intervention arm's post-baseline observations, residual noise, and a group × time effect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TIMEPOINTS = ("pre", "post", "followup")

# outcome -> (baseline mean, person SD, residual SD, change control, change intervention)
OUTCOMES = {
    ("mbi_hss", "emotional_exhaustion"): (28.0, 7.0, 5.0, (-1.0, -0.5), (-4.0, -3.5)),
    ("mbi_hss", "depersonalization"): (9.0, 3.5, 2.5, (0.0, 0.3), (-1.5, -1.0)),
    ("pss10", "total"): (18.0, 4.0, 3.5, (-0.5, 0.0), (-2.0, -2.5)),
}


def simulate(
    seed: int,
    n_intervention: int,
    n_control: int,
    *,
    n_clusters: int = 0,
    cluster_sd: float = 0.0,
    covariates: bool = False,
    categorical: bool = False,
    outcomes: tuple[tuple[str, str], ...] = (("mbi_hss", "emotional_exhaustion"),),
    dropout: tuple[float, float, float] = (0.05, 0.15, 0.25),
    intervention: str = "balint",
    control: str = "control",
    timepoints: tuple[str, ...] = TIMEPOINTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one cohort; returns (scores, participants)."""
    rng = np.random.default_rng(seed)
    n = n_intervention + n_control
    ids = [f"P{i + 1:03d}" for i in range(n)]
    group = np.array([intervention] * n_intervention + [control] * n_control, dtype=object)
    treated = group == intervention
    cluster = np.full(n, "", dtype=object)
    if n_clusters:
        cluster[:n_intervention] = [f"G{(i % n_clusters) + 1}" for i in range(n_intervention)]
    age = np.round(rng.uniform(28, 62, n), 0)
    years = np.round(np.clip(age - 26 - rng.uniform(0, 8, n), 1, None), 0)
    sessions = np.where(treated, rng.integers(4, 13, n), 0)
    participants = pd.DataFrame(
        {
            "participant": ids,
            "group": group,
            "cluster": cluster,
            "sessions": sessions,
            "age": age,
            "years_in_practice": years,
        }
    )
    if covariates:
        participants.loc[n - 1, "age"] = np.nan  # one unknown covariate: rows dropped
    if categorical:
        # Drawn from their own generator, so the other datasets' draws stay as they were.
        extra = np.random.default_rng(seed + 1)
        gender = extra.choice(["female", "male", "diverse"], size=n, p=[0.55, 0.35, 0.10])
        night = (extra.uniform(size=n) < 0.4).astype(int)
        participants["gender"] = gender
        participants["night_shifts"] = night
        # Aliased with the group: the arm coded 0/1 once more.
        participants["arm_code"] = treated.astype(int)
        participants.loc[n - 2, "gender"] = np.nan  # one unknown category: rows dropped
        shift = {"female": 0.0, "male": -2.5, "diverse": 1.5}
    observed = rng.uniform(size=(n, len(timepoints))) >= np.asarray(dropout)
    not_computable = rng.uniform(size=(n, len(timepoints))) < 0.03
    rows = []
    for instrument, scale in outcomes:
        mu, sd_person, sd_resid, d_ctl, d_int = OUTCOMES[(instrument, scale)]
        person = rng.normal(0.0, sd_person, n)
        u = rng.normal(0.0, cluster_sd, max(n_clusters, 1))
        for i in range(n):
            for t, tp in enumerate(timepoints):
                if not observed[i, t]:
                    continue
                value = mu + (2.0 if treated[i] else 0.0) + person[i]
                if t > 0:
                    value += (d_int if treated[i] else d_ctl)[t - 1]
                    if treated[i] and n_clusters:
                        value += u[int(cluster[i][1:]) - 1]
                if covariates:
                    value += 0.12 * (age[i] - 45) - 0.2 * (years[i] - 15)
                if categorical:
                    value += shift[gender[i]] + 1.8 * night[i] + 0.1 * (age[i] - 45)
                value += rng.normal(0.0, sd_resid)
                score = np.nan if not_computable[i, t] else round(float(value), 2)
                rows.append(
                    {
                        "participant": ids[i],
                        "group": group[i],
                        "timepoint": tp,
                        "instrument": instrument,
                        "scale": scale,
                        "score": score,
                        "n_items": 9,
                        "n_answered": 0 if np.isnan(score) else 9,
                        "category": "",
                    }
                )
    return pd.DataFrame(rows), participants


DATASETS = {
    # 18 vs 18, three timepoints with drop-out, three outcomes, no clusters.
    "twoarm": dict(
        seed=101,
        n_intervention=18,
        n_control=18,
        outcomes=tuple(OUTCOMES),
    ),
    # 24 vs 20, four Balint groups with a real group effect: the partially nested model.
    "nested": dict(
        seed=202,
        n_intervention=24,
        n_control=20,
        n_clusters=4,
        cluster_sd=3.0,
        outcomes=(("mbi_hss", "emotional_exhaustion"), ("pss10", "total")),
    ),
    # 20 vs 20 with covariates (age, years in practice; one age unknown) and three groups.
    "covariates": dict(
        seed=303,
        n_intervention=20,
        n_control=20,
        n_clusters=3,
        cluster_sd=2.0,
        covariates=True,
    ),
    # No Balint-group variance and an estimate on the boundary (lme4: singular fit).
    "boundary": dict(seed=404, n_intervention=16, n_control=16, n_clusters=4, cluster_sd=0.0),
    # Single arm (no comparison group), 20 participants.
    "singlearm": dict(seed=505, n_intervention=20, n_control=0),
    # Two timepoints (pre, post), 18 vs 18, three Balint groups, covariates (one age unknown),
    # missing follow-ups: the smallest design the pipeline accepts.
    "twotime": dict(
        seed=606,
        n_intervention=18,
        n_control=18,
        n_clusters=3,
        cluster_sd=3.0,
        covariates=True,
        outcomes=(("mbi_hss", "emotional_exhaustion"), ("pss10", "total")),
        dropout=(0.05, 0.2),
        timepoints=("pre", "post"),
    ),
    # 22 vs 20, three Balint groups, a 3-level categorical covariate (gender; one unknown), a
    # binary 0/1 covariate (night shifts), age, and arm_code, a covariate aliased with group.
    "categorical": dict(
        seed=707,
        n_intervention=22,
        n_control=20,
        n_clusters=3,
        cluster_sd=2.0,
        categorical=True,
        outcomes=(("mbi_hss", "emotional_exhaustion"), ("pss10", "total")),
    ),
}


def edge_datasets(datasets: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> dict:
    """Degenerate and rank-deficient designs derived from the ``nested`` dataset (its
    emotional-exhaustion outcome only): the cases of issue 15 where lme4 and a naive fit part.

    * ``nofollowctl``: no comparison-group participant observed at follow-up (lme4 drops the
      follow-up interaction column; ``timepointfollowup`` is then the intervention arm's change).
    * ``onegroup``: every Balint participant in one Balint group (``G1``).
    * ``constant``: everyone scores 20 at every timepoint.
    """
    scores, participants = datasets["nested"]
    scores = scores[scores["scale"] == "emotional_exhaustion"].reset_index(drop=True)
    controls = set(participants.loc[participants["group"] == "control", "participant"])
    no_follow = ~((scores["timepoint"] == "followup") & scores["participant"].isin(controls))
    one_group = participants.assign(
        cluster=participants["cluster"].where(participants["group"] != "balint", "G1"))
    return {
        "nofollowctl": (scores[no_follow], participants),
        "onegroup": (scores, one_group),
        "constant": (scores.assign(score=scores["score"].where(scores["score"].isna(), 20.0)),
                     participants),
    }


def main() -> None:
    made = {}
    for name, kwargs in DATASETS.items():
        made[name] = simulate(**kwargs)
    for name, (scores, participants) in (made | edge_datasets(made)).items():
        scores.to_csv(HERE / f"{name}_scores.csv", index=False)
        participants.to_csv(HERE / f"{name}_participants.csv", index=False)


if __name__ == "__main__":
    main()
