"""How an export writes an instrument's answers, and how a correct reader undoes it.

Every export cell of an item holds one of: the instrument's **code** (MBI ``0``–``6``, CBI
``0/25/50/75/100``: what the demo's Qualtrics, REDCap and LimeSurvey exports, and the tutorial
files, hold), the **position** of the chosen option ``1``…``k`` (SurveyMonkey "numerical
value", SoSci Survey scales: MBI ``0``–``6`` appears as ``1``–``7``, CBI ``0``…``100`` as
``1``–``5``; the config then says ``answer_codes: position``), or the option's **label** text
(SurveyMonkey "actual answer text": the definition's ``response_labels``; an option without a
label shows its number, as a scale labelled only at its ends does). Platforms also write
their own **missing codes** for an item that was shown but not answered (SoSci ``-9``, and
``-1`` for a "can't answer" residual option): those are item non-response, not invalid
values. :class:`Coding` encodes answers for the writers and decodes cells for the truth
(:func:`balint_analysis.simulate.truth.accepted_items`), so the expected scores undo exactly
what was written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.instruments import Instrument

__all__ = ["CODES", "Coding"]

KINDS = ("code", "position", "label")


@dataclass(frozen=True)
class Coding:
    """One export's answer coding.

    Attributes
    ----------
    kind
        ``code`` (the instrument's values), ``position`` (``1``…``k`` = the k-th allowed value)
        or ``label`` (the option's label from the definition's ``response_labels``; its value
        where the definition gives no label).
    missing
        Cells (besides an empty one) meaning "shown, not answered", e.g. ``("-9", "-1")``.
    """

    kind: str = "code"
    missing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown answer coding '{self.kind}'; choose one of {KINDS}.")

    def encode(self, inst: Instrument, values: np.ndarray) -> np.ndarray:
        """Integer answers (the instrument's codes) → export cell strings."""
        values = np.asarray(values, dtype=np.int64)
        allowed = np.asarray(inst.allowed_values)
        if self.kind == "code":
            return values.astype(str)
        position = np.searchsorted(allowed, values)
        if not np.array_equal(allowed[np.clip(position, 0, len(allowed) - 1)], values):
            raise ValueError(f"{inst.id}: a value is not one of {tuple(allowed)}.")
        if self.kind == "position":
            return (position + 1).astype(str)
        labels = np.asarray([inst.response_labels.get(int(v), str(v)) for v in allowed],
                            dtype=object)  # an option without a label shows its number
        return labels[position].astype(str)

    def is_missing(self, raw: np.ndarray) -> np.ndarray:
        """True where a cell is item non-response (empty, or one of ``missing``)."""
        text = np.char.strip(np.asarray(raw, dtype=str))
        return (text == "") | np.isin(text, list(self.missing))

    def decode(self, inst: Instrument, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Export cells → ``(values, ok)``: floats (``NaN`` unless ``ok``) and a validity mask.

        ``ok`` is False for item non-response (see :meth:`is_missing`) and for invalid cells
        (out of range, not an option, text); ``~ok & ~is_missing`` are the invalid ones.
        """
        raw = np.asarray(raw, dtype=str)
        text = np.char.strip(raw)
        lo, hi = inst.response_min, inst.response_max
        if self.kind == "label":
            table = {str(v): float(v) for v in inst.allowed_values}
            table |= {str(v).strip().lower(): float(k) for k, v in inst.response_labels.items()}
            num = np.array([table.get(c.lower(), np.nan) for c in text.ravel()]).reshape(raw.shape)
            ok = ~np.isnan(num)
        else:
            num = pd.DataFrame(text).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
            num = num.reshape(raw.shape)
            if self.kind == "code":
                ok = (num >= lo) & (num <= hi) & (num == np.round(num))
            else:
                allowed = np.asarray(inst.allowed_values, dtype=float)
                ok = (num >= 1) & (num <= len(allowed)) & (num == np.round(num))
                index = np.where(ok, num, 1).astype(np.int64) - 1
                num = allowed[index]
        ok &= ~self.is_missing(raw)
        return np.where(ok, num, np.nan), ok


CODES = Coding()
"""The instrument's own codes, no platform missing codes (the demo exports)."""
