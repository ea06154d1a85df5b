"""The ``demo`` layout: baseline in Qualtrics, post in REDCap, follow-up in LimeSurvey.

The committed cohort in ``data/raw/demo/`` is this layout (``tests/test_demo_data.py`` proves
the bytes). Files: the roster ``participants.csv``, ``pre_qualtrics.csv``
(:mod:`~balint_analysis.simulate.platforms.qualtrics`), ``post_redcap.csv``
(:mod:`~balint_analysis.simulate.platforms.redcap`) and ``followup_limesurvey.csv``
(:mod:`~balint_analysis.simulate.platforms.limesurvey`), with the problems of
:mod:`balint_analysis.simulate.problems`. The random generator is consumed exactly as before
layouts existed (tables, then problems, in file order), so every preset keeps its bytes.
"""

from __future__ import annotations

from typing import Any

from balint_analysis.simulate import problems
from balint_analysis.simulate.coding import CODES
from balint_analysis.simulate.exports import (
    COMMENT_TAG,
    LIMESURVEY_COMMENT,
    LIMESURVEY_FILE,
    LIMESURVEY_ID,
    LIMESURVEY_TIMEPOINT,
    QUALTRICS_FILE,
    REDCAP_EVENTS,
    REDCAP_FILE,
    platform_columns,
    roster_table,
    to_csv_bytes,
)
from balint_analysis.simulate.params import TIMEPOINTS
from balint_analysis.simulate.platforms.common import (
    Built,
    Context,
    ExportFile,
    csv_facts,
    templates,
)
from balint_analysis.simulate.platforms.limesurvey import limesurvey_table, to_limesurvey_bytes
from balint_analysis.simulate.platforms.qualtrics import qualtrics_header, qualtrics_table
from balint_analysis.simulate.platforms.redcap import redcap_table

__all__ = ["build"]

QUALTRICS_IDENTIFIERS = ("IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                         "LocationLatitude", "LocationLongitude")  # fmt: skip


def build(ctx: Context) -> Built:
    """Write the three demo exports and the roster (module docstring)."""
    params, rng, people, answers = ctx.params, ctx.rng, ctx.people, ctx.answers
    args = (ctx.blanks, ctx.responded)
    qual = qualtrics_table(params, rng, people, ctx.identities, answers, *args)
    red = redcap_table(params, rng, people, answers, *args)
    lime = limesurvey_table(params, rng, people, answers, *args)
    q_found: list[dict[str, Any]] = []
    r_found: list[dict[str, Any]] = []
    l_found: list[dict[str, Any]] = []
    if params.inject_problems:
        qual, q_found = problems.inject_qualtrics(params, rng, qual, answers)
        red, r_found = problems.inject_redcap(params, rng, red, people, answers)
        lime, l_found = problems.inject_limesurvey(params, rng, lime, answers)
    qual, q_found = problems.finalise(qual, q_found, platform="qualtrics", file=QUALTRICS_FILE)
    red, r_found = problems.finalise(red, r_found, platform="redcap", file=REDCAP_FILE)
    lime, l_found = problems.finalise(lime, l_found, platform="limesurvey", file=LIMESURVEY_FILE)
    red_templates = templates(answers, "redcap")
    files = [
        ExportFile(
            QUALTRICS_FILE, qual, q_found, to_csv_bytes(qual, qualtrics_header(params, answers)),
            platform_columns(answers, "qualtrics"), "ExternalReference", CODES,
            csv_facts(header_rows=3), QUALTRICS_IDENTIFIERS, (COMMENT_TAG,),
            {"format": "qualtrics", "timepoint": TIMEPOINTS[0], "id": "ExternalReference"},
            templates(answers, "qualtrics"),
        ),
        ExportFile(
            REDCAP_FILE, red, r_found, to_csv_bytes(red), platform_columns(answers, "redcap"),
            "record_id", CODES, csv_facts(), ("redcap_survey_identifier",), ("comments",),
            {"format": "redcap", "id": "record_id", "timepoint_column": "redcap_event_name",
             "timepoint_values": {e: TIMEPOINTS[t] for t, e in REDCAP_EVENTS.items()}},
            red_templates,
        ),
        ExportFile(
            LIMESURVEY_FILE, lime, l_found, to_limesurvey_bytes(lime),
            platform_columns(answers, "limesurvey"), LIMESURVEY_ID, CODES,
            csv_facts(bom=True, line_ending="\\r\\n", quote_all=True, empty_last_line=True),
            (), (LIMESURVEY_COMMENT,),
            {"format": "limesurvey", "timepoint": TIMEPOINTS[LIMESURVEY_TIMEPOINT],
             "id": LIMESURVEY_ID},
            templates(answers, "limesurvey"),
        ),
    ]  # fmt: skip
    return Built(files, roster_table(people, ctx.identities), people)
