"""The answer box names the primary timepoint and why, with the other timepoints beside it, and
shows the model's standardised effect (d_model); Morris's d_ppc2 only where meta-analysts look.

Inputs are the known ``effects.csv`` rows of ``tests/test_report.py``: emotional exhaustion
−2.8 (95% CI −5.7 to 0.1) at post and −3.9 (−6.6 to −1.2) at follow-up, d_model = estimate / 8.
"""

from __future__ import annotations

import html as html_text

from test_report import make_config, make_inputs, text_of

from balint_analysis.report.render import render_report


def first_screen(**config_changes) -> str:
    cfg = make_config(**config_changes)
    html = render_report(make_inputs(cfg), cfg)
    return text_of(html.split('id="flow"')[0])


def answer_box(text: str) -> str:
    return text.split("Main caveats")[0]


def test_default_primary_timepoint_is_the_end_of_the_groups():
    box = answer_box(first_screen(primary_timepoint=None))
    assert "The main result is at post: the end of the groups, the timepoint chosen before " \
           "analysis." in box
    assert "−2.8 points difference in change, pre → post 95% CI −5.7 to 0.1" in box
    assert "Other timepoints: at follow-up, −3.9 points (95% CI −6.6 to −1.2)." in box
    assert "From pre to post" in box
    assert "cannot distinguish a real effect" in box  # the certainty of the post result


def test_an_explicit_primary_timepoint_is_named_with_the_others_beside_it():
    box = answer_box(first_screen(primary_timepoint="followup"))
    assert "The main result is at follow-up: the timepoint chosen before analysis." in box
    assert "end of the groups" not in box
    assert "pre → follow-up" in box
    assert "Other timepoints: at post, −2.8 points (95% CI −5.7 to 0.1)." in box
    assert "consistent with a real reduction" in box


def test_another_timepoint_with_a_small_arm_is_withheld_in_the_line():
    cfg = make_config(primary_timepoint=None)
    inputs = make_inputs(cfg)
    e = inputs.effects
    e.loc[(e["scale"] == "emotional_exhaustion") & (e["timepoint"] == "followup"),
          "n_control"] = 3
    box = answer_box(text_of(render_report(inputs, cfg).split('id="flow"')[0]))
    assert "Other timepoints: at follow-up, not reported (fewer than 5 people in an arm)." in box
    assert "−3.9" not in box


def test_the_standardised_effect_beside_the_result_is_the_models():
    cfg = make_config()  # the follow-up result: −3.9 (−6.6 to −1.2) over SD 8
    html = render_report(make_inputs(cfg), cfg)
    box = answer_box(text_of(html.split('id="flow"')[0]))
    assert "standardised effect −0.49 (95% CI −0.82 to −0.15), small" in box
    assert "d_ppc2" not in box and "−0.42" not in box  # Morris's d is not on the first screen
    results = text_of(html.split('id="results"')[1])
    # The outcome table's standardised effect is d_model: follow-up −3.9 / 8, post −2.8 / 8.
    assert "−0.49 (−0.82 to −0.15), small" in results
    assert "−0.35 (−0.71 to 0.01), small" in results
    # Morris's d_ppc2 stays, labelled, for meta-analysts.
    plain = html_text.unescape(results).replace(" :", ":")  # a glossed "CI" is a tag
    assert ("For meta-analysts: Morris's (2008) d_ppc2 (difference in mean change over the "
            "pooled baseline SD, small-sample corrected), on the participants observed at "
            "baseline and at that timepoint, with its 95% CI: post −0.30 (−0.65 to 0.05); "
            "follow-up −0.42 (−0.77 to −0.07).") in plain
