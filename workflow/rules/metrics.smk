"""Stage: metrics: shards + parsed answers -> items, consistency, summaries, findings."""


rule compute_metrics:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
    input:
        unpack(benchmark_tables),
        # every shard and its parsed answers, in SETTINGS.cells() order (params.cells)
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
        items_schema=source_file("workflow/schemas/items.schema.yaml"),
        consistency_schema=source_file("workflow/schemas/consistency.schema.yaml"),
    output:
        item_scores="results/{benchmark}/metrics/items.parquet",
        consistency="results/{benchmark}/metrics/consistency.parquet",
        leakage="results/{benchmark}/metrics/leakage_examples.csv",
    params:
        cells=lambda w: SETTINGS.cells(w.benchmark),
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        populations=lambda w: SETTINGS.benchmarks[w.benchmark].populations,
        metrics=config["metrics"],
    log:
        log_path("compute_metrics/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_metrics.py"


rule summarise_metrics:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        consistency=rules.compute_metrics.output.consistency,
        questions=TABLES.replace("{table}", "questions"),
    output:
        summary="results/{benchmark}/metrics/summary.csv",
        consistency_summary="results/{benchmark}/metrics/consistency_summary.csv",
        findings="results/{benchmark}/metrics/findings.csv",
        findings_by_category="results/{benchmark}/metrics/findings_by_category.csv",
        # cross-lingual findings restricted to native texts that passed their round trip
        roundtrip="results/{benchmark}/metrics/roundtrip_findings.csv",
    params:
        metrics=config["metrics"],
    log:
        log_path("summarise_metrics/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/summarise_metrics.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(
        path.format(benchmark=_key)
        for path in (*rules.compute_metrics.output, *rules.summarise_metrics.output)
    )


rule robustness:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
    input:
        unpack(benchmark_tables),
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
        translations=translation_table,
        schema=source_file("workflow/schemas/robustness_items.schema.yaml"),
    output:
        per_item="results/{benchmark}/robustness/items.parquet",
        summary="results/{benchmark}/robustness/summary.csv",
        coverage="results/{benchmark}/robustness/coverage.csv",
        unrecognised="results/{benchmark}/robustness/unrecognised.csv",
        findings="results/{benchmark}/robustness/findings.csv",
    params:
        cells=lambda w: SETTINGS.cells(w.benchmark),
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        populations=lambda w: SETTINGS.benchmarks[w.benchmark].populations,
        metrics=config["metrics"],
    log:
        log_path("robustness/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/robustness.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.robustness.output)


rule mcq_metrics:
    wildcard_constraints:
        benchmark=kind_constraint("mcq"),
    input:
        unpack(benchmark_tables),
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
        schema=source_file("workflow/schemas/mcq_items.schema.yaml"),
    output:
        per_item="results/{benchmark}/mcq/items.parquet",
        summary="results/{benchmark}/mcq/summary.csv",
        circular="results/{benchmark}/mcq/circular.csv",
    params:
        cells=lambda w: SETTINGS.cells(w.benchmark),
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        metrics=config["metrics"],
    log:
        log_path("mcq_metrics/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/mcq_metrics.py"


rule inventory_metrics:
    wildcard_constraints:
        benchmark=kind_constraint("inventory"),
    input:
        unpack(benchmark_tables),
        unpack(lambda w: reference_input(w.benchmark)),
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
    output:
        per_item="results/{benchmark}/hofstede/items.parquet",
        indices="results/{benchmark}/hofstede/indices.csv",
        comparison="results/{benchmark}/hofstede/comparison.csv",
        summary="results/{benchmark}/hofstede/summary.csv",
    params:
        cells=lambda w: SETTINGS.cells(w.benchmark),
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        populations=lambda w: SETTINGS.benchmarks[w.benchmark].populations,
        constants=lambda w: config["benchmarks"][w.benchmark].get("constants", {}),
        metrics=config["metrics"],
    log:
        log_path("inventory_metrics/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/inventory_metrics.py"


for _key in benchmarks_of_kind("mcq"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.mcq_metrics.output)
for _key in benchmarks_of_kind("inventory"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.inventory_metrics.output)
