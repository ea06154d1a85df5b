"""Snakemake wrapper of the power summary and page (logic: balint_analysis.power)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "power_gather")
