"""Snakemake wrapper of the report stage (logic: balint_analysis.pipeline)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "report")
