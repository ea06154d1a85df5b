"""The light t / normal / F helpers equal scipy.stats (which the stages no longer import)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from balint_analysis.distributions import f_isf, norm_ppf, t_ppf, t_sf

DFS = [1.0, 2.5, 10.0, 37.3, 1e6, np.inf]


@pytest.mark.parametrize("df", DFS)
def test_t_quantiles_and_tails(df):
    q = np.array([1e-6, 0.001, 0.025, 0.5, 0.975, 0.999])
    assert t_ppf(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-10)
    x = np.array([-30.0, -3.0, -0.1, 0.0, 1.2, 8.0, 40.0])
    assert t_sf(x, df) == pytest.approx(stats.t.sf(x, df), rel=1e-10, abs=1e-300)


@given(st.floats(0.5, 1e5), st.floats(-50, 50))
def test_t_sf_matches_scipy_everywhere(df, x):
    assert float(t_sf(x, df)) == pytest.approx(stats.t.sf(x, df), rel=1e-9, abs=1e-300)


def test_vectorised_mixed_infinite_df():
    out = t_ppf(np.array([0.975, 0.975]), np.array([3.0, np.inf]))
    assert out == pytest.approx([stats.t.ppf(0.975, 3), stats.norm.ppf(0.975)], rel=1e-12)
    assert isinstance(t_sf(1.0, 5.0), float)


def test_normal_and_f():
    assert norm_ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-14)
    for q, a, b in [(0.025, 3, 100), (0.975, 10, 5000), (0.5, 1, 2)]:
        assert f_isf(q, a, b) == pytest.approx(stats.f.isf(q, a, b), rel=1e-10)
