"""Snakemake wrapper of the ingest stage (logic: balint_analysis.pipeline)."""

from balint_analysis.pipeline import run_stage

run_stage(
    "ingest", snakemake.config, dict(snakemake.input.items()), dict(snakemake.output.items()),
    snakemake.log[0],
)
