"""The one typed context every report section is built from.

:func:`report_frame` reads the study design, the disclosure threshold and the outcome order once;
each section builder (:mod:`balint_analysis.report.answer`, :mod:`balint_analysis.report.render`)
takes the same :class:`ReportFrame` and returns plain values plus *facts* (booleans and short
codes such as ``directions_disagree`` or ``cluster_term``), so no section has to search another
section's prose to decide what to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from balint_analysis.config import StudyConfig
from balint_analysis.report.descriptive import split_outcomes
from balint_analysis.report.inputs import ReportInputs
from balint_analysis.report.results import outcome_order
from balint_analysis.report.text import DesignInfo, ScaleInfo, design_info, scale_info

__all__ = ["Arm", "ReportFrame", "report_frame"]

#: ``(label in the data, display name, role)``, e.g. ``("balint", "Balint group", "intervention")``.
Arm = tuple[str, str, str]


@dataclass(frozen=True)
class ReportFrame:
    """What every section needs to know about the study and the processed files.

    Attributes
    ----------
    config, inputs
        The study configuration and the processed files.
    design
        The design in words (:func:`~balint_analysis.report.text.design_info`).
    arms
        The intervention arm first, then the comparison arm if there is one.
    timepoints, baseline
        The design's timepoints in order and the baseline among them.
    level
        The confidence level as shown ("95%").
    min_cell
        The disclosure threshold (``analysis.min_cell_size``).
    order
        ``(instrument, scale)`` of every outcome shown, the primary first.
    tested
        The outcomes with a model result, in ``order`` (the others are shown descriptively).
    infos
        Label, range and direction of every outcome in ``order``.
    models
        The per-outcome entries of ``models.json``.
    """

    config: StudyConfig
    inputs: ReportInputs
    design: DesignInfo
    arms: tuple[Arm, ...]
    timepoints: tuple[str, ...]
    baseline: str
    level: str
    min_cell: int
    order: tuple[tuple[str, str], ...]
    tested: tuple[tuple[str, str], ...]
    infos: Mapping[tuple[str, str], ScaleInfo] = field(default_factory=dict)
    models: tuple[Mapping[str, Any], ...] = ()

    @property
    def primary(self) -> tuple[str, str]:
        """The main outcome (first in ``order``)."""
        return self.order[0]

    @property
    def post(self) -> list[str]:
        """The timepoints after baseline."""
        return list(self.timepoints[1:])

    def model_of(self, outcome: tuple[str, str]) -> Mapping[str, Any]:
        """The ``models.json`` entry of one outcome (empty when the model stage recorded none)."""
        for m in self.models:
            if (m.get("instrument"), m.get("scale")) == outcome:
                return m
        return {}


def report_frame(inputs: ReportInputs, config: StudyConfig) -> ReportFrame:
    """Build the :class:`ReportFrame` of one cohort (pure)."""
    design = design_info(config)
    d = config.design
    arms: list[Arm] = [(d.intervention, design.intervention, "intervention")]
    if d.control is not None:
        arms.append((d.control, design.control or "comparison group", "control"))
    modelled = outcome_order(config, inputs.effects, inputs.emmeans)
    order, tested = split_outcomes(config, modelled, inputs.scores)
    return ReportFrame(
        config=config,
        inputs=inputs,
        design=design,
        arms=tuple(arms),
        timepoints=tuple(d.timepoints),
        baseline=d.baseline,
        level=f"{100 * (1 - config.analysis.alpha):g}%",
        min_cell=config.analysis.min_cell_size,
        order=tuple((str(i), str(s)) for i, s in order),
        tested=tuple((str(i), str(s)) for i, s in tested),
        infos={(i, s): scale_info(config, i, s) for i, s in order},
        models=tuple(inputs.models.get("outcomes", []) or []),
    )
