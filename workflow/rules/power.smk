# Simulation-based power analysis for planning the next cohort: `snakemake power --cores all`.
# Replicates are split into chunk jobs (run in parallel locally or as SLURM jobs); POWER, the
# settings, is read and bounded with the rest of the config in rules/common.smk.


rule power:
    input:
        processed("power/power.csv"),
        POWER_PAGE,


rule power_chunk:
    output:
        results=interim("power/chunk_{chunk}.csv"),
    log:
        log_file("power_chunk_{chunk}.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/power_chunk_{{chunk}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        config=stage_config(config, "power_chunk"),
    script:
        "../scripts/power_chunk.py"


rule power_gather:
    input:
        chunks=expand(
            interim("power/chunk_{chunk}.csv"), chunk=range(POWER["n_chunks"])
        ),
    output:
        csv=processed("power/power.csv"),
        html=POWER_PAGE,
    log:
        log_file("power_gather.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/power_gather.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=stage_config(config, "power_gather"),
    script:
        "../scripts/power_gather.py"
