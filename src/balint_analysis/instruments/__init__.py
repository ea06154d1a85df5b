"""Instrument definitions: YAML data files plus the loader that validates them.

Each ``*.yaml`` file beside this module defines one instrument version (response coding, items,
subscales, reverse-keyed items relative to that coding, scoring method, missing-item rule,
score range, direction, published cut-offs with their source, licence, safety flags and what
the reference leaves unverified). A cohort can bring its own definition file through the config
(``instrument_definitions``); it is validated by the same schema (``instrument.schema.yaml``)
and the same extra checks. ``docs/instruments.md`` is generated from these files
(``balint-analysis instruments-doc``).
"""

from balint_analysis.instruments.definition import Category, Flag, Instrument, Scale
from balint_analysis.instruments.load import builtin_ids, load_file, load_instrument

__all__ = [
    "Category",
    "Flag",
    "Instrument",
    "Scale",
    "builtin_ids",
    "load_file",
    "load_instrument",
]
