rule ingest:
    input:
        raw=raw_inputs(),
    output:
        responses=temp(interim("responses.csv")),
        roster=temp(interim("roster.csv")),
        info=temp(interim("ingest.json")),
    log:
        f"logs/{COHORT}/ingest.log",
    conda:
        "../envs/analysis.yaml"
    params:
        exports=config["exports"],
        participants=config.get("participants"),
        instruments=config["instruments"],
    script:
        "../scripts/ingest.py"
