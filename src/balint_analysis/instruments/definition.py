"""What a validated instrument definition holds: scales, cut-off bands and safety flags.

:mod:`balint_analysis.instruments.load` builds these objects from the YAML files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Category", "Flag", "Instrument", "Scale"]


@dataclass(frozen=True)
class Category:
    """One published cut-off band.

    A score belongs to the band when it is ``>= min`` (or ``> above``) and below the next
    band's lower bound; ``max`` documents the published upper bound. The lowest band needs no
    lower bound.
    """

    label: str
    min: float | None = None
    max: float | None = None
    above: float | None = None

    @property
    def lower(self) -> float:
        """The band's lower bound (``-inf`` when open)."""
        if self.min is not None:
            return float(self.min)
        return -math.inf if self.above is None else float(self.above)

    @property
    def inclusive(self) -> bool:
        """Whether the lower bound belongs to the band (``min``) or not (``above``)."""
        return self.above is None


@dataclass(frozen=True)
class Flag:
    """A per-response safety flag: any of ``items`` answered within ``[min, max]``."""

    id: str
    label: str
    items: tuple[int, ...]
    min: float | None = None
    max: float | None = None
    source: str = ""
    action: str = ""


@dataclass(frozen=True)
class Scale:
    """A scored subscale (or the single ``total`` of a one-score instrument)."""

    id: str
    label: str
    items: tuple[int, ...]
    method: str
    direction: str
    reverse: tuple[int, ...] = ()
    categories: tuple[Category, ...] = ()
    cutoff_source: str = ""
    min_answered: int = 1
    missing_rule_source: str = ""
    verified: bool = True
    cutoffs_verified: bool = True
    notes: tuple[str, ...] = ()
    cutoff_notes: tuple[str, ...] = ()
    derived_from: str | None = None

    @property
    def higher_is_worse(self) -> bool:
        return self.direction == "higher_is_worse"

    @property
    def n_items(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Instrument:
    """A validated instrument definition."""

    id: str
    name: str
    citation: str
    licence: str
    item_texts_shippable: bool
    response_min: int
    response_max: int
    n_items: int
    min_answered_share: float
    scales: dict[str, Scale] = field(default_factory=dict)
    version: str = ""
    response_labels: dict[int, str] = field(default_factory=dict)
    missing_rule_source: str = ""
    path: str = ""
    response_values: tuple[int, ...] = ()
    flags: dict[str, Flag] = field(default_factory=dict)
    verified: bool = True
    notes: tuple[str, ...] = ()
    language: str = ""

    @property
    def items(self) -> tuple[int, ...]:
        return tuple(range(1, self.n_items + 1))

    @property
    def allowed_values(self) -> tuple[int, ...]:
        """Every valid answer code (all integers min..max unless ``values`` are declared)."""
        return self.response_values or tuple(range(self.response_min, self.response_max + 1))

    @property
    def reverse_items(self) -> tuple[int, ...]:
        """Items reverse-keyed in any scale (relative to the definition's coding)."""
        return tuple(sorted({i for s in self.scales.values() for i in s.reverse}))

    def scale_range(self, scale_id: str) -> tuple[float, float]:
        """The possible score range of a scale under its scoring method."""
        scale = self.scales[scale_id]
        if scale.method == "sum":
            k = len(scale.items)
            return (self.response_min * k, self.response_max * k)
        if scale.method == "percent":
            return (0.0, 100.0)
        return (float(self.response_min), float(self.response_max))
