"""A programme: many cohorts, one answer (issue 17).

A programme config (``config/programme/<name>.yaml``, :mod:`.config`) lists cohort configs.
Each cohort is analysed by its own workflow; the pooled stage (:mod:`.stage`,
:mod:`.pooling`) reads their outputs and writes, to ``data/processed/programmes/<name>/``,
the meta-analysts' data set ``meta.csv`` (:mod:`.dataset`), a two-stage random-effects
meta-analysis (:mod:`.meta_analysis`), a one-stage pooled model (:mod:`.ipd`) and the
programme report (:mod:`.report`). Submodules are imported where used: this package imports
nothing heavy.
"""
