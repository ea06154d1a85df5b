"""Snakemake wrapper of prepare: ingest, validate, pseudonymise, score (see pipeline)."""

from balint_analysis.pipeline import finish_job, run_stage

run_stage(
    "prepare", snakemake.config, dict(snakemake.input.items()), dict(snakemake.output.items()),
    snakemake.log[0],
)
finish_job()
