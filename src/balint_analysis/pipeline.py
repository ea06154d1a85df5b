"""The I/O edge of each workflow stage: read files, call the pure stage function, write files.

``workflow/scripts/<stage>.py`` calls :func:`run_stage` with the Snakemake object; the CLI can
call the same functions with plain paths. Heavy libraries are imported inside each stage so a
stage pays only for what it uses.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from balint_analysis.config import StudyConfig, load_stage_config
from balint_analysis.errors import InputError

__all__ = ["STAGES", "as_read_back", "finish_job", "read_inputs", "read_participants", "run_job",
           "run_stage"]


def _empty_roster(cfg: StudyConfig):
    import pandas as pd

    return pd.DataFrame(columns=["row", "participant_id", "group", "cluster", "sessions",
                                 *cfg.analysis.covariates])  # fmt: skip


def read_inputs(cfg: StudyConfig, n_jobs: int = 1) -> tuple[Any, Any, dict]:
    """Ingest every export and the roster, as validation receives them in ``prepare``: text
    tables (missing = NaN) read back from their CSV form, item columns that hold only numbers
    as those numbers (``Int8``/``Int16`` codes where exact, else float64), and the ingest notes
    as JSON. ``n_jobs`` > 1 reads the files in that many worker processes (same result)."""
    import functools
    import json

    from balint_analysis.handover import hand_over, text_round_trip
    from balint_analysis.ingest import ingest
    from balint_analysis.scoring import answer_dtypes

    # Per export: one raw frame at a time, and the answers' text never held for all exports
    # at once (validation would otherwise hold it next to its numbers).
    per_export = functools.partial(hand_over, narrow=answer_dtypes(cfg.instruments))
    ingested = ingest(cfg, hand_over=per_export, n_jobs=n_jobs,
                      roster_hand_over=text_round_trip)  # fmt: skip
    responses = ingested.responses
    roster = None
    if cfg.roster:
        roster = (ingested.roster if ingested.roster is not None
                  else text_round_trip(_empty_roster(cfg)))  # fmt: skip
    return responses, roster, json.loads(json.dumps(ingested.info))


def prepare_stage(
    cfg: StudyConfig,
    inp: Mapping,
    out: Mapping,
    *,
    key_fingerprint: str | None = None,
    key_history: str | None = None,
    threads: int = 1,
) -> None:
    """ingest -> validate -> pseudonymise -> score in one process: the exports' raw participant
    codes exist only in memory, and a run pays one interpreter start instead of four (the
    stages share their imports and their inputs: the instrument definitions drive all four).

    ``key_fingerprint`` is the fingerprint of the key the workflow planned with (a param, so a
    new key re-runs this stage); ``key_history`` the file recording the cohort's previous
    fingerprints: a key other than the last one stops the run unless
    ``privacy.rotated_key_fingerprint`` declares it, and ``pseudonymisation.json`` then says
    that the pseudonyms changed (the history is extended only once every output is written).
    ``threads``: the cores the job may use (the files are read in that many processes).
    """
    from balint_analysis.coverage import coverage_problems
    from balint_analysis.handover import csv_round_trip, text_round_trip
    from balint_analysis.identifiers import key_change, read_key_history
    from balint_analysis.io import release_freed_memory, write_csv, write_json
    from balint_analysis.privacy import PSEUDONYMISED_COLUMNS, pseudonymise, resolve_key
    from balint_analysis.privacy import key_fingerprint as fingerprint_of
    from balint_analysis.scoring import answer_dtypes
    from balint_analysis.validate import screen, summarise
    from balint_analysis.workers import run_beside

    key, demo = resolve_key(cfg.key_env, allow_demo_key=cfg.allow_demo_key)
    fingerprint = fingerprint_of(key)
    if key_fingerprint is not None and fingerprint != key_fingerprint:
        raise InputError(
            f"privacy: the key in {cfg.key_env} changed while the workflow was running; run "
            "it again."
        )
    # Before writing anything: a damaged history or an undeclared new key stops the run.
    history = read_key_history(key_history)
    change = key_change(history, fingerprint, rotated_to=cfg.rotated_key_fingerprint,
                        key_env=cfg.key_env, history_path=key_history)  # fmt: skip
    responses, roster, info = read_inputs(cfg, n_jobs=threads)
    screened = screen(responses, roster, cfg, info)
    empty = coverage_problems(screened.valid, responses, roster, screened.rejected, cfg)
    if empty:
        more = f" ({len(empty) - 1} more like it.)" if len(empty) > 1 else ""
        raise InputError(f"{empty[0]}{more} `balint-analysis check` lists the rows it rejects.")
    roster_rows = roster[[]] if roster is not None else None  # the flow counts its rows
    del responses, roster  # each large frame is let go once used: bounded peak memory
    release_freed_memory()

    def summary() -> tuple:  # small results: the flow and the careless-responding flags
        return summarise(screened, roster_rows, cfg, info)

    def processed() -> tuple:  # the large tables, in this process
        # The answers read back as narrow integer codes (a quarter of float64's memory),
        # through pseudonymisation and the writing of responses.csv (the same text).
        # Only the columns pseudonymisation reads (time stamps, durations... are not kept).
        used = [c for c in screened.valid.columns if c in PSEUDONYMISED_COLUMNS or "__" in c]
        valid = csv_round_trip(screened.valid[used], narrow=answer_dtypes(cfg.instruments),
                               dtype={"participant_id": str, "timepoint": str})  # fmt: skip
        valid_roster = None
        if cfg.roster:
            kept = screened.roster if screened.roster is not None else _empty_roster(cfg)
            valid_roster = text_round_trip(kept)
        return pseudonymise(valid, valid_roster, key=key, covariates=cfg.analysis.covariates,
                            covariate_levels=cfg.analysis.covariate_levels)  # fmt: skip

    if threads > 1:  # the summary in a forked process beside the large tables' steps here
        (flow, flags), (pseudonymised, participants) = run_beside(
            summary, processed, what="validating the responses", alone="validate in one process")
    else:
        flow, flags = summary()
        screened.table = None
        release_freed_memory()
        pseudonymised, participants = processed()
    screened.table = screened.valid = screened.roster = None
    write_csv(screened.rejected, out["rejected"])
    if "careless" in out:
        write_csv(flags, out["careless"])
    write_json(flow, out["flow"])
    screened.rejected = flags = None
    release_freed_memory()
    write_json(
        {"method": "HMAC-SHA256", "key_env": cfg.key_env, "demo_key_used": demo,
         "key_fingerprint": fingerprint, **change},
        out["pseudonymisation"],
    )  # fmt: skip
    tables = {"pseudonymised": pseudonymised, "participants": participants}
    parts = [("processed",)]
    if "scores" in out:
        # The score step sees the responses as it would read them back from responses.csv
        # (a group label "01" is scored as the number 1, as in the file), from memory: the
        # file is written beside the scoring instead of before it and read again.
        tables["scored"] = as_read_back(pseudonymised, cfg)
        # Two parts of about equal time; a fault names responses.csv first.
        parts = [("processed", "reliability", "item_stats", "flags"), ("scores",)]
    del pseudonymised, participants
    _write_parts(cfg, tables, out, parts, threads)
    if key_history and history[-1:] != [fingerprint]:
        write_json({"fingerprints": [*history, fingerprint]}, key_history)


def score_stage(cfg: StudyConfig, inp: Mapping, out: Mapping, threads: int = 1) -> None:
    """Scale scores, reliability, item statistics and safety-flag counts of ``responses.csv``
    (read back from the file, as written: the scores are those of the processed data).

    ``threads`` > 1: ``scores.csv`` is written by one forked process and the other three
    outputs by another (:func:`_write_parts`).
    """
    import pandas as pd

    from balint_analysis.scoring import answer_dtypes

    try:  # the answers as narrow integer codes: a quarter of float64's memory, same scores
        codes = answer_dtypes(cfg.instruments)
        responses = pd.read_csv(inp["responses"], usecols=_scored,
                                dtype={**codes, **_SCORED_TEXT})  # fmt: skip
    except (TypeError, ValueError, OverflowError):  # an answer that is not a code: as before
        responses = pd.read_csv(inp["responses"], usecols=_scored, dtype=_SCORED_TEXT)
    parts = [("scores",), ("reliability", "item_stats", "flags")]
    _write_parts(cfg, {"scored": responses}, out, parts, threads)


#: The columns of responses.csv the score step reads as text whatever they hold.
_SCORED_TEXT = {"participant": str, "timepoint": str}


def _scored(column: str) -> bool:
    """Whether the score step reads this column of responses.csv (not the source file and
    row: no score output uses them)."""
    return column in ("participant", "group", "timepoint") or "__" in column


def as_read_back(responses: Any, cfg: StudyConfig) -> Any:
    """The columns of ``responses`` that :func:`score_stage` reads, with the values it would
    read from ``write_csv(responses)``: formulas neutralised, the texts as ``read_csv`` reads
    them back (:func:`balint_analysis.handover.csv_round_trip`), the answers as narrow integer
    codes where exact (they already are after prepare's hand-over: kept, not copied)."""
    from balint_analysis.handover import csv_round_trip
    from balint_analysis.privacy import neutralise_formulas
    from balint_analysis.scoring import answer_dtypes

    used = responses[[c for c in responses.columns if _scored(c)]]
    return csv_round_trip(neutralise_formulas(used), narrow=answer_dtypes(cfg.instruments),
                          dtype={c: t for c, t in _SCORED_TEXT.items() if c in used})  # fmt: skip


def _write_parts(cfg: StudyConfig, tables: Mapping[str, Any], out: Mapping,
                 parts: list[tuple[str, ...]], threads: int) -> None:  # fmt: skip
    """Write the outputs named by each entry of ``parts`` (see :func:`_write_outputs`); with
    ``threads`` > 1 each entry in a forked process that inherits ``tables`` (never pickled)
    and dies with this one: the same files in about the time of the longest entry."""
    import functools

    from balint_analysis.workers import map_inherited

    tasks = [functools.partial(_write_outputs, cfg, tables, out, names) for names in parts]
    if threads < 2:
        for task in tasks:
            task()
        return
    map_inherited(tasks, threads, what="scoring the responses", alone="score in one process")


def _write_outputs(cfg: StudyConfig, tables: Mapping[str, Any], out: Mapping,
                   names: tuple[str, ...]) -> None:  # fmt: skip
    """The outputs named by ``names``: ``"processed"`` (``responses.csv`` and
    ``participants.csv`` from ``tables["pseudonymised"]``/``["participants"]``), and of
    ``tables["scored"]`` the outputs ``"scores"``, ``"reliability"``, ``"item_stats"`` and
    ``"flags"`` (the last when ``out`` names it)."""
    import pandas as pd

    from balint_analysis.io import write_csv, write_csv_parts
    from balint_analysis.scoring import (
        SCORE_COLUMNS,
        flag_counts,
        item_descriptives,
        reliability,
        score_parts,
    )

    instruments = dict(cfg.instruments)
    timepoints = list(cfg.design.timepoints)
    if "processed" in names:
        write_csv(tables["pseudonymised"], out["responses"])
        write_csv(tables["participants"], out["participants"])
    responses = tables.get("scored")
    if "scores" in names:
        # One scale at a time: the bytes of ``write_csv(score_responses(...))`` without the
        # long table of every scale (rows x scales) in memory. The text labels every part
        # repeats are categories: made distinct once, not again for each part's writing.
        labels = {c: pd.Categorical.from_codes(*pd.factorize(responses[c]))  # unsorted
                  for c in ("participant", "group", "timepoint")
                  if isinstance(responses[c].dtype, pd.StringDtype)
                  or responses[c].dtype == object}  # fmt: skip
        write_csv_parts(score_parts(responses.assign(**labels), instruments), SCORE_COLUMNS,
                        out["scores"])  # fmt: skip
        del labels
    if "reliability" in names:
        write_csv(reliability(responses, instruments, timepoints), out["reliability"])
    if "item_stats" in names:
        write_csv(item_descriptives(responses, instruments, timepoints), out["item_stats"])
    if "flags" in names and "flags" in out:
        groups = list(cfg.design.groups)
        write_csv(flag_counts(responses, instruments, timepoints, groups), out["flags"])


def read_participants(path: str | Path, covariate_levels: Mapping[str, Any]) -> Any:
    """``participants.csv`` as the model stage reads it: ids, Balint groups and categorical
    covariates as text (levels "1", "2" beside a blank cell would otherwise be read as the
    floats 1.0, 2.0 and never match their declared labels), other covariates as numbers."""
    import pandas as pd

    text = {"participant": str, "cluster": str, **dict.fromkeys(covariate_levels, str)}
    return pd.read_csv(path, dtype=text)


def model_stage(cfg: StudyConfig, inp: Mapping, out: Mapping, threads: int = 1) -> None:
    import pandas as pd

    from balint_analysis.io import write_csv, write_json
    from balint_analysis.models import analyse_outcomes

    scores = pd.read_csv(inp["scores"], dtype={"participant": str, "category": str})
    # A derived scale (WHO-5 percentage = raw x 4) carries its source's effect: not re-tested.
    derived = [f"{i}.{s}" for i, inst in cfg.instruments.items()
               for s, scale in inst.scales.items() if scale.derived_from]  # fmt: skip
    scores = scores[~(scores["instrument"] + "." + scores["scale"]).isin(derived)]
    participants = read_participants(inp["participants"], cfg.analysis.covariate_levels)
    reliability = pd.read_csv(inp["reliability"]) if inp.get("reliability") else None
    fuzzy_links = None
    if inp.get("flow") and inp.get("responses"):
        import json

        from balint_analysis.models.inputs import fuzzy_linked_answers

        matching = json.loads(Path(inp["flow"]).read_text("utf-8")).get("code_matching", {})
        if matching.get("method") == "tolerant":
            keys = pd.read_csv(inp["responses"], usecols=["participant", "timepoint", "source",
                                                          "row"], dtype=str)  # fmt: skip
            fuzzy_links = fuzzy_linked_answers(matching, keys)
    design = cfg.design
    results = analyse_outcomes(
        scores,
        participants,
        timepoints=list(design.timepoints),
        intervention=design.intervention,
        control=design.control,
        primary=cfg.analysis.primary,
        primary_timepoint=cfg.analysis.primary_timepoint,
        covariates=list(cfg.analysis.covariates),
        covariate_levels=cfg.analysis.covariate_levels,
        alpha=cfg.analysis.alpha,
        use_clusters=cfg.roster is not None and cfg.roster.cluster is not None,
        reliability=reliability,
        fuzzy_links=fuzzy_links,
        n_jobs=threads,
    )
    write_csv(results.effects, out["effects"])
    write_csv(results.emmeans, out["emmeans"])
    write_json(results.diagnostics, out["models"])
    for name in ("sensitivity", "clinical", "cutoffs", "dose"):
        if name in out:
            write_csv(getattr(results, name), out[name])
    if "model_dir" in out:  # one JSON per outcome: models/<instrument>.<scale>.json
        model_dir = Path(out["model_dir"])
        model_dir.mkdir(parents=True, exist_ok=True)
        for key, record in results.model_files.items():
            write_json(record, model_dir / f"{key}.json")


def report_stage(cfg: StudyConfig, inp: Mapping, out: Mapping) -> None:
    from balint_analysis.report import write_report

    processed = Path(inp["effects"]).parent
    write_report(processed, cfg, out["html"], input_files=list(inp.get("raw", [])))


def power_chunk_stage(cfg: StudyConfig, inp: Mapping, out: Mapping, chunk: int) -> None:
    from balint_analysis.io import write_csv
    from balint_analysis.power import chunk_replicates, grid_cells, power_settings, run_chunk

    settings = power_settings(cfg.raw)
    cells = grid_cells(settings)
    results = run_chunk(cells, replicates=chunk_replicates(settings, chunk),
                        seed=settings["seed"], alpha=settings["alpha"])  # fmt: skip
    write_csv(results, out["results"], float_digits=10)


def power_gather_stage(cfg: StudyConfig, inp: Mapping, out: Mapping) -> None:
    import pandas as pd

    from balint_analysis.io import atomic_write, write_csv
    from balint_analysis.power import GRID_SOURCES, grid_cells, power_settings, summarise
    from balint_analysis.power.page import render_power_page

    settings = power_settings(cfg.raw)
    cells = grid_cells(settings)
    results = pd.concat([pd.read_csv(p) for p in inp["chunks"]], ignore_index=True)
    summary = summarise(cells, results.sort_values(["cell", "replicate"]), settings["alpha"])
    write_csv(summary, out["csv"])
    page = render_power_page(summary, title=f"Power analysis for the next cohort ({cfg.title})",
                             alpha=settings["alpha"], replicates=settings["replicates"],
                             seed=settings["seed"], sources=GRID_SOURCES)  # fmt: skip
    atomic_write(out["html"], lambda tmp: tmp.write_text(page, encoding="utf-8"))


STAGES: dict[str, Callable[..., None]] = {
    "prepare": prepare_stage,
    "score": score_stage,
    "model": model_stage,
    "report": report_stage,
    "power_chunk": power_chunk_stage,
    "power_gather": power_gather_stage,
    "missing_chunk": lambda *a, **k: _missing_stage("missing_chunk_stage")(*a, **k),
    "missing_gather": lambda *a, **k: _missing_stage("missing_gather_stage")(*a, **k),
}


def _missing_stage(name: str) -> Callable[..., None]:  # imported only by its own jobs
    from balint_analysis.missing import stage

    return getattr(stage, name)


def run_stage(name: str, config: Mapping[str, Any], inputs: Mapping, outputs: Mapping,
              log: str | None = None, **extra: Any) -> None:  # fmt: skip
    """Run one stage on the config keys it declared (its rule's ``config`` param, see
    :mod:`balint_analysis.stages`), its warnings going to ``log``.

    An :class:`InputError`, and a fault of the machine (read-only folder, full disk, file-size
    limit, too many open files, memory exhausted: :func:`balint_analysis.faults.fault_line`),
    becomes one line on the terminal (and in the log) and exit status 1, never a traceback.
    """
    from balint_analysis.faults import fault_line, ignore_file_size_signal

    ignore_file_size_signal()  # a write past `ulimit -f` fails with EFBIG, reported below
    folders = sorted({str(Path(p).parent) for p in outputs.values() if isinstance(p, str)})
    where = folders[0] if len(folders) == 1 else f"the outputs of step {name}"
    log_file = None
    try:
        log_file = open(log, "w", encoding="utf-8") if log else None  # noqa: SIM115
        with contextlib.redirect_stderr(log_file or sys.stderr):
            STAGES[name](load_stage_config(config, name), inputs, outputs, **extra)
    except InputError as exc:
        _stop(f"balint-analysis {name}: {exc}", log_file)
    except (OSError, MemoryError, ValueError) as exc:  # ValueError: pandas' ParserError
        line = fault_line(exc, where)
        if line is None:
            raise
        _stop(f"balint-analysis {name}: {line}", log_file)
    finally:
        if log_file:
            with contextlib.suppress(OSError):  # closing flushes: the disk may be full
                log_file.close()


def _stop(message: str, log_file: Any) -> None:
    """Print the one line to the job's log (if it can still be written) and the terminal, and
    end the job with status 1."""
    if log_file:
        with contextlib.suppress(OSError):
            print(message, file=log_file, flush=True)
    print(message, file=sys.__stderr__, flush=True)
    raise SystemExit(1) from None


def run_job(job: Any, name: str, **extra: Any) -> None:
    """Run stage ``name`` as a workflow job, then end the job's process (:func:`finish_job`).

    ``job`` is the ``snakemake`` object of a ``workflow/scripts/*.py`` wrapper: its ``config``
    param, inputs, outputs and log go to :func:`run_stage`, with ``extra`` keyword arguments.
    """
    run_stage(name, job.params.config, dict(job.input.items()), dict(job.output.items()),
              job.log[0], **extra)  # fmt: skip
    finish_job()


def finish_job() -> None:
    """End a workflow job's process now that its stage has written and closed its outputs.

    Called last by the ``workflow/scripts/*.py`` wrappers (never in-process: it ends the
    interpreter). Interpreter finalisation, freeing every pandas/numpy/scipy object and module
    one by one, took ~0.2 s per job and produces nothing: the stage's files are written
    atomically and closed, its log is closed by :func:`run_stage`, worker pools are shut down.
    Standard streams are flushed, then ``os._exit(0)`` skips the teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
