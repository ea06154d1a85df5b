"""Quantiles and tail probabilities of the t, normal and F distributions.

Thin wrappers over :mod:`scipy.special` (the same Cephes routines ``scipy.stats`` calls):
``scipy.special`` imports in ~0.2 s, ``scipy.stats`` in ~0.8 s, which every workflow stage
would otherwise pay at start-up. Checked against ``scipy.stats`` in tests/test_distributions.py.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["f_isf", "norm_ppf", "t_ppf", "t_sf"]


def t_ppf(q, df):
    """Quantile of Student's t (``scipy.stats.t.ppf``); ``df = inf`` gives the normal's."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(df, dtype=float))
    finite_df = np.where(np.isinf(df), 1.0, df)
    out = np.where(np.isinf(df), special.ndtri(q), special.stdtrit(finite_df, q))
    return out[()] if out.ndim == 0 else out


def t_sf(x, df):
    """Upper tail ``P(T > x)`` of Student's t (``scipy.stats.t.sf``)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    finite_df = np.where(np.isinf(df), 1.0, df)
    out = np.where(np.isinf(df), special.ndtr(-x), special.stdtr(finite_df, -x))
    return out[()] if out.ndim == 0 else out


def norm_ppf(q):
    """Quantile of the standard normal (``scipy.stats.norm.ppf``)."""
    return special.ndtri(q)


def f_isf(q, dfn, dfd):
    """Inverse upper tail of the F distribution (``scipy.stats.f.isf``)."""
    return special.fdtri(dfn, dfd, 1.0 - np.asarray(q, dtype=float))
