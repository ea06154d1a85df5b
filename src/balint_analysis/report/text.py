"""Plain-language sentences and number formatting for the report.

Everything a program evaluator reads on the first screen is written here, from numbers only:
the effect in points with its confidence interval, a certainty sentence that follows the
evidence (never "proves"), and the design's strength. Sentences are plain ``str``; the template
escapes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from balint_analysis.config import StudyConfig

__all__ = [
    "DesignInfo",
    "TIMEPOINT_WORDS",
    "ScaleInfo",
    "certainty_sentence",
    "change_phrase",
    "design_info",
    "effect_sentence",
    "fmt",
    "fmt_ci",
    "fmt_int",
    "fmt_p",
    "is_missing",
    "scale_info",
    "signed_ci",
    "size_words",
    "tp_label",
    "truth",
]

MINUS = "\u2212"


def is_missing(x: Any) -> bool:
    """True for ``None``, NaN, ``pd.NA`` and empty strings."""
    if x is None:
        return True
    if isinstance(x, str):
        return x.strip() == ""
    try:
        return bool(math.isnan(float(x)))
    except (TypeError, ValueError):
        return False


def truth(x: Any) -> bool | None:
    """``True``/``False`` from a CSV/JSON flag (``True``, ``"false"``, ``1``…); None if unknown."""
    if is_missing(x):
        return None
    v = str(x).strip().lower()
    if v in ("true", "1", "1.0", "yes"):
        return True
    if v in ("false", "0", "0.0", "no"):
        return False
    return None


def fmt(x: Any, digits: int = 1) -> str:
    """Format a number with a fixed number of decimals and a typographic minus; "—" if missing."""
    if is_missing(x):
        return "—"
    s = f"{float(x):.{digits}f}"
    if s.startswith("-"):
        s = s[1:] if float(s) == 0 else MINUS + s[1:]
    return s


def fmt_int(x: Any) -> str:
    """Format a count; "—" if missing."""
    return "—" if is_missing(x) else str(int(round(float(x))))


def fmt_p(p: Any) -> str:
    """Format a p-value: three decimals, ``<0.001`` below that; "—" if missing."""
    if is_missing(p):
        return "—"
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_ci(lo: Any, hi: Any, digits: int = 1) -> str:
    """``"−6.6 to −1.2"``; "—" when either bound is missing."""
    if is_missing(lo) or is_missing(hi):
        return "—"
    return f"{fmt(lo, digits)} to {fmt(hi, digits)}"


_TP_NAMES = {
    "pre": "pre",
    "baseline": "baseline",
    "post": "post",
    "followup": "follow-up",
    "follow_up": "follow-up",
    "fu": "follow-up",
}


#: Timepoint names the report writes differently from the data ("followup" → "follow-up").
TIMEPOINT_WORDS = frozenset(k for k, v in _TP_NAMES.items() if k != v)


def tp_label(t: str) -> str:
    """A readable timepoint label (``followup`` → ``follow-up``, underscores → spaces)."""
    return _TP_NAMES.get(str(t).lower(), str(t).replace("_", " "))


@dataclass(frozen=True)
class ScaleInfo:
    """What the report needs to know about one outcome scale."""

    instrument: str
    scale: str
    label: str
    instrument_name: str
    direction: str | None  # "higher_is_worse" | "higher_is_better" | None (unknown)
    lo: float | None = None
    hi: float | None = None

    @property
    def key(self) -> str:
        return f"{self.instrument}.{self.scale}"

    @property
    def range_text(self) -> str:
        """``"scale 0–54, higher = worse"``."""
        parts = []
        if self.lo is not None and self.hi is not None:
            parts.append(f"scale {self.lo:g}–{self.hi:g}")
        if self.direction == "higher_is_worse":
            parts.append("higher = worse")
        elif self.direction == "higher_is_better":
            parts.append("higher = better")
        return ", ".join(parts)

    @property
    def short_instrument(self) -> str:
        """The abbreviation in parentheses at the end of the instrument name, if any."""
        name = self.instrument_name
        if name.endswith(")") and "(" in name:
            return name[name.rfind("(") + 1 : -1]
        return name


def scale_info(config: StudyConfig, instrument: str, scale: str) -> ScaleInfo:
    """Look up a scale's label, range and direction; neutral fallbacks for unknown scales."""
    inst = config.instruments.get(instrument)
    if inst is None or scale not in inst.scales:
        return ScaleInfo(instrument, scale, scale.replace("_", " ").capitalize(), instrument, None)
    s = inst.scales[scale]
    lo, hi = inst.scale_range(scale)
    direction = s.direction if s.direction in ("higher_is_worse", "higher_is_better") else None
    return ScaleInfo(instrument, scale, s.label, inst.name, direction, float(lo), float(hi))


@dataclass(frozen=True)
class DesignInfo:
    """The study design in words."""

    kind: str  # "randomised" | "non-randomised" | "single-arm"
    label: str
    strength: str
    explanation: str
    intervention: str  # display name of the intervention arm
    control: str | None  # display name of the comparison arm

    @property
    def single_arm(self) -> bool:
        return self.kind == "single-arm"


def design_info(config: StudyConfig) -> DesignInfo:
    """Classify the design (from ``config.design``) and describe how strong its evidence is."""
    d = config.design
    if d.single_arm:
        return DesignInfo(
            "single-arm",
            "Single-arm before/after study (no comparison group)",
            "weak (no comparison group; the weakest of the three common designs)",
            "Only Balint participants were measured. Any change over time may also come from "
            "the passage of time, regression to the mean, or other events, so it cannot be "
            "attributed to the Balint groups.",
            "Balint group",
            None,
        )
    if d.randomised:
        return DesignInfo(
            "randomised",
            "Randomised controlled comparison",
            "strong (the strongest of the three common designs)",
            "Participants were allocated to the Balint group or the comparison group at random, "
            "so the groups differ at the start only by chance.",
            "Balint group",
            "comparison group",
        )
    return DesignInfo(
        "non-randomised",
        "Non-randomised controlled comparison",
        "moderate (weaker than a randomised trial, stronger than a before/after study)",
        "Participants chose (or were chosen) to join the Balint groups; a comparison group "
        "answered the same questionnaires. Differences between who joined and who did not may "
        "explain part of any difference in results.",
        "Balint group",
        "comparison group",
    )


def _favours(estimate: float, direction: str | None) -> bool | None:
    """Whether a positive/negative estimate is good news for the Balint group."""
    if direction is None or estimate == 0:
        return None
    return (estimate < 0) if direction == "higher_is_worse" else (estimate > 0)


def _pts(x: float) -> str:
    return f"{fmt(x)} point" + ("" if fmt(x) == "1.0" else "s")


def change_phrase(lo: float, hi: float, verb_down: bool, comparative: bool = True) -> str:
    """The CI of a 'fell/rose by (more)' statement in the verb's own terms.

    ``comparative`` words the ends as "greater fall/rise" (two arms) or plain "fall/rise".
    """
    # In verb terms: for "fell", a value v means a fall of v; the CI of -estimate.
    a, b = (-hi, -lo) if verb_down else (lo, hi)
    if a >= 0:
        return f"95% CI {fmt(a)} to {_pts(b)}"
    big, small = ("fall", "rise") if verb_down else ("rise", "fall")
    more = "greater " if comparative else ""
    if b <= 0:  # the whole interval is in the opposite direction (cannot happen for the point)
        return f"95% CI {fmt(-b)} to {_pts(-a)} {more}{small}"
    return (
        f"95% CI: anywhere from {_a(fmt(b))} {fmt(b)}-point {more}{big} to "
        f"{_a(fmt(-a))} {fmt(-a)}-point {more}{small}"
    )


def _a(number: str) -> str:
    """The article before a spoken number: "an 8.8-point", "an 11-point", "a 1.8-point"."""
    spoken_vowel = number.startswith("8") or number.split(".")[0] in {"11", "18"}
    return "an" if spoken_vowel else "a"


def signed_ci(
    row: Mapping[str, Any], design: DesignInfo, level: str = "95%", comparative: bool = True
) -> str:
    """The estimate and its CI with their own signs, and the sign convention named once.

    "Balint group minus comparison group: −3.9 points, 95% CI −6.6 to −1.2" (two arms) or
    "change −3.9 points, 95% CI −6.6 to −1.2" (one arm): the same numbers as the key figure, so
    the answer box and the sentence beside it can never disagree on the sign. An interval that
    spans zero is also read out in the verb's terms ("anywhere from a 4.0-point greater fall to
    a 1.0-point greater rise").
    """
    est, lo, hi = float(row["estimate"]), row.get("ci_low"), row.get("ci_high")
    what = (
        f"change {fmt(est)} points"
        if design.single_arm
        else f"{design.intervention} minus {design.control}: {fmt(est)} points"
    )
    if is_missing(lo) or is_missing(hi):
        return f"{what}, no confidence interval available"
    text = f"{what}, {level} CI {fmt_ci(lo, hi)}"
    if float(lo) < 0 < float(hi):
        spoken = change_phrase(float(lo), float(hi), est < 0, comparative)
        text += ", i.e. " + spoken.removeprefix("95% CI: ")
    return text


def effect_sentence(
    row: Mapping[str, Any],
    info: ScaleInfo,
    design: DesignInfo,
    baseline: str,
    level: str = "95%",
    balint_change: float | None = None,
) -> str:
    """One sentence: the effect at one timepoint, in points, with its CI and the scale range.

    ``row`` is a row of ``effects.csv`` (``estimate``, ``ci_low``, ``ci_high``, ``timepoint``).
    For two-arm designs the estimate is the difference in change (Balint minus comparison);
    for single-arm designs it is the Balint group's change from baseline. The numbers in
    parentheses keep their signs (:func:`signed_ci`).

    ``balint_change`` (the Balint group's own estimated change, from the estimated means) picks
    the honest verb when both groups moved the same way: if both rose but the Balint group rose
    less, the sentence says "rose by 4.0 points less", not "fell by 4.0 points more".
    """
    est = row.get("estimate")
    when = f"From {tp_label(baseline)} to {tp_label(str(row['timepoint']))}"
    label = info.label[:1].lower() + info.label[1:]
    rng = f"; {info.range_text}" if info.range_text else ""
    if is_missing(est):
        return f"{when}, no estimate is available for {label} (see the model notes below)."
    est = float(est)
    ci = signed_ci(row, design, level, not design.single_arm)
    if est == 0:
        core = (
            f"{when}, {label} changed by the same amount in the {design.intervention} as in the "
            f"{design.control}"
            if not design.single_arm
            else f"{when}, {label} did not change on average in the {design.intervention}"
        )
        return f"{core} ({ci}{rng})."
    down = est < 0
    verb = "fell" if down else "rose"
    if design.single_arm:
        return (
            f"{when}, {label} in the {design.intervention} {verb} by {_pts(abs(est))} ({ci}{rng})."
        )
    if balint_change is not None and balint_change != 0 and (balint_change < 0) != down:
        verb2 = "fell" if balint_change < 0 else "rose"
        return (
            f"{when}, {label} {verb2} by {_pts(abs(est))} less in the {design.intervention} than "
            f"in the {design.control} ({ci}{rng})."
        )
    return (
        f"{when}, {label} {verb} by {_pts(abs(est))} more in the {design.intervention} than in "
        f"the {design.control} ({ci}{rng})."
    )


def certainty_sentence(
    row: Mapping[str, Any], info: ScaleInfo, design: DesignInfo, level: str = "95%"
) -> str:
    """How sure can we be? Follows the CI and the design; never claims proof."""
    est, lo, hi = row.get("estimate"), row.get("ci_low"), row.get("ci_high")
    if is_missing(est) or is_missing(lo) or is_missing(hi):
        return "Without an estimate and its confidence interval, no conclusion can be drawn."
    est, lo, hi = float(est), float(lo), float(hi)
    label = info.label[:1].lower() + info.label[1:]
    relative = "" if design.single_arm else f" relative to the {design.control}"
    excludes = lo > 0 or hi < 0
    if excludes:
        fav = _favours(est, info.direction)
        what = "reduction" if est < 0 else "increase"
        first = (
            f"The data are consistent with a real {what} in {label} in the "
            f"{design.intervention}{relative} (the {level} confidence interval does not "
            "include zero)"
        )
        if fav is False:
            first += ", which is the opposite of the hoped-for effect"
        first += "."
        if design.kind == "non-randomised":
            second = (
                " Because participants were not randomised, we cannot rule out that differences "
                "between who chose to join explain it."
            )
        elif design.kind == "single-arm":
            second = (
                " With no comparison group, the change cannot be attributed to the Balint groups: "
                "time, regression to the mean or other events could explain it."
            )
        else:
            second = (
                " Because allocation was randomised, differences between the people in the two "
                "groups are unlikely to explain it."
            )
        return first + second
    first = (
        f"The data cannot distinguish a real effect on {label} from no effect: the {level} "
        "confidence interval includes zero, so both a benefit and a harm of the sizes shown "
        "remain possible. This is not evidence that Balint groups have no effect; the study "
        "may be too small to tell."
    )
    if design.kind == "non-randomised":
        first += (
            " Participants were not randomised, so differences between who chose to join could "
            "also bias the comparison in either direction."
        )
    elif design.kind == "single-arm":
        first += " With no comparison group, even a clear change could not be attributed to them."
    return first


def size_words(d: Any) -> str:
    """Cohen's rough size words for a standardised effect (empty when missing)."""
    if is_missing(d):
        return ""
    a = abs(float(d))
    if a < 0.2:
        return "very small"
    if a < 0.5:
        return "small"
    if a < 0.8:
        return "moderate"
    return "large"
