"""Snakemake wrapper of one outcome's chunk of imputations (logic: balint_analysis.missing)."""

from balint_analysis.pipeline import run_job

run_job(snakemake, "missing_chunk", outcome=snakemake.wildcards.outcome,
        chunk=int(snakemake.wildcards.chunk))  # fmt: skip
