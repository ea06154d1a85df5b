"""Validate: pandera schemas generated from the instruments and the design; row accounting.

Every problem becomes one row of ``rejected.csv`` (source, row, column, reason, action, value).
What excludes a whole row (documented rule):

* not a real response: Qualtrics preview/test/spam (``response_type``), or unfinished
  (Qualtrics ``Finished`` = 0, REDCap form not ``Complete``);
* no participant id, a participant missing from the roster, an unknown group;
* a timepoint that is not in ``design.timepoints`` (e.g. an unmapped REDCap event);
* staff test records (``exports[].test_ids``) count as test responses;
* a group that differs from the participant's group at their earliest timepoint (when the
  group comes from an export column; a roster fixes the group once);
* a duplicate submission: of several accepted (hence complete) rows for one participant ×
  timepoint the latest (by submission time, then file order) of those with at least one
  answered item is kept (a REDCap row of another, repeating form never displaces the
  answers), the others are rejected naming the kept row.

Participant codes are matched across waves exactly, or tolerantly when
``validation.code_matching.method`` is ``tolerant`` (:mod:`balint_analysis.validate.codes`).
Careless-responding and platform quality flags (:mod:`balint_analysis.validate.careless`) are
reported in ``careless.csv``; flagged responses are kept.

A bad *item value* (text, out of range, not an allowed value) sets that item missing and keeps
the response; the scoring stage's missing-item rule decides whether the scale is computable.
For every file ``rows_in == rows_accepted + rows_rejected`` (checked before writing).
"""

from balint_analysis.validate.stage import (
    ITEM_MISSING,
    NOT_A_RESPONSE,
    ROW_EXCLUDED,
    Screened,
    ValidationResult,
    response_schema,
    roster_schema,
    screen,
    summarise,
    validate,
)

__all__ = [
    "ITEM_MISSING",
    "NOT_A_RESPONSE",
    "ROW_EXCLUDED",
    "Screened",
    "ValidationResult",
    "response_schema",
    "roster_schema",
    "screen",
    "summarise",
    "validate",
]
