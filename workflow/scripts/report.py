"""Snakemake wrapper of the report stage (logic: balint_analysis.pipeline)."""

from balint_analysis.pipeline import finish_job, run_stage

run_stage(
    "report", snakemake.params.config, dict(snakemake.input.items()),
    dict(snakemake.output.items()),
    snakemake.log[0],
)
finish_job()
