"""Synthetic Balint-group cohorts with known truth, written as real platform exports.

``simulate_cohort(preset="demo", seed=20261125)`` draws a two-arm cohort (Balint groups vs
controls, pre/post/followup) from the model documented in
:mod:`balint_analysis.simulate.model`, writes it through an export **layout**
(:mod:`~balint_analysis.simulate.layouts`), injects a few realistic data problems and records
everything a test needs to know in ``truth.json`` (:mod:`~balint_analysis.simulate.document`,
:mod:`~balint_analysis.simulate.truth`).

The default layout ``demo`` writes each wave through a different survey platform — the
baseline as a Qualtrics data-table export, post as a REDCap raw longitudinal export and the
follow-up as a LimeSurvey response export (:mod:`~balint_analysis.simulate.platforms.demo`),
with the problems of :mod:`~balint_analysis.simulate.problems` — (UTF-8 without BOM, comma,
``\\n`` line ends, except the LimeSurvey export: BOM, every field quoted, CRLF, as LimeSurvey
writes it):

``participants.csv``        roster (with an ``email`` column: PII the pipeline must drop)
``pre_qualtrics.csv``       baseline, Qualtrics "data table" CSV, 3 header rows
``post_redcap.csv``         post, REDCap raw export (event post_arm_1)
``followup_limesurvey.csv`` follow-up, LimeSurvey CSV (codes ``MBI[SQ001]`` …, numeric
                            answer codes, participant code in ``PCODE``)
``truth.json``              seed, parameters, true and realised effects, injected problems
                            with file/row/column, expected row accounting, file SHA-256
``truth_scores.csv``        latent / observed / expected score per participant × timepoint ×
                            scale

Other layouts (``tutorial``: a hand-made workbook and CSV of a small clinic, two waves, no
roster; ``surveymonkey``; ``sosci``) are described in
:mod:`~balint_analysis.simulate.layouts` and their platform modules; ``truth.json`` then also
records ``layout``. Row numbers in ``truth.json`` are the row a spreadsheet shows for the
record, header rows counted (first Qualtrics record = row 4, first REDCap or LimeSurvey record
= row 2; the other layouts state theirs in ``conventions.row``).
"""

from balint_analysis.simulate.cohort import (
    SimulatedCohort,
    simulate_cohort,
    write_cohort,
    write_config,
)
from balint_analysis.simulate.exports import (
    LIMESURVEY_FILE,
    QUALTRICS_FILE,
    REDCAP_FILE,
    ROSTER_FILE,
    TRUTH_FILE,
    TRUTH_SCORES_FILE,
)
from balint_analysis.simulate.layouts import LAYOUTS
from balint_analysis.simulate.params import PRESETS, ScaleParams, SimulationParams

__all__ = [
    "LAYOUTS",
    "PRESETS",
    "ROSTER_FILE",
    "QUALTRICS_FILE",
    "REDCAP_FILE",
    "LIMESURVEY_FILE",
    "TRUTH_FILE",
    "TRUTH_SCORES_FILE",
    "ScaleParams",
    "SimulatedCohort",
    "SimulationParams",
    "simulate_cohort",
    "write_cohort",
    "write_config",
]
