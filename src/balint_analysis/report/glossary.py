"""Plain-language definitions of the technical terms that remain in the report.

An evaluator reads the report without a statistician beside them, so every technical term in
evaluator-facing text is explained where it stands (a hover title on screen) and in the glossary at
the end (which also prints, so a forwarded PDF keeps the explanations). :func:`gloss` is the one
way prose gets that markup: it escapes the text and wraps the first mention of each known term in
``<abbr class="term" title="...">``, linked to its glossary entry. The template registers it as
the Jinja filter ``gloss``; :func:`glossary_entries` lists the entries for the appendix.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["GLOSSARY", "Term", "gloss", "glossary_entries"]


@dataclass(frozen=True)
class Term:
    """One glossary entry: an anchor key, the headword, its definition and how prose spells it."""

    key: str
    headword: str
    definition: str
    spellings: tuple[str, ...]


GLOSSARY: tuple[Term, ...] = (
    Term(
        "ci", "Confidence interval (CI)",
        "The range of effects that fit the data well. If it includes zero, the data are also "
        "compatible with no effect at all. A 95% interval would contain the true effect in 95 of "
        "100 repeated studies.",
        ("confidence interval", "CI"),
    ),
    Term(
        "p", "p-value",
        "How surprising the data would be if the groups truly did not differ. Small values "
        "(below 0.05 by convention) speak against 'no difference'; they do not measure how large "
        "or important an effect is.",
        ("p-value", "adjusted p"),
    ),
    Term(
        "mixed", "Mixed model",
        "A regression model that uses every available answer of every participant, and allows "
        "for answers of the same person (and of the same Balint group) being more alike than "
        "answers of different people.",
        ("linear mixed model", "mixed-effects model", "mixed model"),
    ),
    Term(
        "df", "Degrees of freedom (df)",
        "How much independent information an estimate rests on. Few degrees of freedom (for "
        "example with few Balint groups) make the confidence interval wider.",
        ("degrees of freedom", "df"),
    ),
    Term(
        "satterthwaite", "Satterthwaite method",
        "A standard way to work out the degrees of freedom of a mixed model, so that p-values "
        "and confidence intervals are not too optimistic when there are few participants or "
        "groups.",
        ("Satterthwaite",),
    ),
    Term(
        "d", "Standardised effect (d)",
        "The effect divided by how much scores differed between people at baseline, so that "
        "effects on different questionnaires can be compared. Around 0.2 is usually called "
        "small, 0.5 medium, 0.8 large.",
        ("standardised effect", "standardised change", "d_ppc2", "Cohen's d"),
    ),
    Term(
        "bh", "Benjamini–Hochberg adjustment",
        "A correction of p-values for looking at several outcomes at once, so that chance "
        "findings among many outcomes are not over-interpreted.",
        ("Benjamini–Hochberg", "Benjamini-Hochberg"),
    ),
    Term(
        "icc", "Intra-cluster correlation (ICC)",
        "The share of the differences between participants that is explained by which Balint "
        "group they attended. 0 means group membership does not matter; larger values mean "
        "members of the same group answer alike.",
        ("intra-cluster correlation", "ICC"),
    ),
    Term(
        "boundary", "Boundary fit",
        "The model estimated one of its variances (for example between Balint groups) as zero. "
        "The estimate is usually still usable, but that part of the model carries no information.",
        ("boundary fit", "singular fit"),
    ),
    Term(
        "rci", "Reliable change",
        "A change in one person's score larger than measurement error alone would explain "
        "(Jacobson–Truax reliable change index).",
        ("reliable change", "Jacobson–Truax"),
    ),
    Term(
        "reliability", "Reliability (Cronbach's alpha, McDonald's omega)",
        "How consistently the items of a questionnaire scale measure the same thing, from 0 to 1; "
        "values above about 0.7 are usually considered adequate.",
        ("Cronbach's alpha", "McDonald's omega", "Cronbach’s alpha", "McDonald’s omega"),
    ),
    Term(
        "mi", "Multiple imputation",
        "Filling in missing answers many times over with plausible values from the observed data, "
        "analysing each completed data set and combining the results, to check that missing "
        "answers do not drive the conclusion.",
        ("multiple imputation",),
    ),
    Term(
        "tipping", "Tipping point",
        "How much worse (or better) the people who left would have had to do than similar people "
        "who stayed for the conclusion to change. The larger it is, the less drop-out can "
        "explain the result.",
        ("tipping point",),
    ),
    Term(
        "emm", "Estimated mean",
        "The average score the model expects for a group at a timepoint, with the other factors "
        "in the model held at their average.",
        ("estimated marginal mean", "model-estimated mean"),
    ),
)  # fmt: skip



@functools.lru_cache(maxsize=8)
def _compiled(terms: tuple[Term, ...]) -> tuple[dict[str, Term], re.Pattern[str]]:
    """Spelling → term, and one pattern matching every spelling of ``terms``."""
    by_spelling = {s.lower(): t for t in terms for s in t.spellings}
    # Longest spelling first so "linear mixed model" wins over "mixed model"; word boundaries so
    # "CI" is not found inside "CIRCLE" and "df" not inside "pdf".
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(s) for s in sorted(by_spelling, key=len, reverse=True))
        + r")(?![\w-])",
        re.IGNORECASE,
    )
    return by_spelling, pattern


_UPPER_ONLY = {"ci", "icc"}  # abbreviations: "ci" in lower case is not the term


def gloss(
    text: object, used: set[str] | None = None, terms: tuple[Term, ...] = GLOSSARY
) -> Markup:
    """Escape ``text`` and mark the first mention of each glossary term in it.

    Parameters
    ----------
    text : object
        Plain prose (anything else is converted with ``str``); already-safe :class:`Markup` is
        kept as markup and only its text between tags is searched.
    used : set of str, optional
        Collects the keys of the terms marked, so the glossary can list only those.
    terms : tuple of Term, optional
        The glossary to mark (default: the cohort report's; the programme report adds its own).

    Returns
    -------
    Markup
        Escaped HTML in which the first mention of each term is
        ``<a class="term" href="#gl-KEY"><abbr title="DEFINITION">mention</abbr></a>``.

    Examples
    --------
    >>> str(gloss("df by Satterthwaite & co"))[:40]
    '<a class="term" href="#gl-df"><abbr titl'
    """
    html = str(text) if isinstance(text, Markup) else str(escape("" if text is None else text))
    if 'class="term"' in html:  # glossed already: never nest a term inside a term
        if used is not None:
            used.update(re.findall(r'href="#gl-([\w-]+)"', html))
        return Markup(html)
    seen: set[str] = set()
    by_spelling, pattern = _compiled(terms)

    def mark(match: re.Match[str]) -> str:
        mention = match.group(1)
        term = by_spelling[mention.lower()]
        if (mention.lower() in _UPPER_ONLY and mention != mention.upper()) or term.key in seen:
            return mention
        seen.add(term.key)
        if used is not None:
            used.add(term.key)
        return (
            f'<a class="term" href="#gl-{term.key}">'
            f'<abbr title="{escape(term.definition)}">{mention}</abbr></a>'
        )

    # Only text between tags is searched: never inside an attribute or an existing element name.
    parts = re.split(r"(<[^>]*>)", html)
    return Markup("".join(p if p.startswith("<") else pattern.sub(mark, p) for p in parts))


def glossary_entries(terms: tuple[Term, ...] = GLOSSARY) -> list[dict[str, str]]:
    """The glossary for the appendix: ``key``, ``headword`` and ``definition`` per term."""
    return [
        {"key": t.key, "headword": t.headword, "definition": t.definition}
        for t in sorted(terms, key=lambda t: t.headword.lower())
    ]
