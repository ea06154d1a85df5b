"""Plain-language sentences of the programme report, from the pooled numbers only.

An evaluator of a programme asks three things: across all our cohorts, what is the effect; how
much does it differ between sites; what should a new site expect. The sentences here answer them
in that order, from one row of ``meta_analysis.csv`` (the two-stage random-effects result), and
follow the evidence: a confidence interval that includes zero is never worded as "no effect", a
prediction interval that crosses zero says a new site may see no benefit, and fewer than three
cohorts say what can and cannot be concluded. Sentences are plain ``str``; the template escapes
them and marks glossary terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from balint_analysis.report.glossary import GLOSSARY, Term
from balint_analysis.report.text import fmt, fmt_ci, is_missing, size_words

__all__ = [
    "PROGRAMME_GLOSSARY",
    "Outcome",
    "answer_sentences",
    "heterogeneity_sentence",
    "range_words",
    "stages_sentence",
]

#: The cohort report's terms plus those only a pooled analysis needs.
PROGRAMME_GLOSSARY: tuple[Term, ...] = GLOSSARY + (
    Term(
        "meta", "Random-effects meta-analysis",
        "Combining the results of several cohorts into one average effect, weighting each by how "
        "precise it is, while allowing the true effect to differ from site to site.",
        ("random-effects meta-analysis", "two-stage meta-analysis", "meta-analysis"),
    ),
    Term(
        "pi", "Prediction interval",
        "The range in which the true effect at a new, similar site is expected to lie (with 95% "
        "probability). It is wider than the confidence interval of the average because it adds "
        "the differences between sites.",
        ("prediction interval",),
    ),
    Term(
        "tau", "Between-site standard deviation (τ)",
        "How much the true effect differs from site to site, in the outcome's own units. Zero "
        "means the cohorts' results differ no more than chance alone would explain.",
        ("τ", "tau", "between-site standard deviation"),
    ),
    Term(
        "i2", "I²",
        "The share of the spread between the cohorts' results that reflects real differences "
        "between sites rather than chance. Roughly: below 30% little, 30–50% moderate, 50–75% "
        "substantial, above 75% considerable.",
        ("I²",),
    ),
    Term(
        "hk", "Knapp–Hartung adjustment",
        "A way to compute the confidence interval of a pooled effect that stays honest when only "
        "a few cohorts are pooled (it uses the t distribution and the observed spread of the "
        "results).",
        ("Knapp–Hartung", "Hartung–Knapp"),
    ),
    Term(
        "ipd", "One-stage (individual participant data) model",
        "One mixed model fitted to every participant's answers from all cohorts at once, with "
        "sites and Balint groups as levels, instead of combining each cohort's summary result.",
        ("one-stage model", "individual participant data"),
    ),
    Term(
        "loo", "Leave-one-out analysis",
        "The meta-analysis repeated once per cohort, each time without that cohort, to see "
        "whether any single cohort drives the pooled result.",
        ("leave-one-out",),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What the sentences need to know about the pooled outcome."""

    label: str  # "Emotional exhaustion (MBI)"
    timepoint: str  # readable: "post", "follow-up"
    direction: str | None  # "higher_is_worse" | "higher_is_better" | None
    unit: str = "points"  # "points" (difference in change) or "SD" (standardised)

    @property
    def lower(self) -> str:
        return self.label[:1].lower() + self.label[1:]

    @property
    def short(self) -> str:
        """The label without its instrument in parentheses, for a second mention."""
        name = self.label.split(" (", 1)[0] if " (" in self.label else self.label
        return name[:1].lower() + name[1:]


def _num(x: float, unit: str) -> str:
    """``"2.9-point"`` / ``"0.35-SD"``: a size used as an adjective."""
    digits = 2 if unit == "SD" else 1
    return f"{fmt(x, digits)}-{'point' if unit == 'points' else 'SD'}"


def _an(size: str) -> str:
    """The article before a spoken number: "an 8.8-point", "an 11-point", "a 1.8-point"."""
    spoken_vowel = size.startswith("8") or size.split(".")[0].split("-")[0] in {"11", "18"}
    return "an" if spoken_vowel else "a"


def range_words(lo: float, hi: float, unit: str = "points") -> str:
    """An interval of differences in change, in words, with the Balint groups' direction.

    ``-4.3, -1.5`` → "a 1.5- to a 4.3-point greater fall in the Balint groups"; an interval
    spanning zero → "a 3.1-point greater fall to a 1.2-point greater rise in the Balint groups"
    (callers say "anywhere from …").
    """
    where = " in the Balint groups"
    if hi <= 0:
        small, big = _num(-hi, unit), _num(-lo, unit)
        return f"{_an(small)} {small.split('-')[0]}- to {_an(big)} {big} greater fall{where}"
    if lo >= 0:
        small, big = _num(lo, unit), _num(hi, unit)
        return f"{_an(small)} {small.split('-')[0]}- to {_an(big)} {big} greater rise{where}"
    fall, rise = _num(-lo, unit), _num(hi, unit)
    return f"{_an(fall)} {fall} greater fall to {_an(rise)} {rise} greater rise{where}"


def _good(estimate: float, direction: str | None) -> bool | None:
    """Whether a difference in change is good news for the Balint groups (None if unknown)."""
    if direction is None or estimate == 0:
        return None
    return (estimate < 0) if direction == "higher_is_worse" else (estimate > 0)


def _i2_words(i2: float) -> str:
    if i2 < 30:
        return "little"
    if i2 < 50:
        return "moderate"
    if i2 < 75:
        return "substantial"
    return "considerable"


def _value(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    return None if is_missing(v) else float(v)


def heterogeneity_sentence(row: Mapping[str, Any], outcome: Outcome) -> str:
    """τ and I² in words (only meaningful with at least three cohorts)."""
    tau, i2 = _value(row, "tau"), _value(row, "i2")
    if tau is None or i2 is None:
        return "How much the effect differs between sites could not be estimated."
    digits = 2 if outcome.unit == "SD" else 1
    if tau == 0:
        return (
            "The cohorts' results differ no more than chance alone would explain (between-site "
            f"standard deviation τ = 0, I² = {i2:.0f}%); this does not prove that sites are "
            "alike, only that these cohorts cannot show a difference between them."
        )
    return (
        f"The true effect appears to differ between sites by a standard deviation of about "
        f"τ = {fmt(tau, digits)} {outcome.unit}; {_i2_words(i2)} heterogeneity: about "
        f"{i2:.0f}% of the spread between the cohorts' results reflects real differences between "
        "sites rather than chance (I²)." + _rough(row)
    )


def _rough(row: Mapping[str, Any]) -> str:
    """Few cohorts make τ and I² imprecise: say so (ten is a common rule of thumb)."""
    k = int(_value(row, "k") or 0)
    return f" With only {k} cohorts, both are rough estimates." if 0 < k < 10 else ""


def answer_sentences(row: Mapping[str, Any], outcome: Outcome, *, level: str = "95%",
                     smd: Mapping[str, Any] | None = None) -> dict[str, str]:  # fmt: skip
    """The plain-language answer: headline, what a new site could expect, certainty.

    Parameters
    ----------
    row : Mapping
        One row of ``meta_analysis.csv`` (``estimate``, ``ci_low``, ``ci_high``, ``pi_low``,
        ``pi_high``, ``tau``, ``i2``, ``k``, ``reason``) for the primary outcome and timepoint.
    outcome : Outcome
        Label, readable timepoint, direction and unit of the pooled effect.
    level : str
        The confidence level in words ("95%").
    smd : Mapping, optional
        The standardised pooled row, for the effect's size in words.

    Returns
    -------
    dict
        ``headline``, ``spread`` (a new site; empty below three cohorts), ``heterogeneity``,
        ``certainty`` and ``few`` (what fewer than three cohorts can and cannot show; else empty).
    """
    k = int(_value(row, "k") or 0)
    est, lo, hi = _value(row, "estimate"), _value(row, "ci_low"), _value(row, "ci_high")
    out = {"headline": "", "spread": "", "heterogeneity": "", "certainty": "", "few": ""}
    cohorts = f"{k} cohort{'' if k == 1 else 's'}"
    if est is None or lo is None or hi is None:
        reason = str(row.get("reason") or "").strip()
        out["headline"] = (
            f"Across {cohorts}, no pooled effect on {outcome.lower} at {outcome.timepoint} could "
            "be estimated" + (f" ({reason})." if reason else ".")
        )
        if k == 1:
            out["few"] = (
                "With a single cohort there is nothing to pool: its own report gives its result, "
                "and no statement about other sites can be made."
            )
        return out
    digits = 2 if outcome.unit == "SD" else 1
    verb = "fell" if est < 0 else "rose"
    size = f"{fmt(abs(est), digits)} {outcome.unit}"
    out["headline"] = (
        f"Across {cohorts}, the pooled effect of Balint groups on {outcome.lower} at "
        f"{outcome.timepoint} is {fmt(est, digits)} {outcome.unit} ({level} CI "
        f"{fmt_ci(lo, hi, digits)}): {outcome.short} {verb} by {size} more in the Balint groups "
        "than in the comparison groups."
    )
    if smd is not None and not is_missing(smd.get("estimate")):
        words = size_words(smd["estimate"])
        out["headline"] += f" As a standardised effect this is {fmt(smd['estimate'], 2)} ({words})."
    excludes = lo > 0 or hi < 0
    fav = _good(est, outcome.direction)
    if excludes:
        out["certainty"] = (
            f"The pooled data are consistent with a real {'reduction' if est < 0 else 'increase'} "
            f"in {outcome.short} in the Balint groups (the {level} confidence interval does not "
            "include zero)" + (", the opposite of the hoped-for effect." if fav is False else ".")
        )
    else:
        out["certainty"] = (
            "The pooled data cannot distinguish a real effect from no effect: the "
            f"{level} confidence interval includes zero, so effects anywhere from "
            f"{range_words(lo, hi, outcome.unit)} remain compatible with these cohorts. This is "
            "not evidence that Balint groups have no effect; the cohorts may be too few or too "
            "small to tell."
        )
    if k < 3:
        out["few"] = (
            f"Only {cohorts} could be pooled. What can be concluded: the average effect in these "
            f"{cohorts}, with its confidence interval. What cannot: how much the effect differs "
            "between sites, or what a new site should expect, because the between-site spread "
            "cannot be estimated reliably from fewer than three results; no range for a new site "
            "is given."
        )
        return out
    out["heterogeneity"] = heterogeneity_sentence(row, outcome)
    pi_lo, pi_hi = _value(row, "pi_low"), _value(row, "pi_high")
    if pi_lo is not None and pi_hi is not None:
        out["spread"] = (
            "A new site could expect anywhere from "
            f"{range_words(pi_lo, pi_hi, outcome.unit)} (prediction interval)."
        )
        if pi_lo < 0 < pi_hi:
            out["spread"] += (
                " That range includes no difference at all and a change in the other direction: "
                "a new site might not see the average effect."
            )
    return out


def stages_sentence(two: Mapping[str, Any], one: Mapping[str, Any] | None, unit: str) -> str:
    """The one-stage estimate beside the two-stage one, and why the two may differ."""
    if one is None or is_missing(one.get("estimate")):
        reason = "" if one is None else str(one.get("reason") or "").strip()
        return "The one-stage model could not be estimated for this outcome" + (
            f" ({reason})." if reason else "."
        )
    digits = 2 if unit == "SD" else 1
    if is_missing(two.get("estimate")):
        ci = fmt_ci(one.get("ci_low"), one.get("ci_high"), digits)
        return (
            f"The one-stage model, fitted to every participant's answers at once, estimates "
            f"{fmt(one['estimate'], digits)} ({ci}); there is no two-stage estimate to compare "
            "it with."
        )
    a, b = float(two["estimate"]), float(one["estimate"])
    diff = abs(a - b)
    se = _value(two, "se") or 0.0
    agree = (
        "The two agree closely"
        if se and diff < 0.5 * se
        else "The two differ noticeably"
        if se and diff > se
        else "The two differ somewhat"
    )
    return (
        f"The one-stage model, fitted to every participant's answers at once, estimates "
        f"{fmt(b, digits)} ({fmt_ci(one.get('ci_low'), one.get('ci_high'), digits)}); the "
        f"two-stage meta-analysis {fmt(a, digits)} "
        f"({fmt_ci(two.get('ci_low'), two.get('ci_high'), digits)}). {agree} "
        f"(difference {fmt(diff, digits)} {unit}). They may differ because the meta-analysis "
        "weights each cohort by the precision of its own result, while the one-stage model "
        "weights participants and Balint groups and estimates the differences between sites "
        "from all answers together, so small cohorts and incomplete follow-ups count "
        "differently in the two." + _interval_caveat(two, one)
    )


def _excludes_zero(row: Mapping[str, Any]) -> bool | None:
    low, high = _value(row, "ci_low"), _value(row, "ci_high")
    if low is None or high is None:
        return None
    return low > 0 or high < 0


def _interval_caveat(two: Mapping[str, Any], one: Mapping[str, Any]) -> str:
    """Why close estimates can come with very different intervals: an evaluator must not read
    the narrower one-stage interval as the programme's answer."""
    out = ""
    tau_one, tau_two = _value(one, "tau_site_effect"), _value(two, "tau")
    if tau_one is not None and tau_one <= 0 and tau_two is not None and tau_two > 0:
        out += (
            " The one-stage model estimated no variation of the effect between sites, so its "
            "interval leaves out the differences between sites that the two-stage interval "
            "allows for, and is narrower for that reason."
        )
    one_excludes, two_excludes = _excludes_zero(one), _excludes_zero(two)
    if one_excludes is not None and two_excludes is not None and one_excludes != two_excludes:
        which = "one-stage" if one_excludes else "two-stage"
        out += (
            f" Only the {which} interval leaves out zero (no difference); the answer above "
            "rests on the two-stage result."
        )
    return out
