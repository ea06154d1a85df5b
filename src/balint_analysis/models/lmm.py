"""The primary linear mixed model of one outcome: statsmodels REML fit, checks, diagnostics.

:func:`fit_lmm_statsmodels` fits the design built by :func:`.design.model_data` with statsmodels
``MixedLM`` (REML), checks the fit with the exact REML algebra of :mod:`.satterthwaite`, refits
when needed and returns a :class:`FittedLMM` whose :meth:`FittedLMM.contrast` gives estimate, SE
and Satterthwaite df of any contrast.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib.metadata import version

import numpy as np
import pandas as pd

from balint_analysis.models.design import ModelData
from balint_analysis.models.reml import (
    RemlState,
    VarianceStructure,
    reml_state,
    variance_structure,
)
from balint_analysis.models.satterthwaite import Satterthwaite, scaled_gradient

__all__ = ["FittedLMM", "fit_lmm_statsmodels", "model_structure"]

#: sd_k / sigma below which a variance component counts as on the boundary (lme4's isSingular).
BOUNDARY_THETA = 1e-4
#: sd_k / sigma below which the fit without that component is also tried.
NEAR_BOUNDARY_THETA = 0.1
#: Cholesky-scaled REML gradient above which a fit counts as not converged (lme4's tolerance).
GRADIENT_TOL = 2e-3
#: statsmodels' default gtol (1e-5) leaves ~5e-4 relative error in the variances; 1e-8 does not.
_GTOL = 1e-8
_FIRST_METHOD = ["bfgs"]
_FALLBACK_METHODS = ["powell", "lbfgs"]


@dataclass
class _Attempt:
    components: tuple[str, ...]
    method: str
    phi: np.ndarray | None = None
    state: RemlState | None = None
    optimizer_converged: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    sm_variances: dict | None = None
    sm_fe_max_abs_diff: float | None = None

    @property
    def ok(self) -> bool:
        return self.state is not None

    @property
    def label(self) -> str:
        return f"{' + '.join(self.components) or 'no random effects'} ({self.method})"

    @property
    def gradient(self) -> float:
        return scaled_gradient(self.state) if self.ok else float("inf")

    @property
    def stationary(self) -> bool:
        return self.gradient <= GRADIENT_TOL


def model_structure(data: ModelData, *, by_arm: bool = False) -> VarianceStructure:
    """The :class:`.reml.VarianceStructure` of the primary model of ``data`` (with one
    residual variance per arm when ``by_arm``), built once per design and reused by its fits.

    Raises
    ------
    ValueError
        When the random effects are not nested in the blocks.
    """
    key = ("structure", by_arm)
    if key not in data.cache:
        kwargs = {}
        if by_arm:
            kwargs = {"residual_groups": data.frame["group"].astype(str).to_numpy(),
                      "residual_levels": (data.control, data.intervention)}
        data.cache[key] = variance_structure(data.X[:, data.keep], data.y, data.frame["block"],
                                             _components(data), **kwargs)  # fmt: skip
    return data.cache[key]


def _components(data: ModelData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    f = data.frame
    comps = {"participant": (f["participant"].astype(str).to_numpy(), np.ones(len(f)))}
    if data.clustered:
        comps["cluster"] = (f["block"].to_numpy(), f["treated_post"].to_numpy())
    return comps


def _statsmodels_fit(data: ModelData, comps: tuple[str, ...], method: list[str]) -> _Attempt:
    """One statsmodels REML fit with the given random components; never raises."""
    # statsmodels is the reference and fallback engine: imported only when it is used (~1 s).
    from statsmodels.regression.mixed_linear_model import MixedLM
    name = "closed form: OLS, residual variance RSS/(n-p)" if not comps else ", ".join(method)
    att = _Attempt(components=comps, method=name)
    f, X, y = data.frame, data.X[:, data.keep], data.y
    blocks = f["block"] if "cluster" in comps else f["participant"].astype(str)
    codes = pd.factorize(blocks, sort=True)[0]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if not comps:  # no random effects left: REML for a linear model is OLS
                beta, *_ = np.linalg.lstsq(X, y, rcond=None)
                resid = y - X @ beta
                att.phi = np.array([resid @ resid / (len(y) - X.shape[1])])
                att.optimizer_converged = True
            else:
                kwargs = {}
                if "cluster" in comps:
                    kwargs["exog_re"] = f["treated_post"].to_numpy()[:, None]
                if comps == ("participant", "cluster"):
                    kwargs["exog_vc"] = _participant_vc(f["participant"].astype(str), codes)
                model = MixedLM(y, X, groups=codes, **kwargs)
                opts = {"gtol": _GTOL} if method == _FIRST_METHOD else {}
                res = model.fit(reml=True, method=method, **opts)
                var = {"cov_re": float(res.cov_re.iloc[0, 0] if hasattr(res.cov_re, "iloc")
                                       else np.asarray(res.cov_re)[0, 0]),
                       "vcomp": [float(v) for v in np.atleast_1d(res.vcomp)],
                       "scale": float(res.scale)}
                if comps == ("participant", "cluster"):
                    att.phi = np.array([var["vcomp"][0], var["cov_re"], var["scale"]])
                else:
                    att.phi = np.array([var["cov_re"], var["scale"]])
                att.optimizer_converged = bool(res.converged)
                sm_beta = np.asarray(res.fe_params, dtype=float)
        att.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
        if comps:
            att.sm_variances = {"cov_re_of": comps[-1] if "cluster" in comps else comps[0]} | var
        att.phi = np.clip(att.phi, 0.0, None)
        full = _full_phi(data, comps, att.phi)
        att.state = reml_state(model_structure(data), full)
        att.phi = full
        if comps:
            att.sm_fe_max_abs_diff = float(np.max(np.abs(sm_beta - att.state.beta)))
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none hidden
        att.error = f"{type(exc).__name__}: {exc}"
        att.state = None
    return att


def _participant_vc(participant: pd.Series, codes: np.ndarray):
    """statsmodels' ``vc_formula={"participant": "0 + C(participant)"}`` as a VCSpec."""
    from statsmodels.regression.mixed_linear_model import VCSpec

    names, mats = [], []
    for b in range(codes.max() + 1):
        dummies = pd.get_dummies(participant[codes == b], dtype=float)
        names.append(list(dummies.columns))
        mats.append(dummies.to_numpy())
    return VCSpec(["participant"], [names], [mats])


def _full_phi(data: ModelData, comps: tuple[str, ...], phi: np.ndarray) -> np.ndarray:
    """Place a (reduced) fit's variances into the full structure, zeros for dropped terms."""
    names = list(_components(data))
    full = np.zeros(len(names) + 1)
    for name, value in zip(comps, phi[:-1], strict=True):
        full[names.index(name)] = value
    full[-1] = phi[-1]
    return full


def _best_fit(data: ModelData, comps: tuple[str, ...], log: list[_Attempt]) -> _Attempt | None:
    """Fit with bfgs, refit with powell/lbfgs if needed, then test the boundary (recursive)."""
    first = _statsmodels_fit(data, comps, _FIRST_METHOD)
    log.append(first)
    tries = [first]
    if comps and not (first.optimizer_converged and first.stationary):
        second = _statsmodels_fit(data, comps, _FALLBACK_METHODS)
        log.append(second)
        tries.append(second)
    good = [a for a in tries if a.ok]
    best = min(good, key=lambda a: a.state.deviance) if good else None
    names = list(_components(data))
    theta = {c: np.sqrt(best.phi[names.index(c)] / best.phi[-1]) if best else 0.0 for c in comps}
    # Smallest variance first; without a stationary fit every component is a candidate.
    for comp in sorted(comps, key=lambda c: (theta[c], -comps.index(c))):
        if best is not None and best.stationary and theta[comp] >= NEAR_BOUNDARY_THETA:
            continue
        reduced = _best_fit(data, tuple(c for c in comps if c != comp), log)
        if reduced is not None and (
            best is None or reduced.state.deviance <= best.state.deviance + 1e-6
        ):
            best = reduced
            if best.stationary:
                break
    return best


@dataclass(frozen=True)
class FittedLMM:
    """A fitted primary model: use :meth:`contrast`; ``diagnostics`` goes to models.json."""

    data: ModelData
    variances: dict[str, float]
    state: RemlState
    satterthwaite: Satterthwaite
    converged: bool
    boundary: tuple[str, ...]
    diagnostics: dict

    def contrast(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimate, SE and Satterthwaite df of contrasts over all terms (NaN: not estimable)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        X = self.data.X
        _, s, vt = np.linalg.svd(X, full_matrices=X.shape[0] < X.shape[1])  # vt: p x p
        # The null space of the rank the pivoted QR decided (``keep``), not a second tolerance:
        # a column the QR dropped must make every function that loads on it non-estimable.
        null = vt[int(self.data.keep.sum()):].T
        est, se, df = self.satterthwaite.contrast(L[:, self.data.keep])
        if null.size:
            bad = np.abs(L @ null).max(axis=1) > 1e-8 * np.maximum(1.0, np.abs(L).max(axis=1))
            est, se, df = (np.where(bad, np.nan, v) for v in (est, se, df))
        return est, se, df

    def coefficients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimate, SE and Satterthwaite df of every term, as lme4 reports them.

        The coefficients of the model without the aliased columns (those the pivoted QR of
        :func:`.design.independent_columns` drops, as lme4 does); an aliased column is NaN.
        Unlike :meth:`contrast`, a kept coefficient is reported even when, alone, it is not an
        estimable function of the full design (e.g. ``timepoint[followup]`` when no
        comparison-group participant was observed then: lme4's value is the intervention
        arm's change).
        """
        keep = self.data.keep
        est, se, df = (np.full(len(self.data.terms), np.nan) for _ in range(3))
        est[keep], se[keep], df[keep] = self.satterthwaite.contrast(np.eye(int(keep.sum())))
        return est, se, df


def fit_lmm_statsmodels(data: ModelData) -> FittedLMM:
    """Fit the primary model by REML with statsmodels and check the fit.

    Parameters
    ----------
    data : ModelData
        From :func:`model_data`.

    Returns
    -------
    FittedLMM

    Notes
    -----
    Procedure (all recorded in ``diagnostics``; nothing is silenced):

    1. ``MixedLM.fit(reml=True, method="bfgs", gtol=1e-8)`` (statsmodels' first default
       optimizer; its default gtol leaves ~5e-4 relative error in the variances), with all
       warnings captured.
    2. Convergence is judged on the exact REML algebra: the Cholesky-scaled gradient of the
       deviance (lme4's statistic, tolerance 2e-3) at the estimate. If statsmodels reports
       non-convergence or that check fails, the model is refitted with
       ``method=["powell", "lbfgs"]`` and the fit with the lower REML deviance is kept.
    3. Boundary: for every variance component with ``sd/sigma < 0.1`` (or when no fit is
       stationary) the model without it is fitted too; if its REML deviance is not higher, the
       estimate is on the boundary (variance exactly 0, as lme4 reports a singular fit) and
       that solution is used (``fallback`` and ``boundary_components`` say so).
    4. Fixed effects and their covariance are recomputed by GLS at the chosen variances. This
       guards against statsmodels #10239 (between-group effects returned as exactly 0 when a
       variance is ~0); the largest difference from statsmodels' ``fe_params`` is reported.

    Checked against lme4 1.1.31 / lmerTest 3.1.3 (``tests/reference``): fixed effects and SEs
    agree to better than 1e-5 relative, variances and Satterthwaite df to better than 1e-3.
    """
    log: list[_Attempt] = []
    best = _best_fit(data, ("participant", "cluster") if data.clustered else ("participant",),
                     log)
    names = [*_components(data), "residual"]
    base = {
        "formula": data.formula,
        "statsmodels_call": _sm_call(data),
        "method": "REML",
        "n_obs": len(data.frame),
        "n_participants": int(data.frame["participant"].nunique()),
        "n_clusters": _n_clusters(data),
        "df_method": "Satterthwaite",
        "terms_not_estimable": [t for t, k in zip(data.terms, data.keep, strict=True) if not k],
        "notes": list(data.notes),
        "attempts": [_attempt_record(a) for a in log],
    }
    if best is None:
        raise RuntimeError("no fit succeeded: " + "; ".join(a.error or "?" for a in log))
    phi = best.phi
    theta = np.sqrt(phi[:-1] / phi[-1])
    boundary = tuple(n for n, t in zip(names, theta, strict=False) if t < BOUNDARY_THETA)
    converged = best.stationary
    variances = {n: float(v) for n, v in zip(names, phi, strict=True)}
    # Only the warnings of the fit used: those of abandoned attempts stay in "attempts".
    warn = list(dict.fromkeys(f"{best.label}: {w}" for w in best.warnings))
    if best.sm_fe_max_abs_diff is not None and best.sm_fe_max_abs_diff > 1e-6 * (
        1.0 + np.abs(best.state.beta).max()
    ):
        warn.append("statsmodels fe_params differ from GLS at its own variance estimates "
                    "(statsmodels #10239); the GLS fixed effects are used")
    if boundary:
        base["notes"].append(
            "variance on the boundary (estimated 0): " + ", ".join(boundary)
            + "; the model is equivalent to the one without "
            + ("that term" if len(boundary) == 1 else "those terms"))
    total = sum(variances.values())
    diagnostics = {
        **base,
        "optimizer": best.method,
        "random_effects_fitted": list(best.components),
        "converged": converged,
        "boundary": bool(boundary),
        "boundary_components": list(boundary),
        "warnings": warn,
        "fit_warnings": warn,
        "fallback": _fallback(best, log[0]),
        "reml_deviance": best.state.deviance,
        "reml_scaled_gradient": best.gradient,
        "optimizer_converged": best.optimizer_converged,
        "statsmodels_fe_max_abs_diff": best.sm_fe_max_abs_diff,
        "variance_components": variances,
        "statsmodels_variances": best.sm_variances,
        "icc_participant": variances["participant"] / total if total > 0 else None,
        "icc_cluster": variances["cluster"] / total if "cluster" in variances and total > 0
        else None,
        "statsmodels_version": version("statsmodels"),
    }
    satt = Satterthwaite.from_state(best.state)
    diagnostics["varpar_hessian_eigenvalues"] = satt.hessian_eigenvalues.tolist()
    if np.any(satt.hessian_eigenvalues < -1e-8):
        diagnostics["warnings"].append(
            "the REML Hessian of the variance parameters has a negative eigenvalue (lmerTest: "
            "'Model failed to converge'); those directions are left out of the Satterthwaite df")
    return FittedLMM(
        data=data,
        variances=variances,
        state=best.state,
        satterthwaite=satt,
        converged=converged,
        boundary=boundary,
        diagnostics=diagnostics,
    )


def _fallback(best: _Attempt, first: _Attempt) -> str | None:
    if best is first:
        return None
    dropped = [c for c in first.components if c not in best.components]
    if dropped:
        return (f"refitted without {' and '.join(dropped)}: the variance is on the boundary "
                f"(0) and that fit has the lower REML deviance; used {best.label}")
    return f"refitted with method {best.method} (lower REML deviance)"


def _n_clusters(data: ModelData) -> int:
    if not data.clustered:
        return 0
    return int(data.frame["block"][~data.frame["block"].str.startswith("solo:")].nunique())


def _sm_call(data: ModelData) -> str:
    if data.clustered:
        return ('MixedLM(groups=cluster, re_formula="0 + treated_post", '
                'vc_formula={"participant": "0 + C(participant)"}).fit(reml=True)')
    return "MixedLM(groups=participant, re_formula=\"1\").fit(reml=True)"


def _attempt_record(a: _Attempt) -> dict:
    return {
        "fit": a.label,
        "ok": a.ok,
        "optimizer_converged": a.optimizer_converged,
        "reml_deviance": a.state.deviance if a.ok else None,
        "error": a.error,
        "warnings": a.warnings,
    }
