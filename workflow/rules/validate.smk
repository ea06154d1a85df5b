rule validate:
    input:
        responses=interim("responses.csv"),
        roster=interim("roster.csv"),
        info=interim("ingest.json"),
    output:
        valid=temp(interim("valid.csv")),
        roster=temp(interim("valid_roster.csv")),
        rejected=processed("rejected.csv"),
        careless=processed("careless.csv"),
        flow=processed("flow.json"),
    log:
        f"logs/{COHORT}/validate.log",
    benchmark:
        f"benchmarks/jobs/{COHORT}/validate.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        design=config["design"],
        strict=config["analysis"].get("strict", False),
    script:
        "../scripts/validate.py"
