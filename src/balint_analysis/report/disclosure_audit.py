"""Exact audit for disclosure control: can a reader work out a hidden count?

A reader who knows the rule of :mod:`balint_analysis.report.disclosure` knows that a ``"<k"``
count is 1..k − 1 and that a secondary (``"hidden"``) count is 0 or at least k. Given the shown
cells and the shown totals, a hidden count is *recoverable* when only one value is consistent
with all of that. Lines (one total) are solved exactly by subset sums; tables with row and
column totals by integer programming (``scipy.optimize.milp``: the minimum and maximum of each
hidden cell).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PRIMARY", "SECONDARY", "SHOWN", "line_feasible", "recoverable_cells"]

#: Status of a count shown as it is.
SHOWN = "shown"
#: Status of a count from 1 to k − 1 (label ``"<k"``).
PRIMARY = "primary"
#: Status of a count hidden only so that a primary one cannot be worked out (label ``"hidden"``).
SECONDARY = "secondary"


def _domain(status: str, bound: int, min_cell: int) -> list[tuple[int, int]]:
    """What a reader who knows the rule can infer about a hidden cell: inclusive ranges."""
    if status == PRIMARY:
        return [(1, min(min_cell - 1, bound))]
    return [(0, 0), (min_cell, bound)]


def _sums(domains: Sequence[list[tuple[int, int]]], cap: int) -> int:
    """Bitset (bit s set ⇔ some choice from ``domains`` sums to s), for sums ≤ cap."""
    mask = (1 << (cap + 1)) - 1
    reach = 1
    for dom in domains:
        nxt = 0
        for lo, hi in dom:
            if lo > hi:
                continue
            part = (reach << lo) & mask
            width = 1
            while width <= hi - lo:  # OR of all shifts 0..hi-lo by doubling
                step = min(width, hi - lo - width + 1)
                part |= (part << step) & mask
                width += step
            nxt |= part
        reach = nxt
    return reach


def line_feasible(values: Sequence[int], status: Sequence[str], min_cell: int) -> list[set[int]]:
    """Per hidden cell of a line with a shown total: the values consistent with the display.

    Parameters
    ----------
    values : sequence of int
        True counts of the line (they add up to its shown total).
    status : sequence of str
        :data:`SHOWN`, :data:`PRIMARY` or :data:`SECONDARY` per count.
    min_cell : int
        The minimum cell size k.

    Returns
    -------
    list of set of int
        One set per hidden cell, in order; a set of one value means the cell is recoverable.
    """
    hidden = [i for i, s in enumerate(status) if s != SHOWN]
    rest = int(sum(values[i] for i in hidden))
    doms = {i: _domain(status[i], rest, min_cell) for i in hidden}
    out = []
    for i in hidden:
        others = _sums([doms[j] for j in hidden if j != i], rest)
        ok = {
            v
            for lo, hi in doms[i]
            for v in range(max(lo, 0), min(hi, rest) + 1)
            if others >> (rest - v) & 1
        }
        out.append(ok)
    return out


def _table_bounds(values: np.ndarray, status: np.ndarray, min_cell: int, rows: bool,
                  cols: bool) -> list[tuple[tuple[int, int], int, int]]:  # fmt: skip
    """Min and max of every hidden cell of a table with shown margins (integer programme)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    cells = [tuple(ix) for ix in np.argwhere(status != SHOWN)]
    n_x = len(cells)
    secondary = [c for c in cells if status[c] == SECONDARY]
    n_var = n_x + len(secondary)
    big = float(values.sum())
    rows_eq, rhs = [], []
    lines = ([("r", i) for i in range(values.shape[0])] if rows else []) + (
        [("c", j) for j in range(values.shape[1])] if cols else []
    )
    for kind, k in lines:
        a = np.zeros(n_var)
        for v, (i, j) in enumerate(cells):
            if (kind == "r" and i == k) or (kind == "c" and j == k):
                a[v] = 1
        if a.any():
            rows_eq.append(a)
            line = values[k, :] if kind == "r" else values[:, k]
            mask = status[k, :] != SHOWN if kind == "r" else status[:, k] != SHOWN
            rhs.append(float(line[mask].sum()))
    lb, ub = np.zeros(n_var), np.full(n_var, big)
    ub[n_x:] = 1
    ineq = []
    for v, c in enumerate(cells):
        if status[c] == PRIMARY:
            lb[v], ub[v] = 1, min_cell - 1
    for b, c in enumerate(secondary, start=n_x):  # x = 0, or k ≤ x ≤ big (binary switch)
        v = cells.index(c)
        lo, hi = np.zeros(n_var), np.zeros(n_var)
        lo[v], lo[b] = 1, -min_cell
        hi[v], hi[b] = 1, -big
        ineq += [LinearConstraint(lo, 0, np.inf), LinearConstraint(hi, -np.inf, 0)]
    cons = [*ineq] + ([LinearConstraint(np.array(rows_eq), rhs, rhs)] if rows_eq else [])
    out = []
    for v, c in enumerate(cells):
        ends = []
        for sign in (1, -1):
            obj = np.zeros(n_var)
            obj[v] = sign
            res = milp(obj, constraints=cons, integrality=np.ones(n_var),
                       bounds=Bounds(lb, ub))  # fmt: skip
            ends.append(int(round(sign * res.fun)) if res.success else int(values[c]))
        out.append((c, ends[0], ends[1]))
    return out


def recoverable_cells(
    values: Sequence[Sequence[float]] | np.ndarray,
    status: Sequence[Sequence[str]] | np.ndarray,
    min_cell: int,
    *,
    row_totals: bool = True,
    col_totals: bool = True,
) -> list[tuple[int, int]]:
    """Hidden cells whose exact value follows from the shown cells, totals and the rule.

    Parameters
    ----------
    values, status : 2-D arrays
        True counts and their statuses.
    min_cell : int
        The minimum cell size k.
    row_totals, col_totals : bool
        Whether the table's row / column totals are shown (or known from elsewhere).

    Returns
    -------
    list of (row, column)
        Empty when every hidden count has at least two possible values.
    """
    vals = np.asarray(values, dtype=float).round().astype(int)
    st = np.asarray(status, dtype=object)
    if not (st != SHOWN).any() or not (row_totals or col_totals):
        return []
    if row_totals and col_totals:
        bounds = _table_bounds(vals, st, min_cell, True, True)
        return [c for c, lo, hi in bounds if lo == hi]
    out = []
    lines = range(vals.shape[0]) if row_totals else range(vals.shape[1])
    for k in lines:
        v_line = vals[k, :] if row_totals else vals[:, k]
        s_line = st[k, :] if row_totals else st[:, k]
        hidden = [i for i, s in enumerate(s_line) if s != SHOWN]
        for i, ok in zip(hidden, line_feasible(list(v_line), list(s_line), min_cell),
                         strict=True):  # fmt: skip
            if len(ok) <= 1:
                out.append((k, i) if row_totals else (i, k))
    return out
