"""Disclosure control: the one rule every count and statistic of the report goes through.

The rule, with ``k = analysis.min_cell_size``:

* **Primary suppression.** A count of people from 1 to k − 1 is shown as ``"<k"`` (a zero is
  shown: it describes nobody). A statistic (mean, SD, residual SD, range, estimate, alpha,
  variance component) computed from fewer than k people is never shown; it reads
  ``"suppressed"``.
* **Secondary (complementary) suppression.** A hidden count must not be recoverable from what
  *is* shown: the line's total (an arm's size), the other cells of the line, or the row and
  column totals of a table. Further counts are hidden, smallest non-zero first, until an exact
  check (:func:`recoverable_cells`) finds no hidden count whose value is determined, given what
  a reader who knows this rule can infer: a ``"<k"`` cell is 1..k − 1 and a secondary cell is 0
  or at least k. Secondary cells read ``"hidden"``, never ``"<k"``, because their true value may
  be any size. When no choice of cells protects a line (e.g. 1 + k = k + 1 with its total
  shown), the whole line is withheld.

Totals treated as public margins: the number of participants per arm and per arm × timepoint
(participant flow) and the data-quality row accounting. Everything else is a cell.

All functions are pure: values in, statuses or labels out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.report.disclosure_audit import (
    PRIMARY,
    SECONDARY,
    SHOWN,
    line_feasible,
    recoverable_cells,
)
from balint_analysis.report.text import fmt_int

__all__ = [
    "PRIMARY",
    "SECONDARY",
    "SECONDARY_LABEL",
    "SHOWN",
    "STATISTIC_LABEL",
    "LineProtection",
    "TableProtection",
    "count_label",
    "disclosure_paragraphs",
    "is_primary",
    "legend",
    "n_label",
    "protect_line",
    "protect_table",
    "recoverable_cells",
    "share_label",
    "too_small",
]

#: Label of a secondary-suppressed count: says nothing about its size.
SECONDARY_LABEL = "hidden"
#: Label of a statistic computed from fewer than k people.
STATISTIC_LABEL = "suppressed"


def _value(n: Any) -> float | None:
    """A count as a float, or None when missing / not a number."""
    if n is None or isinstance(n, str) and not n.strip():
        return None
    try:
        v = float(n)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def too_small(n: Any, min_cell: int) -> bool:
    """True when a statistic describes a known number of people below ``min_cell`` (0 too).

    Parameters
    ----------
    n : Any
        Number of people the statistic is computed from (missing → False: nothing to hide).
    min_cell : int
        The minimum cell size k.
    """
    v = _value(n)
    return v is not None and v < min_cell


def is_primary(count: Any, min_cell: int) -> bool:
    """True when a count of people is 1..min_cell − 1 (primary suppression)."""
    v = _value(count)
    return v is not None and 0 < v < min_cell


def n_label(n: Any, min_cell: int) -> str:
    """The number of people behind a statistic: ``"<k"`` when 1..k − 1, else the number."""
    v = _value(n)
    if v is None:
        return "—"
    return f"<{min_cell}" if 0 < v < min_cell else fmt_int(v)


def count_label(n: Any, status: str, min_cell: int, total: Any = None) -> str:
    """Display text of a count with its status, with ``(p%)`` of ``total`` when shown.

    Parameters
    ----------
    n : Any
        The true count.
    status : str
        :data:`SHOWN`, :data:`PRIMARY` or :data:`SECONDARY`.
    min_cell : int
        The minimum cell size k.
    total : Any, optional
        Denominator for a percentage (only for shown counts).
    """
    if status == PRIMARY:
        return f"<{min_cell}"
    if status == SECONDARY:
        return SECONDARY_LABEL
    v = _value(n)
    if v is None:
        return "—"
    text = fmt_int(v)
    t = _value(total)
    return f"{text} ({100 * v / t:.0f}%)" if t else text


def share_label(share: Any, n: Any, min_cell: int, digits: int = 0) -> str:
    """A share of ``n`` people as a percentage, unless it stands for a small count.

    A share is a count in disguise (29% of 14 is 4 people): when the count or its complement
    is 1..k − 1 it reads ``"<k answers"`` / ``"all but <k answers"`` instead.
    """
    s, total = _value(share), _value(n)
    if s is None:
        return "—"
    if total is not None:
        count = int(round(s * total))
        if is_primary(count, min_cell):
            return f"<{min_cell} answers"
        if is_primary(total - count, min_cell):
            return f"all but <{min_cell} answers"
    return f"{100 * s:.{digits}f}%"


def legend(min_cell: int) -> str:
    """One sentence explaining the three labels, for the report."""
    return (
        f"“<{min_cell}”: a count of 1 to {min_cell - 1} people (primary suppression). "
        f"“{SECONDARY_LABEL}”: a count of any size, withheld only so that a “<{min_cell}” count "
        "cannot be worked out from totals or other cells (secondary suppression). "
        f"“{STATISTIC_LABEL}”: a mean, SD, estimate or other statistic withheld because it "
        f"describes fewer than {min_cell} people."
    )


def disclosure_paragraphs(min_cell: int) -> list[str]:
    """The rule and the legend, as the report's "Disclosure control" paragraphs."""
    k = min_cell
    return [
        f"Every count of people and statistic of their answers in this report went through one "
        f"rule (minimum cell size "
        f"{k}, set by analysis.min_cell_size). Primary suppression: a count of 1 to {k - 1} "
        f"people is shown as “<{k}” (a percentage standing for such a count too), and no "
        "statistic (mean, SD, residual SD, range, estimate, "
        f"reliability, per-arm variance) describing fewer than {k} people is shown. Secondary "
        "suppression: where a hidden count could be worked out from a total shown in the report "
        "(a group's size, the answers at a timepoint) or from the other counts beside it, further "
        "counts are hidden, smallest first, until no hidden count can be worked out; where no "
        "choice protects a row, none of its counts is shown. The number of participants per "
        "group and timepoint (participant flow) and the row accounting of the data-quality "
        "section (rows read, accepted, rejected per reason) are reported in full: they are the "
        "totals the rule protects against, not answers.",
        legend(k),
    ]


# --- protection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineProtection:
    """Statuses of the counts of one line whose total is shown.

    Attributes
    ----------
    status : tuple of str
        One status per count.
    withheld : bool
        No choice of cells protects the line: show none of its counts (only its total).
    """

    status: tuple[str, ...]
    withheld: bool = False

    def labels(self, counts: Sequence[Any], min_cell: int, total: Any = None) -> list[str]:
        """Display text per count (all ``"hidden"`` when the line is withheld)."""
        if self.withheld:
            return [SECONDARY_LABEL] * len(counts)
        return [count_label(n, s, min_cell, total) for n, s in zip(counts, self.status,
                                                                     strict=True)]  # fmt: skip

    @property
    def hides(self) -> tuple[bool, ...]:
        """Per count: is it hidden (any reason)?"""
        return tuple(self.withheld or s != SHOWN for s in self.status)


@dataclass(frozen=True)
class TableProtection:
    """Statuses of a table's counts; ``withheld`` when no suppression pattern protects it."""

    status: pd.DataFrame
    withheld: bool = False


def _next_secondary(values: Sequence[float], status: Sequence[str]) -> int | None:
    """Index of the cell to hide next: the smallest non-zero shown count (then a zero)."""
    shown = [(v == 0, v, i) for i, (v, s) in enumerate(zip(values, status, strict=True))
             if s == SHOWN]  # fmt: skip
    return min(shown)[2] if shown else None


def protect_line(counts: Sequence[Any], min_cell: int) -> LineProtection:
    """Primary and secondary suppression of counts that add up to a shown total.

    Pass every part of the total, including parts that are not displayed but follow from the
    total (e.g. "not flagged" = answers − flagged): they are protected the same way.

    Parameters
    ----------
    counts : sequence
        Counts of people; missing (or negative) values are shown as "—" and take no part in
        the audit.
    min_cell : int
        The minimum cell size k.

    Returns
    -------
    LineProtection
    """
    known = [(i, v if v is not None and v >= 0 else None)  # a negative is no count
             for i, v in ((i, _value(n)) for i, n in enumerate(counts))]  # fmt: skip
    status = [PRIMARY if v is not None and 0 < v < min_cell else SHOWN for _, v in known]
    idx = [i for i, v in known if v is not None]
    vals = [int(round(known[i][1])) for i in idx]  # type: ignore[arg-type]
    while any(status[i] != SHOWN for i in idx):
        sub = [status[i] for i in idx]
        hidden = [i for i, s in enumerate(sub) if s != SHOWN]
        feasible = line_feasible(vals, sub, min_cell)
        if all(len(f) > 1 for f in feasible):
            break
        nxt = _next_secondary(vals, sub)
        if nxt is None or not hidden:
            return LineProtection(tuple(status), withheld=True)
        status[idx[nxt]] = SECONDARY
    return LineProtection(tuple(status))


def protect_table(
    counts: pd.DataFrame, min_cell: int, *, row_totals: bool = True, col_totals: bool = True
) -> TableProtection:
    """Primary and secondary suppression of a table of counts with shown margins.

    With one kind of margin the lines are independent (:func:`protect_line` per line); with
    both, cells are added one at a time, smallest non-zero first in the line of a recoverable
    cell, until :func:`recoverable_cells` finds none.

    Parameters
    ----------
    counts : DataFrame
        Counts of people (non-negative integers).
    min_cell : int
        The minimum cell size k.
    row_totals, col_totals : bool
        Whether row / column totals are shown (or known from elsewhere in the report).

    Returns
    -------
    TableProtection
        A frame of statuses shaped like ``counts``.
    """
    vals = counts.fillna(0).to_numpy(dtype=float).round().astype(int)
    st = np.where((vals > 0) & (vals < min_cell), PRIMARY, SHOWN).astype(object)
    if not (row_totals or col_totals) or not (st != SHOWN).any():
        return TableProtection(pd.DataFrame(st, index=counts.index, columns=counts.columns))
    if not (row_totals and col_totals):
        withheld = False
        for k in range(vals.shape[0] if row_totals else vals.shape[1]):
            line = vals[k, :] if row_totals else vals[:, k]
            p = protect_line(list(line), min_cell)
            withheld |= p.withheld
            if row_totals:
                st[k, :] = p.status
            else:
                st[:, k] = p.status
        frame = pd.DataFrame(st, index=counts.index, columns=counts.columns)
        return TableProtection(frame, withheld)
    while True:
        bad = recoverable_cells(vals, st, min_cell)
        if not bad:
            break
        i, j = bad[0]
        pick = None
        nxt = _next_secondary(list(vals[i, :]), list(st[i, :]))
        if nxt is not None:
            pick = (i, nxt)
        else:
            nxt = _next_secondary(list(vals[:, j]), list(st[:, j]))
            pick = None if nxt is None else (nxt, j)
        if pick is None:  # row and column fully hidden: hide the smallest shown cell anywhere
            flat = _next_secondary(list(vals.ravel()), list(st.ravel()))
            if flat is None:
                frame = pd.DataFrame(st, index=counts.index, columns=counts.columns)
                return TableProtection(frame, withheld=True)
            pick = divmod(flat, vals.shape[1])
        st[pick] = SECONDARY
    return TableProtection(pd.DataFrame(st, index=counts.index, columns=counts.columns))
