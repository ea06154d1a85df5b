"""OLS with coefficient tests (the ANCOVA and dose engine) against pingouin."""

import numpy as np
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.models.ols import linear_regression


@settings(max_examples=25, deadline=None)
@given(st.integers(8, 200), st.integers(0, 2**32 - 1))
def test_matches_pingouin(n, seed):
    rng = np.random.default_rng(seed)
    X = {"group": rng.integers(0, 2, n).astype(float), "baseline": rng.normal(30, 8, n),
         "age": rng.normal(45, 9, n)}
    if X["group"].min() == X["group"].max():
        X["group"][0] = 1 - X["group"][0]
    y = 5 + 0.6 * X["baseline"] - 3 * X["group"] + rng.normal(0, 6, n)
    ours = linear_regression(X, y, alpha=0.1)
    ref = pg.linear_regression(np.column_stack(list(X.values())), y, alpha=0.1,
                               as_dataframe=True)
    assert list(ours["names"]) == ["Intercept", "group", "baseline", "age"]
    assert ours["coef"].to_numpy() == pytest.approx(ref["coef"].to_numpy(), rel=1e-8, abs=1e-10)
    assert ours["se"].to_numpy() == pytest.approx(ref["se"].to_numpy(), rel=1e-8)
    assert ours["pval"].to_numpy() == pytest.approx(ref["pval"].to_numpy(), rel=1e-6, abs=1e-12)
    assert ours["ci_low"].to_numpy() == pytest.approx(ref["CI5.0"].to_numpy(), rel=1e-6,
                                                      abs=1e-9)
    assert ours["df_resid"].iloc[0] == n - 4


def test_collinear_column_left_out_like_r_na():
    rng = np.random.default_rng(1)
    base = rng.normal(size=20)
    out = linear_regression({"a": base, "b": 2 * base, "c": rng.normal(size=20)},
                            rng.normal(size=20))
    assert list(out["names"]) == ["Intercept", "a", "c"]
    assert out["df_resid"].iloc[0] == 17


def test_no_residual_df_gives_empty_table():
    assert linear_regression({"x": np.array([1.0, 2.0])}, np.array([1.0, 3.0])).empty
