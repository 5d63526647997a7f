"""Stage: stats: mixed-effects cultural-zone models and likelihood-ratio tests."""


rule fit_mixed_effects:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        populations=TABLES.replace("{table}", "populations"),
    output:
        json="results/{benchmark}/stats/mixed_effects.json",
        txt="results/{benchmark}/stats/mixed_effects.txt",
        sensitivity="results/{benchmark}/stats/zone_sensitivity.csv",
        comparison="results/{benchmark}/stats/model_comparison.csv",
    params:
        stats=config["stats"],
    log:
        log_path("fit_mixed_effects/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/fit_mixed_effects.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.fit_mixed_effects.output)


rule sensitivity:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
    input:
        unpack(benchmark_tables),
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
        human_schema=source_file("workflow/schemas/sensitivity_human.schema.yaml"),
        triage_schema=source_file("workflow/schemas/triage_items.schema.yaml"),
    output:
        human_items="results/{benchmark}/sensitivity/human_items.parquet",
        triage_items="results/{benchmark}/sensitivity/triage_items.parquet",
        triage="results/{benchmark}/sensitivity/triage.csv",
        persona_gain="results/{benchmark}/sensitivity/persona_gain.csv",
        surrogate_items="results/{benchmark}/sensitivity/surrogate_items.parquet",
        surrogate="results/{benchmark}/sensitivity/surrogate.csv",
        summary="results/{benchmark}/sensitivity/summary.json",
    params:
        cells=lambda w: SETTINGS.cells(w.benchmark),
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        populations=lambda w: SETTINGS.benchmarks[w.benchmark].populations,
        metrics=config["metrics"],
        sensitivity=config["sensitivity"],
        stats=config["stats"],
    log:
        log_path("sensitivity/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/sensitivity.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.sensitivity.output)
