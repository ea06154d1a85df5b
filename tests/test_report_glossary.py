"""The glossary: technical terms in prose carry their definition, the appendix lists those used."""

import re

from markupsafe import Markup
from test_report import make_config
from test_report_sections import full_inputs

from balint_analysis.report import render_report
from balint_analysis.report.glossary import GLOSSARY, gloss, glossary_entries


def test_first_mention_of_each_term_is_marked_and_text_escaped() -> None:
    out = str(gloss("Satterthwaite df <b> & Satterthwaite again; 95% CI"))
    assert out.count('href="#gl-satterthwaite"') == 1  # first mention only
    assert out.count('href="#gl-df"') == 1 and out.count('href="#gl-ci"') == 1
    assert "&lt;b&gt; &amp;" in out and "<b>" not in out
    assert 'title="A standard way to work out the degrees of freedom' in out


def test_abbreviations_only_in_capitals_and_only_as_whole_words() -> None:
    assert "term" not in str(gloss("a special circle; pdf files; the dfs"))
    assert 'href="#gl-ci"' not in str(gloss("ci"))
    assert 'href="#gl-icc"' in str(gloss("an ICC of 0.05"))


def test_glossing_twice_never_nests_and_collects_the_terms_used() -> None:
    used: set[str] = set()
    once = gloss("Benjamini–Hochberg and a mixed model", used=used)
    assert gloss(once, used=used) == once
    assert used == {"bh", "mixed"}
    assert isinstance(once, Markup)


def test_every_term_has_a_definition_and_an_anchor() -> None:
    keys = [t.key for t in GLOSSARY]
    assert len(keys) == len(set(keys))
    assert all(len(t.definition) > 60 and t.spellings for t in GLOSSARY)
    assert [e["headword"] for e in glossary_entries()] == sorted(
        (t.headword for t in GLOSSARY), key=str.lower
    )


def test_report_lists_exactly_the_terms_it_uses_and_keeps_formulas_in_the_appendix() -> None:
    cfg = make_config()
    html = render_report(full_inputs(cfg), cfg)
    used = set(re.findall(r'<a class="term" href="#gl-([\w-]+)"', html))
    listed = set(re.findall(r'<div class="gl-entry" id="gl-([\w-]+)"', html))
    assert used == listed and {"satterthwaite", "ci", "bh", "icc", "d"} <= used
    main_text = html.split('<section id="appendix"')[0]
    assert "Treatment(" not in main_text and "Treatment(" in html
