"""Imputation from the fitted primary mixed model: conditional draws with parameter uncertainty.

The imputation model is the primary model of the outcome itself (random participant intercept,
the partially nested Balint-group effect when modelled, group × timepoint and covariates), so
imputation and analysis are compatible (congenial): under MAR the completed-data analysis
estimates what the primary model estimates. Every participant the primary model analyses at
baseline gets a row at every timepoint of the design; a post-baseline score they do not have
(intermittent or after drop-out) is drawn from its distribution given their observed scores.
Participants left out of the primary model for a missing covariate stay out; participants
without a baseline score keep their observed rows and get nothing imputed.

One imputation (Rubin 1987, "Bayesian" imputation as mice's ``norm`` method):

1. Variance components from the normal approximation of the REML estimates in lmerTest's
   parameters ``ψ = (θ_k = sd_k / σ, σ)``: ``ψ ~ N(ψ̂, 2 H⁻¹)`` with ``H`` the exact Hessian
   of the REML deviance in ``ψ`` at the optimum (the engine has it; the Satterthwaite df use the
   same matrix), reflected at 0; a component at the boundary stays 0. Not on the log-variance
   scale: there a component near 0 (a small Balint-group variance, common) has a nearly flat
   likelihood and its draws explode (variances 10⁵ times the estimate in the coverage
   simulation), while on the SD scale the approximation stays bounded.
2. Fixed effects ``β ~ N(β̂, Cov(β̂))``.
3. Random effects from their posterior given the observed scores, with the drawn parameters:
   each Balint group's effect ``c_g`` from its marginal posterior (participant intercepts
   integrated out; closed form, since a participant's marginal covariance is compound
   symmetric), then each participant's intercept ``b_i`` given ``c_g``. This is exactly the
   conditional normal ``y_mis | y_obs ~ N(μ_m + V_mo V_oo⁻¹ (y_o − μ_o), V_mm − V_mo V_oo⁻¹ V_om)``
   of the whole Balint group's observations, without forming ``V``.
4. Missing score = ``x'β + b_i + z c_g + e``, ``e ~ N(0, σ²)``.

Why not the bootstrap (rbmi's ``approxbayes``): it refits the model once per imputation on a
resample, so M = 50 costs 50 extra REML fits per outcome before any analysis; the normal
approximation reuses the one fit and its exact Hessian, and with the ~100 participants of a
Balint evaluation the REML log-variances are close to normal.

Jump to reference (Carpenter, Roger & Kenward 2013; rbmi's ``JR``): a Balint-arm participant's
missing scores get the comparison arm's mean for their covariates (the intervention terms of
``x`` set to 0) and no Balint-group effect (comparison participants have none), plus their own
conditional deviation ``b_i`` estimated from their observed scores against their own arm's
mean, through the same covariance. Comparison-arm participants are imputed as under MAR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.models.design import ModelData, model_data
from balint_analysis.models.lmm import FittedLMM

__all__ = ["CompleteDesign", "ImputationDraw", "complete_design", "completed_scores",
           "draw_parameters"]


@dataclass(frozen=True)
class CompleteDesign:
    """The primary design over every row that is observed or imputed.

    Attributes
    ----------
    data : ModelData
        Design of the completed data (``score`` NaN where missing).
    observed : numpy.ndarray
        Bool per row: the score was observed.
    participant, cluster : numpy.ndarray
        Integer codes per row of the participant and of the Balint-group random effect
        (``data.frame['block']``; a singleton code for everyone without a known group).
    z_cluster : numpy.ndarray
        Loading of the Balint-group effect per row (0 when the model has no such term).
    balint : numpy.ndarray
        Bool per row: the participant is in the intervention arm (of a two-arm design).
    dropout : numpy.ndarray
        Bool per participant code: the participant has at least one imputed score.
    """

    data: ModelData
    observed: np.ndarray
    participant: np.ndarray
    cluster: np.ndarray
    z_cluster: np.ndarray
    balint: np.ndarray
    dropout: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        return ~self.observed

    @property
    def design_matrix(self) -> np.ndarray:
        """Fixed-effects design over the kept columns."""
        return self.data.X[:, self.data.keep]

    @property
    def reference_matrix(self) -> np.ndarray:
        """``X`` with the intervention terms zeroed: the comparison arm's mean (J2R)."""
        terms = np.array(self.data.terms)[self.data.keep]
        Xr = self.design_matrix.copy()
        Xr[:, np.char.startswith(terms.astype(str), f"group[{self.data.intervention}]")] = 0.0
        return Xr


def complete_design(data: ModelData, person_columns: list[str]) -> CompleteDesign:
    """Add a missing row at every timepoint of ``data.levels`` for every participant observed
    at baseline (participant-level columns copied from their observed rows).

    Parameters
    ----------
    data : ModelData
        The primary model's design (observed rows only).
    person_columns : list of str
        Participant-level columns the design uses (group, cluster, covariate columns).
    """
    obs = data.frame
    baseline = data.levels[0]
    with_baseline = set(obs.loc[obs["timepoint"] == baseline, "participant"])
    persons = obs.drop_duplicates("participant")[["participant", *person_columns]]
    grid = persons[persons["participant"].isin(with_baseline)].merge(
        pd.DataFrame({"timepoint": list(data.levels)}), how="cross")
    scores = obs[["participant", "timepoint", "score"]]
    full = pd.concat([grid.merge(scores, on=["participant", "timepoint"], how="left"),
                      obs.loc[~obs["participant"].isin(with_baseline),
                              ["participant", *person_columns, "timepoint", "score"]]],
                     ignore_index=True)
    order = {t: k for k, t in enumerate(data.levels)}
    full = full.assign(_t=full["timepoint"].map(order)).sort_values(
        ["participant", "_t"], kind="stable").drop(columns="_t").reset_index(drop=True)
    cd = model_data(full, levels=data.levels, intervention=data.intervention,
                    control=data.control, covariates=data.covariates,
                    use_clusters=data.cluster_term in ("modelled",), formula_covariates=None)
    if cd.terms != data.terms:  # cannot happen: same levels, arms and covariates
        raise ValueError("the completed design differs from the primary design")
    cd = ModelData(**{**cd.__dict__, "keep": data.keep, "formula": data.formula,
                      "notes": data.notes, "cache": {}})
    frame = cd.frame
    observed = frame["score"].notna().to_numpy()
    participant = pd.factorize(frame["participant"])[0]
    cluster = pd.factorize(frame["block"])[0]
    z = frame["treated_post"].to_numpy(dtype=float) if cd.clustered else np.zeros(len(frame))
    balint = ((frame["group"] == data.intervention).to_numpy() if data.control is not None
              else np.zeros(len(frame), dtype=bool))
    dropout = np.bincount(participant, weights=~observed, minlength=participant.max() + 1) > 0
    return CompleteDesign(data=cd, observed=observed, participant=participant, cluster=cluster,
                          z_cluster=z, balint=balint, dropout=dropout)


@dataclass(frozen=True)
class ImputationDraw:
    """One draw of the parameters and of the standard normals of one imputation."""

    beta: np.ndarray
    phi: np.ndarray  # participant, cluster, residual (cluster 0 when not modelled)
    cluster_normals: np.ndarray
    participant_normals: np.ndarray
    row_normals: np.ndarray


def _variance_triplet(fit: FittedLMM, phi: np.ndarray) -> np.ndarray:
    """(participant, cluster, residual) from a fit's ``phi`` (cluster 0 when absent)."""
    return np.array([phi[0], phi[1] if len(phi) == 3 else 0.0, phi[-1]])


def draw_parameters(fit: FittedLMM, design: CompleteDesign,
                    rng: np.random.Generator) -> ImputationDraw:
    """Draw variance components, fixed effects and the standard normals of one imputation.

    The number and order of the draws depend only on the design, so imputation ``m`` is the
    same whichever other imputations are drawn.
    """
    phi = np.asarray(fit.state.phi, dtype=float)
    n_comp = phi.size - 1
    # Normal approximation in lmerTest's (theta, sigma) = (sd_k / sigma, sigma), covariance
    # 2 H^-1 (the one the Satterthwaite df use), reflected at 0. On the log-variance scale a
    # component near 0 has a nearly flat likelihood and its draws explode (a Balint-group
    # variance of 2e7 drawn from an estimate of 0.27 in the coverage simulation).
    psi = np.append(np.sqrt(phi[:n_comp] / phi[-1]), np.sqrt(phi[-1]))
    evals, evecs = np.linalg.eigh(fit.satterthwaite.vcov_varpar)
    drawn = np.abs(psi + (evecs * np.sqrt(np.clip(evals, 0.0, None)))
                   @ rng.standard_normal(psi.size))
    drawn[:n_comp][phi[:n_comp] <= 0] = 0.0  # a component on the boundary stays out
    sigma2 = drawn[-1] ** 2
    drawn = np.append(drawn[:n_comp] ** 2 * sigma2, sigma2)
    cov = fit.satterthwaite.cov_beta
    evals, evecs = np.linalg.eigh((cov + cov.T) / 2.0)
    beta = fit.satterthwaite.beta + (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ \
        rng.standard_normal(cov.shape[0])
    return ImputationDraw(beta=beta, phi=_variance_triplet(fit, drawn),
                          cluster_normals=rng.standard_normal(design.cluster.max() + 1),
                          participant_normals=rng.standard_normal(design.participant.max() + 1),
                          row_normals=rng.standard_normal(design.participant.size))


def completed_scores(design: CompleteDesign, draw: ImputationDraw, *,
                     reference: bool = False) -> np.ndarray:
    """The completed scores of one imputation (observed scores unchanged).

    Parameters
    ----------
    design : CompleteDesign
    draw : ImputationDraw
        Parameters and standard normals (all normals 0: the conditional means).
    reference : bool
        Jump to reference: the Balint arm's missing scores get the comparison arm's mean and
        no Balint-group effect, plus their own conditional deviation.

    Returns
    -------
    numpy.ndarray
        One score per row of ``design.data.frame``.
    """
    a, c_var, s = draw.phi
    part, obs = design.participant, design.observed.astype(float)
    n_part = draw.participant_normals.size
    y = design.data.frame["score"].to_numpy(dtype=float)
    mu = design.design_matrix @ draw.beta
    r = np.where(design.observed, y - mu, 0.0)
    n_o = np.bincount(part, weights=obs, minlength=n_part)
    sum_r = np.bincount(part, weights=r, minlength=n_part)
    lam = s + n_o * a
    c = np.zeros(draw.cluster_normals.size)
    z = design.z_cluster
    if c_var > 0 and np.any(z != 0):
        # Marginal posterior of each Balint-group effect, participant intercepts integrated
        # out: r_i | c ~ N(c z_i, s I + a J), whose inverse is (I - a / lam_i J) / s.
        k = a / lam
        sum_z = np.bincount(part, weights=z * obs, minlength=n_part)
        zz = np.bincount(part, weights=z * z * obs, minlength=n_part)
        zr = np.bincount(part, weights=z * r, minlength=n_part)
        person_cluster = np.zeros(n_part, dtype=int)
        person_cluster[part] = design.cluster
        n_cl = c.size
        prec = 1.0 / c_var + np.bincount(person_cluster, weights=(zz - k * sum_z**2) / s,
                                         minlength=n_cl)
        lin = np.bincount(person_cluster, weights=(zr - k * sum_z * sum_r) / s, minlength=n_cl)
        c = lin / prec + draw.cluster_normals / np.sqrt(prec)
        sum_r = sum_r - c[person_cluster] * sum_z
    b = a * sum_r / lam + draw.participant_normals * np.sqrt(a * s / lam)
    cluster_part = c[design.cluster] * z
    mean = mu
    if reference:
        shift = design.balint & design.missing
        mean = np.where(shift, design.reference_matrix @ draw.beta, mu)
        cluster_part = np.where(shift, 0.0, cluster_part)
    imputed = mean + b[part] + cluster_part + np.sqrt(s) * draw.row_normals
    return np.where(design.observed, y, imputed)
