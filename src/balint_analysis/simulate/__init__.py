"""Synthetic Balint-group cohorts with known truth, written as real platform exports.

``simulate_cohort(preset="demo", seed=20261125)`` draws a two-arm cohort (Balint groups vs
controls, pre/post/followup) from the model documented in
:mod:`balint_analysis.simulate.model`, writes each wave through a different survey platform —
the baseline as a Qualtrics data-table export, post as a REDCap raw longitudinal export and the
follow-up as a LimeSurvey response export (:mod:`~balint_analysis.simulate.exports`) —,
injects a few realistic data problems
(:mod:`~balint_analysis.simulate.problems`) and records everything a test needs to know in
``truth.json`` (:mod:`~balint_analysis.simulate.document`, :mod:`~balint_analysis.simulate.truth`).

Files written by :func:`write_cohort` (UTF-8 without BOM, comma, ``\\n`` line ends, except the
LimeSurvey export: BOM, every field quoted, CRLF, as LimeSurvey writes it):

``participants.csv``        roster (with an ``email`` column: PII the pipeline must drop)
``pre_qualtrics.csv``       baseline, Qualtrics "data table" CSV, 3 header rows
``post_redcap.csv``         post, REDCap raw export (event post_arm_1)
``followup_limesurvey.csv`` follow-up, LimeSurvey CSV (codes ``MBI[SQ001]`` …, numeric
                            answer codes, participant code in ``PCODE``)
``truth.json``              seed, parameters, true and realised effects, injected problems
                            with file/row/column, expected row accounting, file SHA-256
``truth_scores.csv``        latent / observed / expected score per participant × timepoint ×
                            scale

Row numbers in ``truth.json`` are the row a spreadsheet shows for the record, header rows
counted (first Qualtrics record = row 4, first REDCap or LimeSurvey record = row 2).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from balint_analysis.errors import InputError
from balint_analysis.simulate import document, exports, problems, truth
from balint_analysis.simulate.exports import (
    LIMESURVEY_FILE,
    QUALTRICS_FILE,
    REDCAP_FILE,
    ROSTER_FILE,
    TRUTH_FILE,
    TRUTH_SCORES_FILE,
)
from balint_analysis.simulate.model import draw_answers, draw_dropout, draw_latent, draw_people
from balint_analysis.simulate.params import (
    CONTROL,
    INTERVENTION,
    PRESETS,
    TIMEPOINTS,
    ScaleParams,
    SimulationParams,
)

__all__ = [
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


@dataclass(frozen=True)
class SimulatedCohort:
    """A generated cohort: the truth, the roster, the exports and their exact bytes.

    Attributes
    ----------
    params, seed
        What generated it.
    truth_scores
        Long table, one row per participant × timepoint × scale: ``participant_id, group,
        balint_group, timepoint, instrument, scale, latent, observed, responded, accepted,
        expected`` (see :mod:`balint_analysis.simulate.truth`).
    roster
        The roster as written (string columns).
    exports
        File name → the export's records as a string DataFrame (empty string = empty cell) in
        file order, with bookkeeping columns ``_pid`` (participant index, -1 for none),
        ``_t`` (timepoint index, -1 for an unmapped event), ``_accept`` (a correct pipeline
        keeps the row), ``_uid`` and ``_row`` (spreadsheet row number).
    files
        File name → exact bytes written by :func:`write_cohort`, in writing order.
    truth
        The content of ``truth.json``.
    """

    params: SimulationParams
    seed: int
    truth_scores: pd.DataFrame
    roster: pd.DataFrame
    exports: dict[str, pd.DataFrame]
    files: dict[str, bytes] = field(repr=False)
    truth: dict[str, Any] = field(repr=False)


def simulate_cohort(
    params: SimulationParams | None = None, *, preset: str = "demo", seed: int
) -> SimulatedCohort:
    """Draw a synthetic cohort; the same ``(params, seed)`` gives the same bytes.

    Parameters
    ----------
    params
        Model parameters; ``None`` uses ``PRESETS[preset]``.
    preset
        Name of a preset in :data:`PRESETS` (ignored when ``params`` is given).
    seed
        Seed of ``numpy.random.default_rng`` (a non-negative integer).

    Raises
    ------
    InputError
        Unknown preset name.
    """
    if params is None:
        if preset not in PRESETS:
            raise InputError(
                f"Unknown simulation preset '{preset}'; choose one of {', '.join(sorted(PRESETS))}."
            )
        params = PRESETS[preset]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}.")
    seed = int(seed)
    rng = np.random.default_rng(seed)
    people = draw_people(params, rng)
    latent = draw_latent(params, rng, people)
    answers = draw_answers(params, rng, latent)
    responded = draw_dropout(params, rng, people, latent)
    blanks = exports.draw_blanks(params, rng, answers)
    identities = exports.draw_identities(people, rng)
    qual = exports.qualtrics_table(params, rng, people, identities, answers, blanks, responded)
    red = exports.redcap_table(params, rng, people, answers, blanks, responded)
    lime = exports.limesurvey_table(params, rng, people, answers, blanks, responded)
    q_problems: list[dict[str, Any]] = []
    r_problems: list[dict[str, Any]] = []
    l_problems: list[dict[str, Any]] = []
    if params.inject_problems:
        qual, q_problems = problems.inject_qualtrics(params, rng, qual, answers)
        red, r_problems = problems.inject_redcap(params, rng, red, people, answers)
        lime, l_problems = problems.inject_limesurvey(params, rng, lime, answers)
    qual, q_problems = problems.finalise(
        qual, q_problems, platform="qualtrics", file=QUALTRICS_FILE
    )
    red, r_problems = problems.finalise(red, r_problems, platform="redcap", file=REDCAP_FILE)
    lime, l_problems = problems.finalise(
        lime, l_problems, platform="limesurvey", file=LIMESURVEY_FILE
    )
    roster = exports.roster_table(people, identities)

    files = {
        ROSTER_FILE: exports.to_csv_bytes(roster),
        QUALTRICS_FILE: exports.to_csv_bytes(qual, exports.qualtrics_header(params, answers)),
        REDCAP_FILE: exports.to_csv_bytes(red),
        LIMESURVEY_FILE: exports.to_limesurvey_bytes(lime),
    }

    n = len(people)
    tables = {QUALTRICS_FILE: qual, REDCAP_FILE: red, LIMESURVEY_FILE: lime}
    found = {QUALTRICS_FILE: q_problems, REDCAP_FILE: r_problems, LIMESURVEY_FILE: l_problems}
    accepted = np.zeros((n, len(TIMEPOINTS)), dtype=bool)
    exported = {k: np.full(a.raw.shape, np.nan) for k, a in answers.items()}
    invalid = {}
    for name, table in tables.items():
        items, acc, bad = truth.accepted_items(table, answers, n, platform=document.PLATFORM[name])
        if (accepted & acc).any():
            raise AssertionError(f"{name}: a participant x timepoint accepted in two exports")
        accepted |= acc
        exported = {k: np.where(np.isnan(v), items[k], v) for k, v in exported.items()}
        invalid[name] = bad
    tidy = truth.tidy_truth(params, people, latent, answers, responded, exported, accepted)
    files[TRUTH_SCORES_FILE] = truth.truth_scores_csv(tidy)

    doc = document.truth_document(
        params=params,
        seed=seed,
        people=people,
        latent=latent,
        answers=answers,
        tidy=tidy,
        roster=roster,
        tables=tables,
        problems=found,
        invalid=invalid,
        accepted=accepted,
        files=files,
    )
    files[TRUTH_FILE] = document.dumps(doc)
    return SimulatedCohort(
        params=params,
        seed=seed,
        truth_scores=tidy,
        roster=roster,
        exports=tables,
        files=files,
        truth=doc,
    )


def _atomic_write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_cohort(cohort: SimulatedCohort, out_dir: str | Path) -> list[Path]:
    """Write the roster, the exports, ``truth_scores.csv`` and ``truth.json`` into ``out_dir``.

    Each file is written to a temporary name and renamed, so readers never see a partial
    file. Returns the paths in writing order.
    """
    out = Path(out_dir)
    return [_atomic_write(out / name, data) for name, data in cohort.files.items()]


def write_config(
    cohort: SimulatedCohort,
    data_dir: str | Path,
    config_path: str | Path,
    *,
    cohort_name: str,
    title: str | None = None,
) -> Path:
    """Write a config YAML (shape of ``config/config.yaml``) analysing the files in ``data_dir``.

    Paths in it are ``data_dir`` (as given, relative to the working directory unless absolute)
    joined with the file names :func:`write_cohort` uses.
    """
    base = str(data_dir).replace(os.sep, "/").rstrip("/") or "."

    def at(name: str) -> str:
        return f"{base}/{name}"

    title = title or (
        f"Balint groups (synthetic cohort '{cohort_name}', preset "
        f"{cohort.params.name}, seed {cohort.seed})"
    )
    config = {
        "cohort": cohort_name,
        "title": title,
        "synthetic": {"seed": cohort.seed, "preset": cohort.params.name},
        "design": {
            "timepoints": list(TIMEPOINTS),
            "intervention": INTERVENTION,
            "control": CONTROL,
            "randomised": False,
        },
        "participants": {
            "path": at(ROSTER_FILE),
            "id": "participant_id",
            "group": "group",
            "cluster": "balint_group",
            "sessions": "sessions_attended",
        },
        "exports": [
            {
                "path": at(QUALTRICS_FILE),
                "format": "qualtrics",
                "timepoint": TIMEPOINTS[0],
                "id": "ExternalReference",
            },
            {
                "path": at(REDCAP_FILE),
                "format": "redcap",
                "id": "record_id",
                "timepoint_column": "redcap_event_name",
                "timepoint_values": {e: TIMEPOINTS[t] for t, e in exports.REDCAP_EVENTS.items()},
                "instruments": {
                    k: exports.INSTRUMENT_LAYOUT[k].columns["redcap"]
                    for k in cohort.params.instruments
                },
            },
            {
                "path": at(LIMESURVEY_FILE),
                "format": "limesurvey",
                "timepoint": TIMEPOINTS[exports.LIMESURVEY_TIMEPOINT],
                "id": exports.LIMESURVEY_ID,
                "instruments": {
                    k: exports.INSTRUMENT_LAYOUT[k].columns["limesurvey"]
                    for k in cohort.params.instruments
                },
            },
        ],
        "instruments": {
            k: exports.INSTRUMENT_LAYOUT[k].columns["qualtrics"] for k in cohort.params.instruments
        },
        "analysis": {
            "primary": cohort.params.scales[0].key,
            "covariates": ["age", "years_in_practice"],
            "alpha": 0.05,
            "min_cell_size": 5,
            "strict": False,
        },
        "privacy": {"key_env": "BALINT_ID_KEY", "allow_demo_key": True},
    }
    text = (
        f"# Synthetic cohort written by balint_analysis.simulate (preset {cohort.params.name}, "
        f"seed {cohort.seed}).\n# Keys are documented in config/README.md.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    )
    return _atomic_write(Path(config_path), text.encode("utf-8"))
