"""What ``rejected.csv`` may show of a failing value, per column (declared codes and ranges).

:func:`balint_analysis.privacy.shown_value` is the one rule; this module gives it, for every
column validation reports on, the answer range and the codes the configuration or the
instrument definition declares there.
"""

from __future__ import annotations

from collections.abc import Mapping

from balint_analysis.config import StudyConfig
from balint_analysis.ingest.redcap import OTHER_FORM
from balint_analysis.privacy import shown_value

__all__ = ["Declared", "declared_codes", "shown_in_column"]

#: Per column (an item column by its instrument id): answer range (or None) and codes.
Declared = dict[str, tuple[tuple[float, float] | None, tuple]]

#: The response types ingest itself writes (platform words, never typed by a participant).
RESPONSE_TYPES = ("normal", "preview", "test", "spam", "imported", "unknown status", OTHER_FORM)


def declared_codes(config: StudyConfig) -> Declared:
    """Per column, what :func:`~balint_analysis.privacy.shown_value` may show of its values.

    Items (``<instrument>__<n>``, looked up by instrument id): the answer range and answer
    labels of the instrument definition, plus the exports' declared answer codes; the design
    columns: the configured timepoints (and the exports' ``timepoint_values`` keys), groups
    and response types.
    """
    answer_codes = tuple(str(k) for e in config.exports if isinstance(e.answer_codes, Mapping)
                         for k in e.answer_codes)  # fmt: skip
    out: Declared = {
        inst_id: ((inst.response_min, inst.response_max),
                  (*inst.response_labels.values(), *answer_codes))
        for inst_id, inst in config.instruments.items()
    }  # fmt: skip
    out["timepoint"] = (None, (*config.design.timepoints,
                               *(k for e in config.exports for k in e.timepoint_values)))
    out["group"] = (None, tuple(config.design.groups))
    out["response_type"] = (None, RESPONSE_TYPES)
    return out


def shown_in_column(value: object, column: str, declared: Declared) -> str:
    """``shown_value`` of a cell of ``column`` (an item column by its instrument id)."""
    answer_range, codes = declared.get(column.split("__", 1)[0], (None, ()))
    return shown_value(value, answer_range=answer_range, codes=codes)
