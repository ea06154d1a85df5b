"""Snakemake wrapper of the model stage (logic: balint_analysis.pipeline)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "model", threads=snakemake.threads)
