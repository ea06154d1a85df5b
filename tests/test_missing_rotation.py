"""The exact rotation of the completed-data design (missing/rotation.py): the REML criterion,
its derivatives and the GLS fixed effects are those of the unrotated design."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from test_missing_imputation import TIMEPOINTS, cohort

from balint_analysis.missing.completed import completed_structure
from balint_analysis.missing.imputation import complete_design
from balint_analysis.missing.rotation import helmert
from balint_analysis.models.design import model_data
from balint_analysis.models.lmm import _components
from balint_analysis.models.reml import reml_state, variance_structure


def test_helmert_is_orthonormal_with_the_mean_first():
    Q = helmert(5)
    assert np.abs(Q @ Q.T - np.eye(5)).max() < 1e-15
    assert Q[0] == pytest.approx(np.full(5, 1 / np.sqrt(5)))
    assert Q[3] == pytest.approx(np.array([1, 1, 1, -3, 0]) / np.sqrt(12))


def completed():
    """Balint groups of 5, drop-out, and a Balint participant without a baseline score (only
    their observed rows: a second row pattern inside their group)."""
    sub = cohort(n=30, clusters=3, missing=0.4, seed=5)
    late = sub[(sub["participant"] == "p01") & (sub["timepoint"] != "pre")]
    sub = pd.concat([sub, late.assign(participant="p99")], ignore_index=True)
    data = model_data(sub, levels=TIMEPOINTS, intervention="balint", control="control",
                      covariates=["age"])
    design = complete_design(data, ["group", "cluster", "age"])
    y = design.data.frame["score"].to_numpy(dtype=float)
    return design, np.where(np.isnan(y), 30.0 + np.arange(y.size) % 7, y)


def test_rotated_reml_equals_the_dense_reml():
    design, y = completed()
    dense = variance_structure(design.design_matrix, y, design.data.frame["block"],
                               _components(design.data))
    struct, index, rotate = completed_structure(design)
    T = rotate.matrix.toarray()
    assert np.abs(T @ T.T - np.eye(y.size)).max() < 1e-12  # orthogonal
    ry = rotate(y)
    rotated = replace(struct, y=ry, batches=tuple(
        replace(b, y=ry[i]) for b, i in zip(struct.batches, index, strict=True)))
    # Dense blocks of a whole Balint group (15 rows) become blocks of at most 2 patterns x 3.
    assert max(b.y.shape[1] for b in dense.batches) == 15
    assert max(b.y.shape[1] for b in rotated.batches) <= 6
    for phi in ([16.0, 3.0, 9.0], [2.0, 0.0, 30.0]):
        a, b = reml_state(dense, phi), reml_state(rotated, phi)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-12)
        for name in ("beta", "cov_beta", "gradient", "hessian", "dcov"):
            assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-9, abs=1e-12)
