# Multiple imputation and tipping points ("Could drop-out explain the result?"). One job per
# chunk of imputations covering every outcome (parallel locally or as SLURM jobs), then one
# pooling job; MISSING, planned and bounded from the config, comes from rules/common.smk.


rule missing_chunk:
    input:
        scores=processed("scores.csv"),
        participants=processed("participants.csv"),
    output:
        results=interim("missing/chunk_{chunk}.csv"),
    log:
        log_file("missing_chunk_{chunk}.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/missing_chunk_{{chunk}}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        config=stage_config(config, "missing_chunk"),
    script:
        "../scripts/missing_chunk.py"


rule missing_gather:
    input:
        scores=processed("scores.csv"),
        participants=processed("participants.csv"),
        chunks=expand(
            interim("missing/chunk_{chunk}.csv"),
            chunk=range(MISSING["n_chunks"]),
        ),
    output:
        missing_data=processed("missing_data.csv"),
        tipping=processed("tipping.csv"),
        missing_emmeans=processed("missing_emmeans.csv"),
    log:
        log_file("missing_gather.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/missing_gather.tsv"
    conda:
        "../envs/analysis.yaml"
    # Pooling is light (~1 s, most of it start-up): it needs no core of its own, so it runs
    # beside the model stage instead of after it. A SLURM job still asks for one CPU.
    threads: 0
    resources:
        mem_mb=1000,
        runtime=10,
        cpus_per_task=1,
    params:
        config=stage_config(config, "missing_gather"),
    script:
        "../scripts/missing_gather.py"
