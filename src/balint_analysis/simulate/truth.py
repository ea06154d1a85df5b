"""The known truth of a synthetic cohort: tidy scores, realised effects, ``truth.json``.

Three scores are kept per participant × timepoint × scale (units of the published score;
derived scales such as the WHO-5 percentage included):

``latent``
    ``η`` of the data-generating model (exists for everyone, answered or not).
``observed``
    The score of the generated answers (every item, scoring direction) — what the participant
    would report; defined for everyone, ``responded`` says whether they did answer.
``expected``
    What a correct pipeline scores from the exports: only the accepted row of that participant
    × timepoint (previews, unfinished/incomplete/not-submitted responses, earlier duplicates,
    unknown records and unmapped events rejected), invalid item values (out of range, text) and
    blanks set missing, reverse-keyed items reversed, then the instrument's missing-item rule
    (mean of the answered items, × number of items for sums, mapped onto 0–100 for ``percent``
    scales, when at least ``Scale.min_answered`` items are answered; unrounded).

The effect of a scale at a post-baseline timepoint is the difference in mean change from
baseline, Balint minus control, among participants with the score at both timepoints; it is
reported for ``latent`` and ``observed`` (participants who responded) and ``expected``
(participants with accepted rows) next to the true ``θ``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import Coding
from balint_analysis.simulate.model import Answers, Latent, variance_components
from balint_analysis.simulate.outcomes import outcomes, score_items
from balint_analysis.simulate.params import CONTROL, INTERVENTION, TIMEPOINTS, SimulationParams

__all__ = ["accepted_items", "effects", "tidy_truth", "truth_scores_csv"]

DIGITS = 6


def _r(x: float) -> float | None:
    """A JSON-safe rounded float (``None`` for NaN)."""
    x = float(x)
    return None if np.isnan(x) else round(x, DIGITS) + 0.0


def accepted_items(
    table: pd.DataFrame,
    answers: dict[str, Answers],
    n: int,
    *,
    columns: dict[str, list[str]],
    coding: Coding,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[tuple[int, str]]]:
    """Item values a correct pipeline keeps from one export.

    Parameters
    ----------
    table
        The export's records with the bookkeeping columns (``_pid``, ``_t``, ``_accept``,
        ``_row``).
    answers
        The generated answers (instrument definitions and item counts).
    n
        Number of participants.
    columns
        Instrument id → item columns of this export.
    coding
        How the cells are coded (:class:`~balint_analysis.simulate.coding.Coding`: codes,
        positions or labels, platform missing codes).

    Returns
    -------
    values
        Instrument → ``(participants, timepoints, items)`` floats, ``NaN`` where no accepted row,
        a blank or an invalid value.
    accepted
        ``(participants, timepoints)`` True where the export has an accepted row.
    invalid
        ``(row, column)`` of every non-empty invalid item value in an accepted row.
    """
    keep = table[table["_accept"].astype(bool)]
    pid, t = keep["_pid"].to_numpy(dtype=np.int64), keep["_t"].to_numpy(dtype=np.int64)
    accepted = np.zeros((n, len(TIMEPOINTS)), dtype=bool)
    if len(np.unique(pid * len(TIMEPOINTS) + t)) != len(keep):
        raise AssertionError("two accepted rows for one participant × timepoint")
    accepted[pid, t] = True
    values: dict[str, np.ndarray] = {}
    invalid: list[tuple[int, str]] = []
    for inst_id, a in answers.items():
        inst = a.instrument
        cols = columns[inst_id]
        raw = keep[cols].to_numpy(dtype=str)
        num, ok = coding.decode(inst, raw)
        bad = ~ok & ~coding.is_missing(raw)
        rows = keep["_row"].to_numpy()
        invalid += [(int(rows[r]), cols[c]) for r, c in zip(*np.nonzero(bad), strict=True)]
        out = np.full((n, len(TIMEPOINTS), inst.n_items), np.nan)
        out[pid, t] = np.where(ok, num, np.nan)
        values[inst_id] = out
    return values, accepted, invalid


def tidy_truth(
    params: SimulationParams,
    people: pd.DataFrame,
    latent: Latent,
    answers: dict[str, Answers],
    responded: np.ndarray,
    exported: dict[str, np.ndarray],
    accepted: np.ndarray,
) -> pd.DataFrame:
    """Long truth table: one row per participant × timepoint × scale (module docstring)."""
    outs = outcomes(params)
    n, n_t, _ = latent.eta.shape
    n_s = len(outs)
    observed = np.full((n, n_t, n_s), np.nan)
    expected = np.full((n, n_t, n_s), np.nan)
    keys = [o.key for o in outs]
    for inst_id, a in answers.items():
        obs = score_items(a.keyed, a.instrument, keyed=True)
        exp = score_items(exported[inst_id], a.instrument, keyed=False)
        for sid in a.instrument.scales:
            observed[:, :, keys.index(f"{inst_id}.{sid}")] = obs[sid]
            expected[:, :, keys.index(f"{inst_id}.{sid}")] = np.where(accepted, exp[sid], np.nan)
    eta = np.stack([o.factor * latent.eta[:, :, o.source] + o.offset for o in outs], axis=-1)

    def rep(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, (n, n_t, n_s)).ravel()

    return pd.DataFrame(
        {
            "participant_id": rep(people["participant_id"].to_numpy()[:, None, None]),
            "group": rep(people["group"].to_numpy()[:, None, None]),
            "balint_group": rep(people["balint_group"].to_numpy()[:, None, None]),
            "timepoint": rep(np.asarray(TIMEPOINTS[:n_t])[None, :, None]),
            "instrument": rep(np.asarray([o.instrument for o in outs])[None, None]),
            "scale": rep(np.asarray([o.scale for o in outs])[None, None]),
            "latent": eta.ravel(),
            "observed": observed.ravel(),
            "responded": rep(responded[:, :, None]),
            "accepted": rep(accepted[:, :, None]),
            "expected": expected.ravel(),
        }
    )


def effects(
    params: SimulationParams,
    truth: pd.DataFrame,
    labels: tuple[str, str] = (INTERVENTION, CONTROL),
) -> list[dict[str, Any]]:
    """Latent and realised effects per outcome × post-baseline timepoint.

    Outcomes are the generating scales and the derived ones (:func:`~.model.outcomes`); the
    ``latent`` effect of a derived scale is the generating effect under the same linear map.
    ``labels`` are the (intervention, control) group labels of ``truth``; the timepoints are
    those in ``truth`` (a two-wave layout has no follow-up).
    """
    out = []
    n_t = int(truth["timepoint"].nunique())
    intervention, control = labels
    for s in outcomes(params):
        part = truth[(truth["instrument"] == s.instrument) & (truth["scale"] == s.scale)]
        treated = part["group"].to_numpy()[::n_t] == intervention

        def wide(column: str, part: pd.DataFrame = part) -> np.ndarray:
            return part[column].to_numpy(dtype=float).reshape(-1, n_t)

        resp = part["responded"].to_numpy(dtype=bool).reshape(-1, n_t)
        acc = part["accepted"].to_numpy(dtype=bool).reshape(-1, n_t)
        for t in range(1, n_t):
            row: dict[str, Any] = {
                "instrument": s.instrument,
                "scale": s.scale,
                "timepoint": TIMEPOINTS[t],
                "latent": _r(s.effect[t - 1]),
            }
            for name, values, ok in (
                ("latent", wide("latent"), resp),
                ("observed", wide("observed"), resp),
                ("expected", wide("expected"), acc),
            ):
                both = ok[:, 0] & ok[:, t] & ~np.isnan(values[:, 0]) & ~np.isnan(values[:, t])
                change = values[:, t] - values[:, 0]
                est = change[both & treated].mean() - change[both & ~treated].mean()
                row[f"realised_{name}"] = _r(est)
                if name != "latent":
                    row[f"n_{name}"] = {
                        intervention: int((both & treated).sum()),
                        control: int((both & ~treated).sum()),
                    }
            out.append(row)
    return out


def params_dict(params: SimulationParams) -> dict[str, Any]:
    """JSON-ready parameters (tuples as lists)."""

    def listify(x: Any) -> Any:
        if isinstance(x, tuple | list):
            return [listify(v) for v in x]
        if isinstance(x, dict):
            return {k: listify(v) for k, v in x.items()}
        return x

    return listify(dataclasses.asdict(params))


def model_truth(
    params: SimulationParams,
    people: pd.DataFrame,
    latent: Latent,
    labels: tuple[str, str] = (INTERVENTION, CONTROL),
    timepoints: tuple[str, ...] = TIMEPOINTS,
) -> dict[str, Any]:
    """Design facts, variance components and the drawn Balint-group effects.

    ``labels`` (intervention, control) and ``timepoints`` are those of the written exports.
    """
    intervention, control = labels
    var = variance_components(params)
    groups = [f"BG{j + 1}" for j in range(params.n_balint_groups)]
    sizes = np.bincount(
        people["cluster"].to_numpy()[people["treated"].to_numpy()], minlength=params.n_balint_groups
    )
    components = {}
    for k, s in enumerate(params.scales):
        total = var["participant"][k] + var["residual"][k]
        components[s.key] = {
            "participant": _r(var["participant"][k]),
            "residual": _r(var["residual"][k]),
            "cluster": _r(var["cluster"][k]),
            "pre_post_corr": _r(var["participant"][k] / total),
            "icc_cluster": _r(var["cluster"][k] / (var["cluster"][k] + total)),
        }
    return {
        "design": {
            "timepoints": list(timepoints),
            "intervention": intervention,
            "control": control,
            "n_participants": len(people),
            "n_per_arm": {
                intervention: int(people["treated"].sum()),
                control: int((~people["treated"]).sum()),
            },
            "balint_groups": dict(zip(groups, sizes.tolist(), strict=True)),
        },
        "variance_components": components,
        "cluster_effects": {
            s.key: dict(zip(groups, [_r(u) for u in latent.cluster[:, k]], strict=True))
            for k, s in enumerate(params.scales)
        },
    }


def truth_scores_csv(truth: pd.DataFrame) -> bytes:
    """``truth_scores.csv``: the tidy truth, floats with 4 decimals, booleans 0/1."""

    def fmt(values: pd.Series) -> np.ndarray:
        x = values.to_numpy(dtype=float)
        return np.where(np.isnan(x), "", np.char.mod("%.4f", np.round(x, 4) + 0.0))

    out = truth.assign(
        latent=fmt(truth["latent"]),
        observed=fmt(truth["observed"]),
        expected=fmt(truth["expected"]),
        responded=truth["responded"].astype(int).astype(str),
        accepted=truth["accepted"].astype(int).astype(str),
    )
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8")
