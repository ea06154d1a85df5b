"""``balint-analysis init``: write ``config/<cohort>.yaml`` from a folder of raw exports.

Each file is read exactly as the workflow reads it (:mod:`.scan`); the config is assembled from
what the files show (:mod:`.recognise` for instruments, :mod:`.guess_design` for ids,
timepoints and groups) and written with the evidence of every guess as a comment
(:mod:`.emit`). What cannot be decided is written as ``TODO: <what to choose>``, which
``check`` and the workflow refuse with that text until it is replaced.
"""

from balint_analysis.scaffold.assemble import Scaffold, scaffold_config, write_scaffold

__all__ = ["Scaffold", "scaffold_config", "write_scaffold"]
