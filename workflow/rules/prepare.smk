# ingest -> validate -> pseudonymise -> score, one job: raw participant codes stay in memory,
# and the four stages (all driven by the instrument definitions) share one interpreter start.
rule prepare:
    input:
        raw=raw_inputs(),
    output:
        responses=processed("responses.csv"),
        participants=processed("participants.csv"),
        pseudonymisation=processed("pseudonymisation.json"),
        rejected=processed("rejected.csv"),
        careless=processed("careless.csv"),
        flow=processed("flow.json"),
        scores=processed("scores.csv"),
        reliability=processed("reliability.csv"),
        item_stats=processed("items.csv"),
        flags=processed("flags.csv"),
    log:
        log_file("prepare.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/prepare.tsv"
    conda:
        "../envs/analysis.yaml"
    # The exports are read in parallel processes; Snakemake scales this down to --cores.
    threads: 2
    params:
        config=stage_config(config, "prepare"),
        key_fingerprint=KEY_FINGERPRINT,
        key_history=interim("key_history.json"),
    script:
        "../scripts/prepare.py"
