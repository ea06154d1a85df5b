"""Platform writers of the synthetic exports, one module per platform, and the layout builders.

``qualtrics``, ``redcap``, ``limesurvey``
    The demo layout's three exports (``demo`` assembles them).
``tutorial``
    A hand-made Excel workbook and an Excel "CSV UTF-8" file with their own column names.
``surveymonkey``
    SurveyMonkey "All individual responses" CSV exports (two header rows).
``sosci``
    SoSci Survey downloads: the UTF-16 ``data_*.csv``, SPSS ``.sav`` and the R-data CSV.
``common``
    :class:`~balint_analysis.simulate.platforms.common.ExportFile` and shared helpers.
"""
