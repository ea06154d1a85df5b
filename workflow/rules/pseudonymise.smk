rule pseudonymise:
    input:
        valid=interim("valid.csv"),
        roster=interim("valid_roster.csv"),
    output:
        responses=processed("responses.csv"),
        participants=processed("participants.csv"),
        pseudonymisation=processed("pseudonymisation.json"),
    log:
        f"logs/{COHORT}/pseudonymise.log",
    benchmark:
        f"benchmarks/jobs/{COHORT}/pseudonymise.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        privacy=config.get("privacy", {}),
    script:
        "../scripts/pseudonymise.py"
