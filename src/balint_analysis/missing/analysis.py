"""Multiple imputation and analysis of one outcome under every missing-data scenario.

(Skeleton: the public API of issue 16; the body follows.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = ["PER_IMPUTATION_COLUMNS", "SCENARIOS", "impute_and_analyse"]

SCENARIOS = ("mar", "delta_balint", "delta_both", "jump_to_reference")
PER_IMPUTATION_COLUMNS = ["instrument", "scale", "timepoint", "scenario", "delta", "imputation",
                          "estimate", "variance", "df_complete"]


def impute_and_analyse(sub: pd.DataFrame, *, instrument: str, scale: str,
                       participants: pd.DataFrame, timepoints: Sequence[str], intervention: str,
                       control: str | None, covariates: Sequence[str],
                       covariate_levels: Mapping, use_clusters: bool, imputations: Sequence[int],
                       seed: int, outcome_index: int, deltas: Sequence[float],
                       alpha: float) -> pd.DataFrame:
    """Fit the primary model of one outcome, draw the given imputations (each with
    ``SeedSequence([seed, outcome_index, m])``) and analyse every completed dataset under every
    scenario and δ (points). Returns :data:`PER_IMPUTATION_COLUMNS` plus ``reason`` and
    ``baseline_sd``."""
    raise NotImplementedError
