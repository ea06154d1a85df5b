"""Parameters of the synthetic-cohort model and the named presets.

Every number that shapes a synthetic cohort lives in :class:`SimulationParams` (and the
per-scale :class:`ScaleParams`), so a cohort is fully described by ``(params, seed)``. The
equations these parameters enter are documented in :mod:`balint_analysis.simulate.model`.

Scale-level quantities (means, effects, SDs) are in the units of the instrument's published
score: **sum units** for the MBI-HSS subscales, the PSS-10 total and the WHO-5 raw total (a
``-4`` effect on emotional exhaustion is four points on its 0–54 sum), **0–100 mean units** for
the CBI scales (mean of items coded 0/25/50/75/100). Scales computed from the same items as a
generating scale (the WHO-5 ``percentage`` = raw × 4) need no parameters: their truth is the
same linear transform of the generating scale's truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CONTROL",
    "DEFAULT_SCALES",
    "DEFAULT_SCALE_CORRELATION",
    "INTERVENTION",
    "PRESETS",
    "SURVEY_SCALES",
    "SURVEY_SCALE_CORRELATION",
    "ScaleParams",
    "SimulationParams",
    "TIMEPOINTS",
    "TUTORIAL_SCALES",
    "TUTORIAL_SCALE_CORRELATION",
]

TIMEPOINTS: tuple[str, str, str] = ("pre", "post", "followup")
"""Design timepoints; the first is the baseline (before the Balint groups start)."""
INTERVENTION = "balint"
"""Group label of Balint participants in the roster."""
CONTROL = "control"
"""Group label of the comparison group in the roster."""

GROUP_SIZE_MIN = 8
"""Smallest Balint group (a Balint group has 8–12 members)."""
GROUP_SIZE_MAX = 12
"""Largest Balint group."""


@dataclass(frozen=True)
class ScaleParams:
    """Data-generating parameters of one scored scale (sum units of the published score).

    Attributes
    ----------
    instrument, scale
        Instrument id and scale id as in the instrument definition (``mbi_hss``,
        ``emotional_exhaustion``).
    baseline_mean
        Mean latent score of the control arm at baseline.
    baseline_diff
        Intervention minus control at baseline (self-selection; Balint volunteers are
        slightly more exhausted), ``Δ`` in the model equation.
    trend
        Change from baseline shared by both arms at (post, followup), ``γ``.
    effect
        True Balint effect at (post, followup), ``θ``: added to the intervention arm's
        latent score after baseline. Negative = the score falls more in the Balint arm.
    sd
        SD of the latent score at one timepoint within an arm, person intercept plus
        residual (the cluster effect comes on top), ``σ``.
    pre_post_corr
        Correlation of the latent score between two timepoints of one person (outside the
        Balint groups): ``ρ = σ_b² / σ²``.
    item_sd
        SD of the item-specific noise, in item response units, ``σ_item``.
    item_offset_sd
        SD of the fixed item difficulties ``a_m`` (centred within the scale), item units.
    """

    instrument: str
    scale: str
    baseline_mean: float
    baseline_diff: float
    trend: tuple[float, float]
    effect: tuple[float, float]
    sd: float
    pre_post_corr: float
    item_sd: float
    item_offset_sd: float = 0.3

    @property
    def key(self) -> str:
        """``instrument.scale``."""
        return f"{self.instrument}.{self.scale}"


DEFAULT_SCALES: tuple[ScaleParams, ...] = (
    # MBI-HSS norms for health professionals: EE ≈ 20–25 (SD ≈ 10), DP ≈ 7–8 (SD ≈ 5),
    # PA ≈ 35 (SD ≈ 7); pre-post correlations .55–.65 (docs/references.md). Item noise is
    # chosen for realistic alphas (EE ≈ .92, DP ≈ .86, PA ≈ .87, PSS ≈ .89) while keeping the
    # clipping attenuation of effects small (observed/latent ≈ .95 EE, .9 DP and PA, .98 PSS).
    ScaleParams(
        "mbi_hss",
        "emotional_exhaustion",
        baseline_mean=24.0,
        baseline_diff=2.0,
        trend=(0.5, 1.0),
        effect=(-4.0, -3.0),
        sd=10.0,
        pre_post_corr=0.65,
        item_sd=0.9,
        item_offset_sd=0.2,
    ),
    ScaleParams(
        "mbi_hss",
        "depersonalization",
        baseline_mean=8.0,
        baseline_diff=0.5,
        trend=(0.0, 0.5),
        effect=(-1.5, -1.0),
        sd=5.0,
        pre_post_corr=0.60,
        item_sd=0.85,
        item_offset_sd=0.15,
    ),
    ScaleParams(
        "mbi_hss",
        "personal_accomplishment",
        baseline_mean=35.0,
        baseline_diff=-1.0,
        trend=(0.0, -0.5),
        effect=(2.0, 1.5),
        sd=7.0,
        pre_post_corr=0.60,
        item_sd=0.9,
        item_offset_sd=0.15,
    ),
    ScaleParams(
        "pss10",
        "total",
        baseline_mean=17.0,
        baseline_diff=1.0,
        trend=(0.5, 0.5),
        effect=(-2.0, -1.5),
        sd=6.0,
        pre_post_corr=0.55,
        item_sd=0.6,
        item_offset_sd=0.15,
    ),
    # CBI (0–100): PUMA human-service means ≈ 36 / 33 / 31 (Kristensen et al. 2005, unverified);
    # clinicians score higher on personal and work burnout (≈ 45 / 42, SD ≈ 18). Balint work is
    # about the patient relationship, so the client-related effect is the largest.
    ScaleParams(
        "cbi",
        "personal",
        baseline_mean=45.0,
        baseline_diff=2.0,
        trend=(0.5, 1.0),
        effect=(-5.0, -4.0),
        sd=18.0,
        pre_post_corr=0.65,
        item_sd=17.0,
        item_offset_sd=4.0,
    ),
    ScaleParams(
        "cbi",
        "work",
        baseline_mean=42.0,
        baseline_diff=2.0,
        trend=(0.5, 1.0),
        effect=(-5.0, -4.0),
        sd=18.0,
        pre_post_corr=0.65,
        item_sd=18.0,
        item_offset_sd=4.0,
    ),
    ScaleParams(
        "cbi",
        "client",
        baseline_mean=30.0,
        baseline_diff=2.0,
        trend=(0.0, 0.5),
        effect=(-7.0, -5.0),
        sd=17.0,
        pre_post_corr=0.60,
        item_sd=17.0,
        item_offset_sd=4.0,
    ),
    # WHO-5 raw sum (0–25): working adults ≈ 14–16, clinicians under strain ≈ 13.5 (SD ≈ 4.5);
    # +1.5 raw = +6 percentage points, below the 10-point "significant" change (Ware 1995).
    ScaleParams(
        "who5",
        "total",
        baseline_mean=13.5,
        baseline_diff=-0.5,
        trend=(0.0, 0.0),
        effect=(1.5, 1.0),
        sd=4.5,
        pre_post_corr=0.55,
        item_sd=0.7,
        item_offset_sd=0.2,
    ),
)
"""The eight generating outcomes of the demo design: MBI-HSS EE, DP, PA, the PSS-10 total, the
CBI personal, work and client scales and the WHO-5 raw total (its percentage is derived)."""

DEFAULT_SCALE_CORRELATION: tuple[tuple[float, ...], ...] = (
    # EE    DP    PA    PSS   CBI-P CBI-W CBI-C WHO5
    (1.00, 0.50, -0.30, 0.60, 0.70, 0.75, 0.50, -0.50),
    (0.50, 1.00, -0.30, 0.40, 0.40, 0.45, 0.55, -0.30),
    (-0.30, -0.30, 1.00, -0.30, -0.25, -0.25, -0.25, 0.30),
    (0.60, 0.40, -0.30, 1.00, 0.60, 0.55, 0.40, -0.55),
    (0.70, 0.40, -0.25, 0.60, 1.00, 0.75, 0.50, -0.55),
    (0.75, 0.45, -0.25, 0.55, 0.75, 1.00, 0.55, -0.50),
    (0.50, 0.55, -0.25, 0.40, 0.50, 0.55, 1.00, -0.35),
    (-0.50, -0.30, 0.30, -0.55, -0.55, -0.50, -0.35, 1.00),
)
"""Correlation between the scales (order of :data:`DEFAULT_SCALES`), used for the person
intercepts, the Balint-group effects and the residuals alike."""


SURVEY_EXTRA_SCALES: tuple[ScaleParams, ...] = (
    # ProQOL 5 raw sums (10 items, 1–5 each: 10–50); Stamm (2010) reports CS ≈ 37 (SD 7),
    # BO ≈ 22 (SD 6), STS ≈ 22 (SD 6) in helping professions.
    ScaleParams("proqol5", "compassion_satisfaction", baseline_mean=37.0, baseline_diff=-0.5,
                trend=(0.0, 0.0), effect=(1.5, 1.0), sd=7.0, pre_post_corr=0.65,
                item_sd=0.7, item_offset_sd=0.2),
    ScaleParams("proqol5", "burnout", baseline_mean=22.0, baseline_diff=1.0,
                trend=(0.3, 0.5), effect=(-2.0, -1.5), sd=6.0, pre_post_corr=0.60,
                item_sd=0.7, item_offset_sd=0.2),
    ScaleParams("proqol5", "secondary_traumatic_stress", baseline_mean=22.0, baseline_diff=0.5,
                trend=(0.0, 0.3), effect=(-1.0, -0.5), sd=6.0, pre_post_corr=0.60,
                item_sd=0.7, item_offset_sd=0.2),
    # JSE-HP total (20 items, 1–7: 20–140): physicians ≈ 115–120, SD ≈ 11.
    ScaleParams("jse_hp", "total", baseline_mean=116.0, baseline_diff=1.0,
                trend=(0.0, -0.5), effect=(3.0, 2.0), sd=11.0, pre_post_corr=0.65,
                item_sd=1.0, item_offset_sd=0.3),
)  # fmt: skip

SURVEY_SCALES: tuple[ScaleParams, ...] = (
    *(s for s in DEFAULT_SCALES if s.instrument in ("mbi_hss", "cbi")),
    *SURVEY_EXTRA_SCALES,
)
"""A national-survey battery of four instruments, 91 items: MBI-HSS (22), CBI (19), ProQOL 5
(30) and JSE-HP (20); ten scales."""

SURVEY_SCALE_CORRELATION: tuple[tuple[float, ...], ...] = (
    # EE    DP    PA    CBI-P CBI-W CBI-C CS    BO    STS   JSE
    (1.00, 0.50, -0.30, 0.70, 0.75, 0.50, -0.45, 0.65, 0.45, -0.15),
    (0.50, 1.00, -0.30, 0.40, 0.45, 0.55, -0.35, 0.45, 0.30, -0.35),
    (-0.30, -0.30, 1.00, -0.25, -0.25, -0.25, 0.55, -0.40, -0.10, 0.30),
    (0.70, 0.40, -0.25, 1.00, 0.75, 0.50, -0.40, 0.60, 0.45, -0.10),
    (0.75, 0.45, -0.25, 0.75, 1.00, 0.55, -0.45, 0.65, 0.40, -0.10),
    (0.50, 0.55, -0.25, 0.50, 0.55, 1.00, -0.35, 0.50, 0.45, -0.25),
    (-0.45, -0.35, 0.55, -0.40, -0.45, -0.35, 1.00, -0.55, -0.10, 0.35),
    (0.65, 0.45, -0.40, 0.60, 0.65, 0.50, -0.55, 1.00, 0.50, -0.20),
    (0.45, 0.30, -0.10, 0.45, 0.40, 0.45, -0.10, 0.50, 1.00, 0.05),
    (-0.15, -0.35, 0.30, -0.10, -0.10, -0.25, 0.35, -0.20, 0.05, 1.00),
)
"""Correlation between :data:`SURVEY_SCALES` (MBI and CBI entries as in
:data:`DEFAULT_SCALE_CORRELATION`)."""

TUTORIAL_OLBI_SCALES: tuple[ScaleParams, ...] = (
    # OLBI subscale means (1-4, original coding 1 = strongly agree; high = more burnout). No
    # health-professional norms were verified (docs/instruments.md, OLBI); means are near the
    # Peterson et al. (2008) cut-offs (DIS >= 2.10, EX >= 2.25), SD ≈ .5 per subscale, item noise
    # for alphas ≈ .8 (published .7-.87). Effects ≈ -0.3 SD, like the MBI-EE effect.
    ScaleParams("olbi", "disengagement", baseline_mean=2.20, baseline_diff=0.05,
                trend=(0.0, 0.02), effect=(-0.12, -0.08), sd=0.45, pre_post_corr=0.60,
                item_sd=0.6, item_offset_sd=0.15),
    ScaleParams("olbi", "exhaustion", baseline_mean=2.40, baseline_diff=0.08,
                trend=(0.02, 0.04), effect=(-0.15, -0.10), sd=0.50, pre_post_corr=0.65,
                item_sd=0.6, item_offset_sd=0.15),
)  # fmt: skip

TUTORIAL_SCALES: tuple[ScaleParams, ...] = (
    *(s for s in DEFAULT_SCALES if s.instrument == "mbi_hss"),
    *TUTORIAL_OLBI_SCALES,
)
"""A small clinic's battery: MBI-HSS (22 items) and the OLBI (16 items); five scales."""

TUTORIAL_SCALE_CORRELATION: tuple[tuple[float, ...], ...] = (
    # EE    DP    PA    DIS   EX     (OLBI-EX with MBI-EE ≈ .65, OLBI-DIS with DP ≈ .5)
    (1.00, 0.50, -0.30, 0.45, 0.65),
    (0.50, 1.00, -0.30, 0.50, 0.40),
    (-0.30, -0.30, 1.00, -0.45, -0.30),
    (0.45, 0.50, -0.45, 1.00, 0.55),
    (0.65, 0.40, -0.30, 0.55, 1.00),
)
"""Correlation between :data:`TUTORIAL_SCALES` (MBI entries as in the demo design)."""


@dataclass(frozen=True)
class SimulationParams:
    """Everything that shapes a synthetic cohort except the seed.

    Attributes
    ----------
    name
        Preset name recorded in ``truth.json`` and in generated configs (``synthetic.preset``).
    n_per_arm
        Participants per arm (``balint`` and ``control``); ids run ``P001`` … ``P{2n}``.
    n_balint_groups
        Balint groups ``BG1`` … ``BGk``; each gets 8–12 intervention participants, so
        ``8k <= n_per_arm <= 12k``.
    n_sessions
        Sessions offered; ``sessions_attended`` is Beta-Binomial(n_sessions, 7, 1.5)
        (mean ≈ 0.82·n_sessions, most attend 6–10 of 10).
    scales
        One :class:`ScaleParams` per scale of every administered instrument.
    scale_correlation
        Correlation matrix between the scales (same order as ``scales``).
    icc_cluster
        Balint-group ICC among intervention participants after baseline,
        ``σ_u² / (σ_u² + σ²)``.
    p_missing_pre
        Probability of not answering the baseline survey (both arms).
    dropout_post, dropout_followup
        Probability of missing that timepoint for a participant of average baseline
        exhaustion (and average attendance; at follow-up: who answered at post), as
        ``(balint, control)``.
    dropout_exhaustion
        Log-odds of missing post/followup per SD of the baseline latent score of
        ``dropout_driver`` (MAR: more exhausted people drop out more).
    dropout_sessions
        Log-odds decrease of missing post/followup per session attended above the mean
        (intervention arm only).
    dropout_persist
        Log-odds added at follow-up for participants who missed post.
    dropout_driver
        ``instrument.scale`` whose baseline latent score drives drop-out.
    item_missing_rate
        Probability that a single item is left blank in an otherwise complete response.
    inject_problems
        Inject the documented data problems (preview responses, duplicates, out-of-range
        values, …) into the exports; ``False`` gives clean exports.
    survey_start
        First day (ISO date) of the survey window at each timepoint.
    survey_days
        Length of every survey window in days.
    time_zone
        Time zone of the Qualtrics export (row 3 of its header).
    """

    name: str = "custom"
    n_per_arm: int = 60
    n_balint_groups: int = 6
    n_sessions: int = 10
    scales: tuple[ScaleParams, ...] = DEFAULT_SCALES
    scale_correlation: tuple[tuple[float, ...], ...] = DEFAULT_SCALE_CORRELATION
    icc_cluster: float = 0.05
    p_missing_pre: float = 0.03
    dropout_post: tuple[float, float] = (0.08, 0.15)
    dropout_followup: tuple[float, float] = (0.10, 0.16)
    dropout_exhaustion: float = 0.4
    dropout_sessions: float = 0.25
    dropout_persist: float = 1.5
    dropout_driver: str = "mbi_hss.emotional_exhaustion"
    item_missing_rate: float = 0.003
    inject_problems: bool = True
    survey_start: tuple[str, str, str] = field(default=("2025-09-08", "2026-03-16", "2026-09-14"))
    survey_days: int = 21
    time_zone: str = "Europe/Warsaw"

    def __post_init__(self) -> None:
        k, n = self.n_balint_groups, self.n_per_arm
        if k < 1 or not GROUP_SIZE_MIN * k <= n <= GROUP_SIZE_MAX * k:
            raise ValueError(
                f"n_per_arm={n} cannot fill {k} Balint groups of {GROUP_SIZE_MIN}–"
                f"{GROUP_SIZE_MAX} members; choose n_balint_groups near n_per_arm / 10."
            )
        if self.n_sessions < 1:
            raise ValueError("n_sessions must be at least 1.")
        if not 0.0 <= self.icc_cluster < 1.0:
            raise ValueError("icc_cluster must be in [0, 1).")
        corr = np.asarray(self.scale_correlation, dtype=float)
        if corr.shape != (len(self.scales), len(self.scales)):
            raise ValueError("scale_correlation must be a square matrix, one row per scale.")
        if not np.allclose(corr, corr.T) or np.linalg.eigvalsh(corr).min() <= 0:
            raise ValueError("scale_correlation must be symmetric positive definite.")
        for s in self.scales:
            if not 0.0 < s.pre_post_corr < 1.0 or s.sd <= 0 or s.item_sd < 0:
                raise ValueError(f"{s.key}: need 0 < pre_post_corr < 1, sd > 0, item_sd >= 0.")
        keys = [s.key for s in self.scales]
        if len(set(keys)) != len(keys) or self.dropout_driver not in keys:
            raise ValueError("scales must be unique and include dropout_driver.")
        probabilities = (
            self.p_missing_pre,
            *self.dropout_post,
            *self.dropout_followup,
            self.item_missing_rate,
        )
        if not all(0.0 <= p < 1.0 for p in probabilities):
            raise ValueError("drop-out and missing-item probabilities must be in [0, 1).")
        if len(self.survey_start) != len(TIMEPOINTS) or self.survey_days < 1:
            raise ValueError("survey_start needs one ISO date per timepoint; survey_days >= 1.")

    @property
    def instruments(self) -> tuple[str, ...]:
        """Administered instrument ids, in order of first appearance in ``scales``."""
        return tuple(dict.fromkeys(s.instrument for s in self.scales))


PRESETS: dict[str, SimulationParams] = {
    "demo": SimulationParams(name="demo", n_per_arm=60, n_balint_groups=6),
    # 24, not 20, per arm: three Balint groups need at least 3 × 8 members.
    "small": SimulationParams(name="small", n_per_arm=24, n_balint_groups=3),
    "survey": SimulationParams(name="survey", n_per_arm=60, n_balint_groups=6,
                               scales=SURVEY_SCALES, scale_correlation=SURVEY_SCALE_CORRELATION),
    "tutorial": SimulationParams(name="tutorial", n_per_arm=30, n_balint_groups=3,
                                 scales=TUTORIAL_SCALES,
                                 scale_correlation=TUTORIAL_SCALE_CORRELATION),
}  # fmt: skip
"""Named parameter sets: ``demo`` (the committed cohort, 120 participants, 6 Balint groups)
``small`` (48 participants, 3 Balint groups, for fast end-to-end tests), ``survey`` (the
demo's size with the 91-item four-instrument battery of :data:`SURVEY_SCALES`) and
``tutorial`` (a small clinic: 60 participants, 3 Balint groups, MBI-HSS + OLBI,
:data:`TUTORIAL_SCALES`; the default preset of the ``tutorial`` layout)."""
