"""Snakemake wrapper of one chunk of imputations, every outcome (logic: balint_analysis.missing)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "missing_chunk", chunk=int(snakemake.wildcards.chunk))
