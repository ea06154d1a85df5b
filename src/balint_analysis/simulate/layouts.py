"""Export layouts: through which platforms, in which shapes, a synthetic cohort is written.

The data-generating model (:mod:`~balint_analysis.simulate.model`) is the same for every layout;
a layout decides which waves are written, by which platform, with which answer coding,
participant ids and group labels, which problems are injected, and how the generated config
reads the files. Registered layouts (:data:`LAYOUTS`):

``demo``
    Today's committed cohort: roster, baseline Qualtrics CSV, post REDCap raw export,
    follow-up LimeSurvey CSV (:mod:`~balint_analysis.simulate.platforms.demo`).
``tutorial``
    A small clinic without a survey platform: MBI-HSS + OLBI (preset ``tutorial``), two waves,
    no roster (group column in each file), a hand-made workbook ``baseline.xlsx`` and an
    Excel "CSV UTF-8" ``followup.csv`` with self-generated codes
    (:mod:`~balint_analysis.simulate.platforms.tutorial`).
``surveymonkey``
    All three waves as SurveyMonkey "All individual responses" CSVs (two header rows), the
    follow-up with actual answer text, the others with numerical values = option positions
    (:mod:`~balint_analysis.simulate.platforms.surveymonkey`).
``sosci``
    All three waves from SoSci Survey: the UTF-16 ``data_*.csv`` download, an SPSS ``.sav``
    and the R-data CSV, positions ``1…k``, ``-9``/``-1`` missing codes
    (:mod:`~balint_analysis.simulate.platforms.sosci`).

Same seed and preset → the same people, latent scores and answers in every layout (the layout
draws only after them), and the same bytes for the same layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from balint_analysis.errors import InputError
from balint_analysis.simulate.params import CONTROL, INTERVENTION, TIMEPOINTS
from balint_analysis.simulate.platforms import demo, sosci, surveymonkey, tutorial
from balint_analysis.simulate.platforms.common import Built, Context, ExportFile

__all__ = ["LAYOUTS", "Layout", "get_layout"]


@dataclass(frozen=True)
class Layout:
    """How a cohort is written.

    Attributes
    ----------
    name
        Layout name (``--layout``); recorded in ``truth.json`` and the config unless ``demo``.
    preset
        The preset used when none is given (``balint-analysis simulate --layout tutorial``).
    n_timepoints
        Waves written: the first ``n`` of :data:`~balint_analysis.simulate.params.TIMEPOINTS`.
    intervention, control
        Group labels in the roster or the exports' group column.
    build
        ``Context → Built``: writes the exports (and the roster).
    conventions
        Entries of ``truth.json`` ``conventions`` that differ from the demo's.
    """

    name: str
    preset: str
    n_timepoints: int
    intervention: str
    control: str
    build: Callable[[Context], Built]
    conventions: dict[str, str] = field(default_factory=dict)

    @property
    def timepoints(self) -> tuple[str, ...]:
        """The design timepoints of the written waves."""
        return TIMEPOINTS[: self.n_timepoints]

    @property
    def labels(self) -> tuple[str, str]:
        """``(intervention, control)``."""
        return self.intervention, self.control


LAYOUTS: dict[str, Layout] = {
    "demo": Layout("demo", "demo", 3, INTERVENTION, CONTROL, demo.build),
    "tutorial": Layout("tutorial", "tutorial", 2, tutorial.INTERVENTION, tutorial.CONTROL,
                       tutorial.build, tutorial.CONVENTIONS),
    "surveymonkey": Layout("surveymonkey", "demo", 3, INTERVENTION, CONTROL,
                           surveymonkey.build, surveymonkey.CONVENTIONS),
    "sosci": Layout("sosci", "demo", 3, INTERVENTION, CONTROL, sosci.build, sosci.CONVENTIONS),
}  # fmt: skip
"""Every layout by name."""


def get_layout(name: str) -> Layout:
    """The layout called ``name``.

    Raises
    ------
    InputError
        Unknown layout name.
    """
    if name not in LAYOUTS:
        raise InputError(f"Unknown export layout '{name}'; choose one of {', '.join(LAYOUTS)}.")
    return LAYOUTS[name]


def export_entries(files: list[ExportFile], at: Callable[[str], str]) -> tuple[
        list[dict[str, Any]], dict[str, str]]:  # fmt: skip
    """Config ``exports`` entries and the top-level ``instruments`` for a layout's files.

    The first file's column templates become the top-level ``instruments``; a file naming its
    items otherwise gets its own ``instruments`` (last key of its entry).
    """
    top = files[0].templates
    entries = []
    for f in files:
        entry = {"path": at(f.name), **f.config}
        if f.templates != top:
            entry["instruments"] = dict(f.templates)
        entries.append(entry)
    return entries, dict(top)
