"""Snakemake wrapper of the power summary and page (logic: balint_analysis.power)."""

from balint_analysis.pipeline import finish_job, run_stage

run_stage(
    "power_gather", snakemake.params.config, dict(snakemake.input.items()),
    dict(snakemake.output.items()),
    snakemake.log[0],
)
finish_job()
