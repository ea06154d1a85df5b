"""Snakemake wrapper of prepare: ingest, validate, pseudonymise, score (see pipeline)."""

from balint_analysis.pipeline import finish_job, run_stage

run_stage(
    "prepare", snakemake.params.config, dict(snakemake.input.items()),
    dict(snakemake.output.items()),
    snakemake.log[0], key_fingerprint=snakemake.params.key_fingerprint,
    key_history=snakemake.params.key_history,
)
finish_job()
