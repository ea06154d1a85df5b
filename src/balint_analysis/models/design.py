"""Design of the primary model for one outcome: fixed-effects terms and random-effects coding.

:func:`model_data` turns one outcome's observations into the fixed-effects design of the
primary model (docs/contract.md, "Statistics": group × timepoint with control and baseline as
references, or timepoint only for a single-arm design, plus covariates) and the random-effects
coding: a random intercept per participant and, when at least two Balint groups are known, the
partially nested group effect on the intervention arm's post-baseline observations
(``treated_post``; everyone else is a singleton cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RANK_TOL", "ModelData", "dummy_code", "independent_columns", "model_data"]


@dataclass(frozen=True)
class ModelData:
    """Everything needed to fit one outcome's model (see :func:`model_data`)."""

    frame: pd.DataFrame
    X: np.ndarray
    terms: tuple[str, ...]
    keep: np.ndarray
    levels: tuple[str, ...]
    intervention: str
    control: str | None
    covariates: tuple[str, ...]
    clustered: bool
    formula: str
    notes: tuple[str, ...]
    #: What became of the Balint-group term: "modelled", "dropped_single_group" (one group
    #: known), "no_cluster_column" (no group known: the roster has no cluster column or it
    #: is empty) or "not_requested" (``use_clusters=False``). A fit may add "dropped_boundary".
    cluster_term: str = "modelled"
    #: Derived structures (the block layout of V) shared by the fits of this design.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def y(self) -> np.ndarray:
        return self.frame["score"].to_numpy(dtype=float)

    @property
    def design(self) -> str:
        return "single-arm" if self.control is None else "two-arm"

    def row(self, group: str, timepoint: str, covariate_values: Sequence[float]) -> np.ndarray:
        """The design row (all terms, aliased ones included) of one cell."""
        treated = self.control is not None and group == self.intervention
        values = {"Intercept": 1.0, f"group[{self.intervention}]": float(treated)}
        values[f"timepoint[{timepoint}]"] = 1.0
        if treated:
            values[f"group[{self.intervention}]:timepoint[{timepoint}]"] = 1.0
        values.update(zip(self.covariates, map(float, covariate_values), strict=True))
        return np.array([values.get(term, 0.0) for term in self.terms])


def dummy_code(
    frame: pd.DataFrame,
    covariates: Sequence[str],
    covariate_levels: Mapping[str, Sequence[str]],
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    """Treatment (dummy) coding of the categorical covariates, as R's default contrasts.

    Parameters
    ----------
    frame : pandas.DataFrame
        The analysed rows (no missing covariate values).
    covariates : sequence of str
        Covariate columns in model order.
    covariate_levels : mapping
        Categorical covariate -> declared levels; the first declared level observed in
        ``frame`` is the reference (R drops unused factor levels the same way).

    Returns
    -------
    frame : pandas.DataFrame
        A copy with one 0/1 column ``<covariate>[<level>]`` per other observed level.
    terms : tuple of str
        The model's covariate columns: numeric covariates and dummy columns in model order.
    formula_terms : tuple of str
        The covariates as written in the model formula (``C(gender, Treatment('female'))``).
    """
    out = frame.copy()
    terms: list[str] = []
    formula_terms: list[str] = []
    for cov in covariates:
        if cov not in covariate_levels:
            terms.append(cov)
            formula_terms.append(cov)
            continue
        values = out[cov].astype("string")
        observed = [level for level in covariate_levels[cov] if (values == level).any()]
        for level in observed[1:]:
            out[f"{cov}[{level}]"] = (values == level).fillna(False).to_numpy(dtype=float)
            terms.append(f"{cov}[{level}]")
        if observed:
            formula_terms.append(f"C({cov}, Treatment({observed[0]!r}))")
    return out, tuple(terms), tuple(formula_terms)


def model_data(
    frame: pd.DataFrame,
    *,
    levels: Sequence[str],
    intervention: str,
    control: str | None,
    covariates: Sequence[str] = (),
    use_clusters: bool = True,
    formula_covariates: Sequence[str] | None = None,
) -> ModelData:
    """Build the design of the primary model for one outcome.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per observation: ``participant, group, timepoint, score, cluster`` and the
        covariate columns; no missing scores or covariates.
    levels : sequence of str
        Timepoints in design order; the first is the baseline (reference level).
    intervention, control : str
        Group labels; ``control=None`` gives the single-arm model ``score ~ timepoint``.
    covariates : sequence of str
        Numeric covariate columns (entered linearly, not centred: coefficients match lme4's);
        a categorical covariate enters as its dummy columns (:func:`dummy_code`).
    use_clusters : bool
        Model the Balint groups when at least two are known (partially nested design).
    formula_covariates : sequence of str, optional
        How the covariates are written in ``formula`` (default: their column names).

    Returns
    -------
    ModelData
        Terms are named ``Intercept``, ``group[<intervention>]``, ``timepoint[<t>]``,
        covariates, ``group[<intervention>]:timepoint[<t>]`` (R's column order). Columns that
        are aliased (e.g. an empty group × time cell) are kept in ``terms`` but flagged in
        ``keep``; contrasts involving them are not estimable.
    """
    df = frame.reset_index(drop=True).copy()
    levels = tuple(levels)
    baseline, post = levels[0], levels[1:]
    two_arm = control is not None
    treated = (df["group"] == intervention).to_numpy() if two_arm else np.ones(len(df), bool)
    is_post = (df["timepoint"] != baseline).to_numpy()
    cols: dict[str, np.ndarray] = {"Intercept": np.ones(len(df))}
    if two_arm:
        cols[f"group[{intervention}]"] = treated.astype(float)
    tdum = {t: (df["timepoint"] == t).to_numpy(dtype=float) for t in post}
    for t in post:
        cols[f"timepoint[{t}]"] = tdum[t]
    for c in covariates:
        cols[c] = df[c].to_numpy(dtype=float)
    if two_arm:
        for t in post:
            cols[f"group[{intervention}]:timepoint[{t}]"] = treated * tdum[t]
    X = np.column_stack(list(cols.values()))
    keep = independent_columns(X)
    dropped = [term for term, k in zip(cols, keep, strict=True) if not k]
    notes = []
    if dropped:  # lme4's message, with the columns named
        notes.append(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
                     f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}")

    df["treated_post"] = (treated & is_post).astype(float)
    labels = df["cluster"].astype("string").str.strip()
    labels = labels.where(labels.notna() & (labels != "") & pd.Series(treated), pd.NA)
    known = labels.dropna().unique()
    clustered = bool(use_clusters and len(known) >= 2)
    cluster_term = ("not_requested" if not use_clusters else "modelled" if clustered
                    else "dropped_single_group" if len(known) == 1 else "no_cluster_column")
    if use_clusters and len(known) == 1:
        notes.append("only one Balint group is known: its variance is not identifiable, "
                     "so the model has no Balint-group term")
    # Everyone without a (known) Balint group is a singleton cluster, as in lme4 and statsmodels.
    solo = "solo:" + df["participant"].astype(str)
    df["block"] = labels.fillna(solo).astype(str) if clustered else df["participant"].astype(str)

    fixed = f"C(timepoint, Treatment({baseline!r}))"
    if two_arm:
        fixed = f"C(group, Treatment({control!r})) * " + fixed
    fixed = " + ".join([fixed, *(covariates if formula_covariates is None
                                  else formula_covariates)])
    random = "(1 | participant)"
    if clustered:
        random += " + (0 + treated_post | cluster)"
    return ModelData(
        frame=df,
        X=X,
        terms=tuple(cols),
        keep=keep,
        levels=levels,
        intervention=intervention,
        control=control,
        covariates=tuple(covariates),
        clustered=clustered,
        formula=f"score ~ {fixed} + {random}",
        notes=tuple(notes),
        cluster_term=cluster_term,
    )


#: Relative tolerance of the rank decision: lme4's ``chkRank.drop.cols`` calls ``qr(X, tol =
#: 1e-7)``, as ``lm`` does.
RANK_TOL = 1e-7


def independent_columns(X: np.ndarray, tol: float = RANK_TOL) -> np.ndarray:
    """The columns a pivoted QR keeps, as R's ``qr()`` (LINPACK ``dqrdc2``) decides.

    ``dqrdc2`` pivots with limited pivoting: columns are taken left to right and a column whose
    norm, after the columns kept before it are projected out, is below ``tol`` times its
    original norm is moved to the end, i.e. aliased. lme4 drops exactly those columns
    ("fixed-effect model matrix is rank deficient so dropping N columns"), so the kept columns
    and the coefficients reported for them are lme4's. Householder reflections would give the
    same decisions; Gram-Schmidt with one reorthogonalisation is as stable at these sizes.

    Parameters
    ----------
    X : numpy.ndarray
        Fixed-effects design, observations × terms.
    tol : float
        Relative tolerance (R's default 1e-7).

    Returns
    -------
    numpy.ndarray
        Boolean mask over the columns: True where the column is kept.
    """
    keep = np.zeros(X.shape[1], dtype=bool)
    basis = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        col = X[:, j]
        norm = np.linalg.norm(col)
        resid = col
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            resid = resid - basis @ (basis.T @ resid)
        if norm > 0 and np.linalg.norm(resid) > tol * norm:
            keep[j] = True
            basis = np.column_stack([basis, resid / np.linalg.norm(resid)])
    return keep
