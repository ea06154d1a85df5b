r"""The data-generating model of the synthetic cohorts (participants, latent scores, answers).

Notation: participant ``i``; arm ``T_i`` (1 = ``balint``, 0 = ``control``); timepoint
``t ∈ {pre, post, followup}`` with ``P_t = 1`` after baseline; Balint group ``j(i)``
(intervention participants only); scale ``s`` with ``k_s`` items; all scale-level quantities in
sum units of the published score (see :class:`~balint_analysis.simulate.params.ScaleParams`).

**Design.** ``2n`` participants, ``n`` per arm, arms assigned by a random permutation of the
ids. The intervention arm is split at random into ``k`` Balint groups of 8–12 members (group
sizes: 8 each plus the remaining members spread uniformly over the free places).
``sessions_attended ~ BetaBinomial(n_sessions, 7, 1.5)`` for intervention participants, empty
for controls. Covariates: ``age ~ round(N(43, 9.5²))`` clipped to 25–65; gender (female .70,
male .28, diverse .02); profession (psychologist .5, physician .3, nurse .2);
``years_in_practice = floor(age − entry_age)`` clipped to ``[0, age − 20]`` with
``entry_age = 26 / 27 / 22 (psychologist / physician / nurse) + Gamma(2, 1.5)``.

**Latent scale scores** (sum units)::

    η_ist = μ_s + Δ_s·T_i + γ_st + θ_st·T_i·P_t + b_is + u_j(i)s·T_i·P_t + e_ist

    b_i· ~ N(0, D_b R D_b),  D_b = diag(σ_s·√ρ_s)                 person intercept
    e_it· ~ N(0, D_e R D_e),  D_e = diag(σ_s·√(1 − ρ_s))           residual
    u_j· ~ N(0, D_u R D_u),  D_u = diag(σ_s·√(ICC / (1 − ICC)))    Balint-group effect

``μ`` baseline mean of the control arm, ``Δ`` self-selection difference at baseline (Balint
volunteers slightly more exhausted), ``γ`` shared time trend (``γ_pre = 0``), ``θ`` the true
Balint effect, ``R`` the correlation matrix between scales. Hence ``Var(η) = σ²`` within an
arm outside the Balint groups, the latent pre–post correlation is ``ρ``, and among intervention
participants after baseline the Balint-group ICC is ``σ_u² / (σ_u² + σ²) = ICC``. The group
effect enters only treated post-baseline observations (partially nested design,
docs/contract.md) and is the same at post and followup.

**Items.** Item ``m`` of scale ``s`` gets the latent item value and the integer answer::

    x_itm = η_ist / k_s + a_m + ε_itm,   ε_itm ~ N(0, σ_item,s²),   Σ_{m∈s} a_m = 0
    y_itm = clip(round_half_even(x_itm), response_min, response_max)

``a_m ~ N(0, item_offset_sd²)`` are fixed item difficulties, centred within the scale so they do
not shift the scale mean. ``y`` is the answer in the scoring direction; reverse-keyed items
(PSS-10 items 4, 5, 7, 8; CBI item 13) are **written as respondents answer them**,
``min + max − y``, so scoring must reverse them back. The observed scale score ``Σ_{m∈s} y_itm``
has expectation ≈ ``η_ist`` and the observed-data effect ≈ ``θ``: rounding is unbiased on
average but clipping at the ends of the response scale attenuates changes slightly (most for
skewed scales such as depersonalization and personal accomplishment; at the defaults
observed/latent ≈ .95 for EE, ≈ .9 for DP and PA, ≈ .98 for PSS). Item noise also adds
``k_s·(σ_item² + 1/12)`` to the observed variance, so the observed ICC and pre–post correlation
are slightly below ``ICC`` and ``ρ``. ``truth.json`` therefore records the latent effect ``θ``
and the effects realised in the generated data.

**Default truth** (:data:`~balint_analysis.simulate.params.DEFAULT_SCALES`; sum units, CBI in
0–100 mean units)::

    scale                     μ     Δ     γ post/fu    θ post/fu    σ     ρ    σ_item
    MBI emotional exhaustion  24   +2    +0.5/+1.0    −4.0/−3.0    10   .65   0.90
    MBI depersonalization      8   +0.5   0.0/+0.5    −1.5/−1.0     5   .60   0.85
    MBI personal accomplish.  35   −1     0.0/−0.5    +2.0/+1.5     7   .60   0.90
    PSS-10 total              17   +1    +0.5/+0.5    −2.0/−1.5     6   .55   0.60
    CBI personal              45   +2    +0.5/+1.0    −5.0/−4.0    18   .65   17
    CBI work-related          42   +2    +0.5/+1.0    −5.0/−4.0    18   .65   18
    CBI client-related        30   +2     0.0/+0.5    −7.0/−5.0    17   .60   17
    WHO-5 raw total           13.5 −0.5   0.0/ 0.0    +1.5/+1.0    4.5  .55   0.70

The WHO-5 percentage is derived (raw × 4: θ = +6/+4 points). ICC = .05; between-scale
correlations :data:`~balint_analysis.simulate.params.DEFAULT_SCALE_CORRELATION` (EE–DP .5,
EE–PSS .6, EE–CBI work .75, CBI scales .5–.75, WHO-5 with the burden scales −.3 to −.55, PA
with the others −.25 to −.3). CBI answers are rounded to the nearest code 0/25/50/75/100.

**Drop-out** (missing at random given baseline and attendance)::

    P(miss pre)      = p_missing_pre
    logit P(miss post)     = logit(π_post,arm) + β_exh·z_i − β_sess·T_i·(sessions_i − mean)
    logit P(miss followup) = logit(π_fu,arm)   + β_exh·z_i − β_sess·T_i·(sessions_i − mean)
                             + β_persist·miss_post_i

``z_i`` is the standardised baseline latent score of ``dropout_driver`` (EE). Every
participant keeps a roster row whether they answered or not. Item non-response: each item of a
given answer is blank with probability ``item_missing_rate``.

Randomness comes from one ``numpy.random.Generator`` consumed in a fixed order, so a seed fixes
the cohort byte for byte (for a given NumPy version).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.instruments import Instrument, load_instrument
from balint_analysis.simulate.params import (
    CONTROL,
    GROUP_SIZE_MAX,
    GROUP_SIZE_MIN,
    INTERVENTION,
    TIMEPOINTS,
    SimulationParams,
)

__all__ = [
    "Answers",
    "Latent",
    "draw_answers",
    "draw_dropout",
    "draw_latent",
    "draw_people",
]

PROFESSIONS = ("psychologist", "physician", "nurse")
PROFESSION_P = (0.5, 0.3, 0.2)
ENTRY_AGE = (26.0, 27.0, 22.0)
GENDERS = ("female", "male", "diverse")
GENDER_P = (0.70, 0.28, 0.02)
SESSIONS_BETA = (7.0, 1.5)


@dataclass(frozen=True)
class Latent:
    """Latent scores and their random components (arrays in the order of ``params.scales``).

    Attributes
    ----------
    eta
        ``(participants, timepoints, scales)`` latent scale scores in sum units.
    person
        ``(participants, scales)`` person intercepts ``b``.
    cluster
        ``(groups, scales)`` Balint-group effects ``u``.
    """

    eta: np.ndarray
    person: np.ndarray
    cluster: np.ndarray


@dataclass(frozen=True)
class Answers:
    """Integer answers of one instrument for every participant × timepoint.

    Attributes
    ----------
    instrument
        The instrument definition.
    keyed
        ``(participants, timepoints, items)`` answers in the scoring direction.
    raw
        Same, as respondents answered (reverse-keyed items reversed).
    alternative
        ``(participants, items)`` raw answers of a second, independent answering of the
        baseline survey (fresh item noise): material for duplicate submissions.
    """

    instrument: Instrument
    keyed: np.ndarray
    raw: np.ndarray
    alternative: np.ndarray


def draw_people(params: SimulationParams, rng: np.random.Generator) -> pd.DataFrame:
    """Participants with arm, Balint group, attendance and covariates.

    Returns
    -------
    pandas.DataFrame
        One row per participant in id order: ``participant_id, group, balint_group,
        sessions_attended`` (-1 for controls), ``age, gender, profession,
        years_in_practice``, plus ``treated`` (bool) and ``cluster`` (0-based group index,
        -1 for controls).
    """
    n_total = 2 * params.n_per_arm
    width = max(3, len(str(n_total)))
    ids = [f"P{i:0{width}d}" for i in range(1, n_total + 1)]
    treated = rng.permutation(n_total) < params.n_per_arm

    k = params.n_balint_groups
    spare = GROUP_SIZE_MAX - GROUP_SIZE_MIN
    slots = rng.choice(k * spare, size=params.n_per_arm - GROUP_SIZE_MIN * k, replace=False)
    sizes = GROUP_SIZE_MIN + np.bincount(slots // spare, minlength=k)
    members = rng.permutation(np.flatnonzero(treated))
    cluster = np.full(n_total, -1, dtype=np.int64)
    cluster[members] = np.repeat(np.arange(k), sizes)

    attend_p = rng.beta(*SESSIONS_BETA, size=n_total)
    sessions = np.where(treated, rng.binomial(params.n_sessions, attend_p), -1)

    age = np.clip(np.rint(rng.normal(43.0, 9.5, n_total)), 25, 65).astype(np.int64)
    gender = rng.choice(len(GENDERS), size=n_total, p=GENDER_P)
    profession = rng.choice(len(PROFESSIONS), size=n_total, p=PROFESSION_P)
    entry = np.asarray(ENTRY_AGE)[profession] + rng.gamma(2.0, 1.5, size=n_total)
    years = np.clip(np.floor(age - entry), 0, age - 20).astype(np.int64)

    labels = np.array([f"BG{j + 1}" for j in range(k)] + [""])
    return pd.DataFrame(
        {
            "participant_id": ids,
            "group": np.where(treated, INTERVENTION, CONTROL),
            "balint_group": labels[cluster],
            "sessions_attended": sessions,
            "age": age,
            "gender": np.asarray(GENDERS)[gender],
            "profession": np.asarray(PROFESSIONS)[profession],
            "years_in_practice": years,
            "treated": treated,
            "cluster": cluster,
        }
    )


def variance_components(params: SimulationParams) -> dict[str, np.ndarray]:
    """Per-scale variances ``participant`` (σ_b²), ``residual`` (σ_e²), ``cluster`` (σ_u²)."""
    sd = np.array([s.sd for s in params.scales])
    rho = np.array([s.pre_post_corr for s in params.scales])
    icc = params.icc_cluster
    return {
        "participant": sd**2 * rho,
        "residual": sd**2 * (1.0 - rho),
        "cluster": sd**2 * icc / (1.0 - icc),
    }


def _cholesky(matrix: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Lower Cholesky factor in plain Python floats (no LAPACK: the same bits everywhere)."""
    n = len(matrix)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            acc = float(matrix[i][j]) - sum(low[i][k] * low[j][k] for k in range(j))
            low[i][j] = math.sqrt(acc) if i == j else acc / low[j][j]
    return np.array(low)


def draw_latent(params: SimulationParams, rng: np.random.Generator, people: pd.DataFrame) -> Latent:
    """Latent scale scores ``η`` (see the module docstring for the equation)."""
    n, n_t, n_s = len(people), len(TIMEPOINTS), len(params.scales)
    chol = _cholesky(params.scale_correlation)
    var = variance_components(params)

    def correlated(shape: tuple[int, ...], variance: np.ndarray) -> np.ndarray:
        # z @ chol.T written out (no BLAS: identical bits on every machine)
        z = rng.standard_normal((*shape, n_s))
        mixed = sum(z[..., k, None] * chol[:, k] for k in range(n_s))
        return mixed * np.sqrt(variance)

    person = correlated((n,), var["participant"])
    cluster = correlated((params.n_balint_groups,), var["cluster"])
    resid = correlated((n, n_t), var["residual"])

    treated = people["treated"].to_numpy()[:, None, None]
    after = np.array([0.0, 1.0, 1.0])[None, :, None]
    mu = np.array([s.baseline_mean for s in params.scales])
    diff = np.array([s.baseline_diff for s in params.scales])
    trend = np.array([[0.0] * n_s] + [[s.trend[t] for s in params.scales] for t in (0, 1)])
    effect = np.array([[0.0] * n_s] + [[s.effect[t] for s in params.scales] for t in (0, 1)])
    codes = people["cluster"].to_numpy()
    u = np.where((codes >= 0)[:, None], cluster[np.maximum(codes, 0)], 0.0)
    eta = (
        mu
        + diff * treated
        + trend[None]
        + effect[None] * treated * after
        + person[:, None, :]
        + u[:, None, :] * treated * after
        + resid
    )
    return Latent(eta=eta, person=person, cluster=cluster)


def _item_layout(params: SimulationParams, inst: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """Per item: index of its scale in ``params.scales`` and its divisor (k for sum scales).

    Scales of the instrument without an entry in ``params.scales`` are derived scales (e.g. the
    WHO-5 percentage): allowed when every one of their items belongs to a generating scale.
    """
    keys = [s.key for s in params.scales]
    scale_of = np.full(inst.n_items, -1)
    divisor = np.ones(inst.n_items)
    for sid, scale in inst.scales.items():
        if f"{inst.id}.{sid}" not in keys:
            continue
        for item in scale.items:
            if scale_of[item - 1] < 0:
                scale_of[item - 1] = keys.index(f"{inst.id}.{sid}")
                divisor[item - 1] = len(scale.items) if scale.method == "sum" else 1.0
    if (scale_of < 0).any():
        missing = [f"{inst.id}.{sid}" for sid, s in inst.scales.items()
                   if any(scale_of[i - 1] < 0 for i in s.items)]  # fmt: skip
        raise ValueError(f"params.scales has no entry for {', '.join(missing)}.")
    return scale_of, divisor


def draw_answers(
    params: SimulationParams, rng: np.random.Generator, latent: Latent
) -> dict[str, Answers]:
    """Integer item answers on each instrument's response scale (module docstring)."""
    out: dict[str, Answers] = {}
    item_sd_of = {s.key: s.item_sd for s in params.scales}
    offset_sd_of = {s.key: s.item_offset_sd for s in params.scales}
    for inst_id in params.instruments:
        inst = load_instrument(inst_id)
        scale_of, divisor = _item_layout(params, inst)
        keys = [params.scales[i].key for i in scale_of]
        item_sd = np.array([item_sd_of[k] for k in keys])
        offsets = rng.normal(0.0, 1.0, inst.n_items) * np.array([offset_sd_of[k] for k in keys])
        scale_mean = np.bincount(scale_of, weights=offsets, minlength=len(params.scales))
        scale_n = np.bincount(scale_of, minlength=len(params.scales))
        offsets = offsets - (scale_mean / np.maximum(scale_n, 1))[scale_of]
        centre = latent.eta[:, :, scale_of] / divisor + offsets
        noise = rng.standard_normal(centre.shape) * item_sd
        again = rng.standard_normal(centre.shape[::2]) * item_sd
        reverse = np.zeros(inst.n_items, dtype=bool)
        for scale in inst.scales.values():
            reverse[[r - 1 for r in scale.reverse]] = True
        lo, hi = inst.response_min, inst.response_max
        codes = np.asarray(inst.allowed_values)

        def answer(x: np.ndarray, lo: int = lo, hi: int = hi, codes=codes) -> np.ndarray:
            if len(codes) == hi - lo + 1:
                return np.clip(np.rint(x), lo, hi).astype(np.int64)
            # nearest answer code (e.g. CBI 0/25/50/75/100); ties go to the lower code
            return codes[np.searchsorted((codes[1:] + codes[:-1]) / 2, x, side="right")]

        keyed = answer(centre + noise)
        alt_keyed = answer(centre[:, 0, :] + again)
        out[inst_id] = Answers(
            instrument=inst,
            keyed=keyed,
            raw=np.where(reverse, lo + hi - keyed, keyed),
            alternative=np.where(reverse, lo + hi - alt_keyed, alt_keyed),
        )
    return out


def draw_dropout(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    latent: Latent,
) -> np.ndarray:
    """``(participants, timepoints)`` booleans: True where the participant answered."""
    n = len(people)
    treated = people["treated"].to_numpy()
    sessions = people["sessions_attended"].to_numpy().astype(float)
    keys = [s.key for s in params.scales]
    driver = latent.eta[:, 0, keys.index(params.dropout_driver)]
    z = (driver - driver.mean()) / driver.std()
    centred = np.where(treated, sessions - sessions[treated].mean(), 0.0)
    shift = params.dropout_exhaustion * z - params.dropout_sessions * centred

    def logit(p: tuple[float, float]) -> np.ndarray:
        pp = np.where(treated, p[0], p[1])
        return np.log(pp) - np.log1p(-pp)

    def expit(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x))

    miss_pre = rng.random(n) < params.p_missing_pre
    miss_post = rng.random(n) < expit(logit(params.dropout_post) + shift)
    lp_fu = logit(params.dropout_followup) + shift + params.dropout_persist * miss_post
    miss_fu = rng.random(n) < expit(lp_fu)
    return ~np.column_stack([miss_pre, miss_post, miss_fu])
