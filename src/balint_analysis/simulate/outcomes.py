"""Outcomes of a simulated design and their scoring (the generator's own, independent scorer).

A simulated design has *generating* scales (one :class:`~.params.ScaleParams` each, a latent
score in the model) and *derived* scales: another scale of the same instrument over the same
items with another method (the WHO-5 ``percentage`` beside the raw ``total``), whose truth is the
same linear transform of the generating scale's truth. :func:`score_items` scores item arrays
under an instrument's rules without using :mod:`balint_analysis.scoring`, so the truth it gives
checks the pipeline rather than repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from balint_analysis.instruments import Instrument, load_instrument
from balint_analysis.simulate.params import SimulationParams

__all__ = ["Outcome", "outcomes", "score_items"]


@dataclass(frozen=True)
class Outcome:
    """A scored outcome of the simulated design and how its truth follows from the latent.

    ``truth = factor * η[..., source] + offset``: identity for generating scales; for a derived
    scale (same items as a generating scale, another method) the linear map between the two
    methods, e.g. WHO-5 percentage = 4 × raw total.
    """

    instrument: str
    scale: str
    source: int
    factor: float
    offset: float
    effect: tuple[float, ...]

    @property
    def key(self) -> str:
        return f"{self.instrument}.{self.scale}"


def _per_item_mean(inst: Instrument, method: str, k: int) -> tuple[float, float]:
    """``(a, b)`` with score = a · item mean + b under ``method``."""
    if method == "sum":
        return float(k), 0.0
    if method == "percent":
        span = inst.response_max - inst.response_min
        return 100.0 / span, -100.0 * inst.response_min / span
    return 1.0, 0.0


def outcomes(params: SimulationParams) -> list[Outcome]:
    """Generating scales (order of ``params.scales``) followed by the derived scales."""
    keys = [s.key for s in params.scales]
    out = [
        Outcome(s.instrument, s.scale, j, 1.0, 0.0, s.effect) for j, s in enumerate(params.scales)
    ]
    for inst_id in params.instruments:
        inst = load_instrument(inst_id)
        for sid, scale in inst.scales.items():
            if f"{inst_id}.{sid}" in keys:
                continue
            source = next((s for s, g in inst.scales.items() if f"{inst_id}.{s}" in keys
                           and set(g.items) == set(scale.items)), None)  # fmt: skip
            if source is None:
                raise ValueError(f"params.scales has no entry for {inst_id}.{sid}.")
            g = inst.scales[source]
            a_src, b_src = _per_item_mean(inst, g.method, len(g.items))
            a_dst, b_dst = _per_item_mean(inst, scale.method, len(scale.items))
            factor = a_dst / a_src
            j = keys.index(f"{inst_id}.{source}")
            out.append(Outcome(inst_id, sid, j, factor, b_dst - factor * b_src,
                               tuple(factor * e for e in params.scales[j].effect)))  # fmt: skip
    return out


def score_items(values: np.ndarray, inst: Instrument, *, keyed: bool) -> dict[str, np.ndarray]:
    """Scale scores from item values (``NaN`` = missing) under the instrument's rules.

    Parameters
    ----------
    values
        ``(..., items)`` float array of answers.
    inst
        The instrument definition (scales, reverse-keyed items, missing-item rule).
    keyed
        ``True`` when ``values`` are already in the scoring direction, ``False`` when they are
        raw answers whose reverse-keyed items must be reversed first.

    Returns
    -------
    dict
        Scale id → array of scores (``values.shape[:-1]``): the mean of the answered items
        (times the number of items for ``sum`` scales, mapped onto 0–100 for ``percent``
        scales) when at least ``Scale.min_answered`` of the scale's items are answered, else
        ``NaN``.
    """
    values = np.asarray(values, dtype=float)
    lo, hi = inst.response_min, inst.response_max
    out: dict[str, np.ndarray] = {}
    for sid, scale in inst.scales.items():
        cols = values[..., [i - 1 for i in scale.items]]
        if not keyed and scale.reverse:
            flip = np.isin(np.asarray(scale.items), scale.reverse)
            cols = np.where(flip, lo + hi - cols, cols)
        answered = (~np.isnan(cols)).sum(axis=-1)
        with np.errstate(invalid="ignore"):
            mean = np.nansum(cols, axis=-1) / answered
        a, b = _per_item_mean(inst, scale.method, len(scale.items))
        out[sid] = np.where(answered >= scale.min_answered, a * mean + b, np.nan)
    return out
