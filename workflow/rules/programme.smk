# A programme's rules: each cohort's own workflow, then the pooled stage and the programme
# report (configuration and helpers: rules/programme_common.smk).


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),


# One job per cohort, in parallel: the cohort's own run (reusing its outputs when its inputs
# are unchanged). Its declared output is a summary, never the cohort's own outputs.
rule programme_cohort:
    input:
        config=lambda w: COHORTS[w.cohort].config,
        raw=lambda w: COHORTS[w.cohort].raw_inputs,
    output:
        summary=str(PROGRAMME_PATHS.interim / "cohorts" / "{cohort}.json"),
    log:
        programme_log("cohort_{cohort}.log"),
    conda:
        "../envs/analysis.yaml"
    # The cores shared out between the cohorts (independent runs parallelise perfectly).
    threads: COHORT_THREADS
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cohort_config=lambda w: COHORTS[w.cohort].config,
    script:
        "../scripts/programme_cohort.py"


rule programme_pool:
    input:
        summaries=expand(
            str(PROGRAMME_PATHS.interim / "cohorts" / "{cohort}.json"), cohort=COHORTS
        ),
        # a cohort re-run on its own is pooled at the programme's next run
        cohort_outputs=cohort_output_folders(),
    output:
        **{key: pooled(name) for key, name in POOLED_FILES.items()},
    log:
        programme_log("pool.log"),
    conda:
        "../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        programme=PROGRAMME.raw,
    script:
        "../scripts/programme_pool.py"


localrules:
    programme_report,


rule programme_report:
    input:
        **{key: pooled(name) for key, name in POOLED_FILES.items()},
    output:
        html=str(PROGRAMME_PATHS.report),
    log:
        programme_log("report.log"),
    conda:
        "../envs/analysis.yaml"
    params:
        programme=PROGRAMME.raw,
    script:
        "../scripts/programme_report.py"
