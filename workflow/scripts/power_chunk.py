"""Snakemake wrapper of one power-simulation chunk (logic: balint_analysis.power)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "power_chunk", chunk=int(snakemake.wildcards.chunk))
