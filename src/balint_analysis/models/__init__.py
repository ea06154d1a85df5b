"""The model stage: primary LMM per outcome, effects, estimated marginal means, d_ppc2.

What is estimated: docs/contract.md, "Statistics".

:func:`analyse_outcomes` (:mod:`.analyse`) is the one entry point the workflow calls; it returns
:class:`ModelResults` (``effects.csv``, ``emmeans.csv``, ``sensitivity.csv``, ``clinical.csv``,
``cutoffs.csv``, ``dose.csv``, ``models.json`` and ``models/<instrument>.<scale>.json``
content). The procedures it combines are importable on their own: :func:`fit_lmm` (what
callers use: :func:`fit_lmm_reml`, the Newton-REML engine, when it certifies its optimum,
else :func:`fit_lmm_statsmodels`, the statsmodels fallback with its checks) /
:func:`model_data`, :class:`Satterthwaite` (lmerTest's df),
:func:`estimated_marginal_means`, :func:`morris_dppc2`, :func:`hedges_g`,
:func:`benjamini_hochberg`, :func:`ancova`, :func:`fit_residual_by_arm`, :func:`ml_refit`,
:func:`reliable_change`, :func:`category_transitions`, :func:`dose_response`,
:func:`ttest_from_summary`. This file only re-exports them.
"""

from __future__ import annotations

from balint_analysis.models.analyse import (
    EFFECTS_COLUMNS,
    EMMEANS_COLUMNS,
    ModelResults,
    analyse_outcomes,
)
from balint_analysis.models.clinical_change import (
    CLINICAL_COLUMNS,
    CUTOFF_COLUMNS,
    DOSE_COLUMNS,
    category_transitions,
    dose_response,
    reliable_change,
)
from balint_analysis.models.design import ModelData, model_data
from balint_analysis.models.effects import (
    benjamini_hochberg,
    hedges_g,
    morris_dppc2,
    standardized_change,
)
from balint_analysis.models.emmeans import estimated_marginal_means
from balint_analysis.models.fit import fit_lmm, fit_lmm_reml
from balint_analysis.models.lmm import FittedLMM, fit_lmm_statsmodels
from balint_analysis.models.refits import fit_residual_by_arm, ml_refit
from balint_analysis.models.satterthwaite import Satterthwaite
from balint_analysis.models.sensitivity import SENSITIVITY_COLUMNS, ancova
from balint_analysis.models.summary_tests import ttest_from_summary

__all__ = [
    "CLINICAL_COLUMNS",
    "CUTOFF_COLUMNS",
    "DOSE_COLUMNS",
    "EFFECTS_COLUMNS",
    "EMMEANS_COLUMNS",
    "SENSITIVITY_COLUMNS",
    "ancova",
    "category_transitions",
    "dose_response",
    "fit_residual_by_arm",
    "ml_refit",
    "reliable_change",
    "ttest_from_summary",
    "FittedLMM",
    "ModelData",
    "ModelResults",
    "Satterthwaite",
    "analyse_outcomes",
    "benjamini_hochberg",
    "estimated_marginal_means",
    "fit_lmm",
    "fit_lmm_reml",
    "fit_lmm_statsmodels",
    "hedges_g",
    "model_data",
    "morris_dppc2",
    "standardized_change",
]
