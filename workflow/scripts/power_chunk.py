"""Snakemake wrapper of one power-simulation chunk (logic: balint_analysis.power)."""

from balint_analysis.pipeline import finish_job, run_stage

run_stage(
    "power_chunk", snakemake.params.config, dict(snakemake.input.items()),
    dict(snakemake.output.items()),
    snakemake.log[0], chunk=int(snakemake.wildcards.chunk),
)
finish_job()
