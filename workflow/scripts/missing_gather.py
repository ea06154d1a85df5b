"""Snakemake wrapper of the pooling into missing_data.csv and tipping.csv (logic:
balint_analysis.missing)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "missing_gather")
