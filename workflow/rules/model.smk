rule model:
    input:
        scores=processed("scores.csv"),
        participants=processed("participants.csv"),
        reliability=processed("reliability.csv"),
        # code-matching report and answer keys: the analysis without fuzzy code links
        flow=processed("flow.json"),
        responses=processed("responses.csv"),
    output:
        effects=processed("effects.csv"),
        emmeans=processed("emmeans.csv"),
        models=processed("models.json"),
        sensitivity=processed("sensitivity.csv"),
        clinical=processed("clinical.csv"),
        cutoffs=processed("cutoffs.csv"),
        dose=processed("dose.csv"),
        model_dir=directory(processed("models")),
    log:
        log_file("model.log"),
    benchmark:
        f"benchmarks/jobs/{COHORT}/model.tsv"
    conda:
        "../envs/analysis.yaml"
    # Outcomes are fitted in parallel processes; Snakemake scales this down to --cores.
    threads: 4
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=stage_config(config, "model"),
    script:
        "../scripts/model.py"
