rule score:
    input:
        responses=processed("responses.csv"),
    output:
        scores=processed("scores.csv"),
        reliability=processed("reliability.csv"),
        item_stats=processed("items.csv"),
        flags=processed("flags.csv"),
    log:
        f"logs/{COHORT}/score.log",
    benchmark:
        f"benchmarks/jobs/{COHORT}/score.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        instruments=config["instruments"],
    script:
        "../scripts/score.py"
