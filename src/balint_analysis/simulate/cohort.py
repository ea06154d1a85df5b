"""Draw a synthetic cohort, write its files and a config that analyses them.

The package docstring (:mod:`balint_analysis.simulate`) describes the files and the layouts;
:func:`simulate_cohort` draws the people, scores and answers from
:mod:`~balint_analysis.simulate.model`, writes them through a layout and records the truth.
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
from balint_analysis.simulate import document, exports, truth
from balint_analysis.simulate.exports import ROSTER_FILE, TRUTH_FILE, TRUTH_SCORES_FILE
from balint_analysis.simulate.layouts import Layout, export_entries, get_layout
from balint_analysis.simulate.model import (
    Answers,
    Latent,
    draw_answers,
    draw_dropout,
    draw_latent,
    draw_people,
)
from balint_analysis.simulate.params import PRESETS, TIMEPOINTS, SimulationParams
from balint_analysis.simulate.platforms.common import Context, ExportFile

__all__ = ["SimulatedCohort", "simulate_cohort", "write_cohort", "write_config"]


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
        expected`` (see :mod:`balint_analysis.simulate.truth`); the layout's timepoints, ids
        and group labels.
    roster
        The roster as written (string columns); ``None`` for a layout without one.
    exports
        File name → the export's records as a string DataFrame (empty string = empty cell) in
        file order, with bookkeeping columns ``_pid`` (participant index, -1 for none),
        ``_t`` (timepoint index, -1 for an unmapped event), ``_accept`` (a correct pipeline
        keeps the row), ``_uid`` and ``_row`` (spreadsheet row number).
    files
        File name → exact bytes written by :func:`write_cohort`, in writing order.
    truth
        The content of ``truth.json``.
    layout
        The export layout (:data:`LAYOUTS`).
    export_files
        The layout's :class:`~balint_analysis.simulate.platforms.common.ExportFile` records
        (column names, coding, config entries), in writing order.
    """

    params: SimulationParams
    seed: int
    truth_scores: pd.DataFrame
    roster: pd.DataFrame | None
    exports: dict[str, pd.DataFrame]
    files: dict[str, bytes] = field(repr=False)
    truth: dict[str, Any] = field(repr=False)
    layout: str = "demo"
    export_files: tuple[ExportFile, ...] = field(default=(), repr=False)


def simulate_cohort(
    params: SimulationParams | None = None,
    *,
    preset: str | None = None,
    seed: int,
    layout: str = "demo",
) -> SimulatedCohort:
    """Draw a synthetic cohort; the same ``(params, seed, layout)`` gives the same bytes.

    Parameters
    ----------
    params
        Model parameters; ``None`` uses ``PRESETS[preset]``.
    preset
        Name of a preset in :data:`PRESETS` (ignored when ``params`` is given); default: the
        layout's preset (``demo``; ``tutorial`` for the ``tutorial`` layout).
    seed
        Seed of ``numpy.random.default_rng`` (a non-negative integer).
    layout
        Export layout, one of :data:`LAYOUTS` (``demo``, ``tutorial``, ``surveymonkey``,
        ``sosci``). The people, latent scores and answers do not depend on it.

    Raises
    ------
    InputError
        Unknown preset or layout name.
    """
    lay = get_layout(layout)
    if params is None:
        preset = lay.preset if preset is None else preset
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
    built = lay.build(Context(params, rng, people, identities, answers, blanks, responded))
    people = built.people

    files: dict[str, bytes] = {}
    if built.roster is not None:
        files[ROSTER_FILE] = exports.to_csv_bytes(built.roster)
    files |= {f.name: f.data for f in built.files}

    n = len(people)
    accepted = np.zeros((n, len(TIMEPOINTS)), dtype=bool)
    exported = {k: np.full(a.raw.shape, np.nan) for k, a in answers.items()}
    invalid = {}
    for f in built.files:
        items, acc, bad = truth.accepted_items(
            f.table, answers, n, columns=f.columns, coding=f.coding
        )
        if (accepted & acc).any():
            raise AssertionError(f"{f.name}: a participant x timepoint accepted in two exports")
        accepted |= acc
        exported = {k: np.where(np.isnan(v), items[k], v) for k, v in exported.items()}
        invalid[f.name] = bad
    k = lay.n_timepoints
    if accepted[:, k:].any():
        raise AssertionError(f"layout {lay.name}: an accepted row after its last wave")
    latent, answers, responded = _waves(latent, answers, responded, k)
    accepted, exported = accepted[:, :k], {i: v[:, :k] for i, v in exported.items()}
    tidy = truth.tidy_truth(params, people, latent, answers, responded, exported, accepted)
    files[TRUTH_SCORES_FILE] = truth.truth_scores_csv(tidy)

    doc = document.truth_document(
        params=params,
        seed=seed,
        layout=lay.name,
        conventions=document.CONVENTIONS | lay.conventions,
        timepoints=lay.timepoints,
        labels=lay.labels,
        people=people,
        latent=latent,
        answers=answers,
        tidy=tidy,
        roster=built.roster,
        exports=built.files,
        invalid=invalid,
        accepted=accepted,
        files=files,
    )
    files[TRUTH_FILE] = document.dumps(doc)
    return SimulatedCohort(
        params=params,
        seed=seed,
        truth_scores=tidy,
        roster=built.roster,
        exports={f.name: f.table for f in built.files},
        files=files,
        truth=doc,
        layout=lay.name,
        export_files=tuple(built.files),
    )


def _waves(
    latent: Latent, answers: dict[str, Answers], responded: np.ndarray, k: int
) -> tuple[Latent, dict[str, Answers], np.ndarray]:
    """The model's arrays restricted to the first ``k`` timepoints (the written waves)."""
    if k == latent.eta.shape[1]:
        return latent, answers, responded
    cut = Latent(eta=latent.eta[:, :k], person=latent.person, cluster=latent.cluster)
    sliced = {
        i: Answers(a.instrument, a.keyed[:, :k], a.raw[:, :k], a.alternative)
        for i, a in answers.items()
    }
    return cut, sliced, responded[:, :k]


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


def _check_layout(cohort: SimulatedCohort, layout: str | None) -> Layout:
    lay = get_layout(cohort.layout if layout is None else layout)
    if lay.name != cohort.layout:
        raise ValueError(
            f"the cohort was simulated with layout '{cohort.layout}', not '{lay.name}'; "
            f"simulate it with simulate_cohort(..., layout='{lay.name}')."
        )
    return lay


def write_cohort(
    cohort: SimulatedCohort, out_dir: str | Path, *, layout: str | None = None
) -> list[Path]:
    """Write the roster, the exports, ``truth_scores.csv`` and ``truth.json`` into ``out_dir``.

    Each file is written to a temporary name and renamed, so readers never see a partial
    file. Returns the paths in writing order. ``layout`` (default: the cohort's) must be the
    layout the cohort was simulated with: the truth describes those files.

    Raises
    ------
    ValueError
        ``layout`` differs from the cohort's.
    """
    _check_layout(cohort, layout)
    out = Path(out_dir)
    return [_atomic_write(out / name, data) for name, data in cohort.files.items()]


def write_config(
    cohort: SimulatedCohort,
    data_dir: str | Path,
    config_path: str | Path,
    *,
    cohort_name: str,
    title: str | None = None,
    layout: str | None = None,
) -> Path:
    """Write a config YAML (shape of ``config/config.yaml``) analysing the files in ``data_dir``.

    Paths in it are ``data_dir`` (as given, relative to the working directory unless absolute)
    joined with the file names :func:`write_cohort` uses. ``layout`` (default: the cohort's)
    must be the cohort's layout; a layout other than ``demo`` is recorded as
    ``synthetic.layout``.

    Raises
    ------
    ValueError
        ``layout`` differs from the cohort's.
    """
    lay = _check_layout(cohort, layout)
    base = str(data_dir).replace(os.sep, "/").rstrip("/") or "."

    def at(name: str) -> str:
        return f"{base}/{name}"

    title = title or (
        f"Balint groups (synthetic cohort '{cohort_name}', preset "
        f"{cohort.params.name}, seed {cohort.seed})"
    )
    synthetic: dict[str, Any] = {"seed": cohort.seed, "preset": cohort.params.name}
    if lay.name != "demo":
        synthetic["layout"] = lay.name
    entries, instruments = export_entries(list(cohort.export_files), at)
    config: dict[str, Any] = {
        "cohort": cohort_name,
        "title": title,
        "synthetic": synthetic,
        "design": {
            "timepoints": list(lay.timepoints),
            "intervention": lay.intervention,
            "control": lay.control,
            "randomised": False,
        },
    }
    if cohort.roster is not None:
        config["participants"] = {
            "path": at(ROSTER_FILE),
            "id": "participant_id",
            "group": "group",
            "cluster": "balint_group",
            "sessions": "sessions_attended",
        }
    config |= {
        "exports": entries,
        "instruments": instruments,
        "analysis": {
            "primary": cohort.params.scales[0].key,
            "covariates": ["age", "years_in_practice"] if cohort.roster is not None else [],
            "alpha": 0.05,
            "min_cell_size": 5,
            "strict": False,
        },
        "privacy": {"key_env": "BALINT_ID_KEY", "allow_demo_key": True},
    }
    layout_note = f", layout {lay.name}" if lay.name != "demo" else ""
    text = (
        f"# Synthetic cohort written by balint_analysis.simulate (preset {cohort.params.name}, "
        f"seed {cohort.seed}{layout_note}).\n# Keys are documented in config/README.md.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    )
    return _atomic_write(Path(config_path), text.encode("utf-8"))
