"""Snakemake wrapper of prepare: ingest, validate, pseudonymise, score (see pipeline)."""

from balint_analysis.pipeline import run_job

run_job(
    snakemake, "prepare", key_fingerprint=snakemake.params.key_fingerprint,
    key_history=snakemake.params.key_history, threads=snakemake.threads,
)
