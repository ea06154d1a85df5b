"""The report stage: processed files in, one self-contained HTML report out.

Public API (the workflow's ``report`` rule calls :func:`write_report`):

* :func:`load_inputs` reads ``data/processed/<cohort>/`` into :class:`ReportInputs`;
* :func:`render_report` turns them into the HTML string (pure, deterministic);
* :func:`write_report` does both and writes ``reports/<cohort>/report.html`` atomically.
"""

from balint_analysis.report.render import ReportInputs, load_inputs, render_report, write_report

__all__ = ["ReportInputs", "load_inputs", "render_report", "write_report"]
