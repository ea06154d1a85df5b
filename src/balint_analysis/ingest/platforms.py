"""The adapter registry: format id → function turning a parsed table into a :class:`RawExport`.

One module per platform (``qualtrics``, ``redcap``, ``limesurvey``, ``surveymonkey``,
``sosci``, ``forms``); the layouts each reads are described in its docstring and in
``tests/fixtures/exports/README.md`` (where each was seen in real exports). ``spss`` and
``excel`` are containers: a ``.sav`` or ``.xlsx`` is read into a table, then the platform
signature inside it (Qualtrics, LimeSurvey or SoSci metadata, Microsoft Forms columns) picks
the adapter, else ``generic``.
"""

from __future__ import annotations

from collections.abc import Callable

from balint_analysis.ingest.base import RawExport
from balint_analysis.ingest.detect import TextTable
from balint_analysis.ingest.forms import read_generic, read_google_forms, read_microsoft_forms
from balint_analysis.ingest.limesurvey import read_limesurvey
from balint_analysis.ingest.qualtrics import read_qualtrics
from balint_analysis.ingest.redcap import read_redcap
from balint_analysis.ingest.sosci import read_sosci
from balint_analysis.ingest.surveymonkey import read_surveymonkey

__all__ = [
    "ADAPTERS",
    "FORMATS",
    "RawExport",
    "read_generic",
    "read_google_forms",
    "read_limesurvey",
    "read_microsoft_forms",
    "read_qualtrics",
    "read_redcap",
    "read_sosci",
    "read_surveymonkey",
]

ADAPTERS: dict[str, Callable[[TextTable], RawExport]] = {
    "generic": read_generic,
    "qualtrics": read_qualtrics,
    "redcap": read_redcap,
    "limesurvey": read_limesurvey,
    "surveymonkey": read_surveymonkey,
    "sosci": read_sosci,
    "google_forms": read_google_forms,
    "microsoft_forms": read_microsoft_forms,
}
#: Every value `exports[].format` accepts (besides ``auto``).
FORMATS = (*ADAPTERS, "spss", "excel")
