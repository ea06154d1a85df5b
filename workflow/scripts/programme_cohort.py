"""Snakemake wrapper of the programme's cohort step (logic: balint_analysis.programme.stage)."""

from balint_analysis.programme.stage import run_programme_job

run_programme_job(snakemake, "cohort")
