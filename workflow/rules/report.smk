localrules:
    report,


rule report:
    input:
        effects=processed("effects.csv"),
        emmeans=processed("emmeans.csv"),
        models=processed("models.json"),
        scores=processed("scores.csv"),
        reliability=processed("reliability.csv"),
        rejected=processed("rejected.csv"),
        flow=processed("flow.json"),
        participants=processed("participants.csv"),
        pseudonymisation=processed("pseudonymisation.json"),
        item_stats=processed("items.csv"),
        flags=processed("flags.csv"),
        sensitivity=processed("sensitivity.csv"),
        clinical=processed("clinical.csv"),
        cutoffs=processed("cutoffs.csv"),
        dose=processed("dose.csv"),
        careless=processed("careless.csv"),
        missing_data=processed("missing_data.csv"),
        tipping=processed("tipping.csv"),
        missing_emmeans=processed("missing_emmeans.csv"),
        raw=raw_inputs(),
    output:
        html=report(
            REPORT,
            caption="../report/report.rst",
            category="Evaluation report",
        ),
    log:
        log_file("report.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/report.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        config=stage_config(config, "report"),
    script:
        "../scripts/report.py"
