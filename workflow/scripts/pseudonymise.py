"""Snakemake wrapper of the pseudonymise stage (logic: balint_analysis.pipeline)."""

from balint_analysis.pipeline import run_stage

run_stage(
    "pseudonymise", snakemake.config, dict(snakemake.input.items()), dict(snakemake.output.items()),
    snakemake.log[0],
)
