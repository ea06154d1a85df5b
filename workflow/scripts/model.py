"""Snakemake wrapper of the model stage (logic: balint_analysis.pipeline)."""

from balint_analysis.pipeline import finish_job, run_stage

run_stage(
    "model", snakemake.params.config, dict(snakemake.input.items()),
    dict(snakemake.output.items()),
    snakemake.log[0], threads=snakemake.threads,
)
finish_job()
