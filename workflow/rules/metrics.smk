"""Stage: metrics (see DESIGN.md): shards -> items, consistency, summaries, findings."""


rule compute_metrics:
    input:
        # every shard of the cell matrix, in SETTINGS.cells() order (params.cells)
        shards=[
            "results/generations/{model}/{language}/{framing}/{reasoning}.parquet".format(**cell)
            for cell in SETTINGS.cells()
        ],
        questions="results/benchmark/questions.parquet",
        human="results/benchmark/human.parquet",
        zones=config.get("zones_csv", "resources/cultural_zones.csv"),
        items_schema="workflow/schemas/items.schema.yaml",
        consistency_schema="workflow/schemas/consistency.schema.yaml",
    output:
        item_scores="results/metrics/items.parquet",
        consistency="results/metrics/consistency.parquet",
        leakage="results/metrics/leakage_examples.csv",
    params:
        cells=SETTINGS.cells(),
        questions=SETTINGS.questions,
        countries=SETTINGS.countries,
        metrics={
            k: v for k, v in config.get("metrics", {}).items() if k != "leakage_examples"
        },
        leakage_examples=config.get("metrics", {}).get("leakage_examples", 20),
    log:
        log_path("compute_metrics"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/compute_metrics.py"


rule summarise_metrics:
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        consistency=rules.compute_metrics.output.consistency,
    output:
        summary="results/metrics/summary.csv",
        consistency_summary="results/metrics/consistency_summary.csv",
        findings="results/metrics/findings.csv",
    params:
        metrics={
            k: v for k, v in config.get("metrics", {}).items() if k != "leakage_examples"
        },
    log:
        log_path("summarise_metrics"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/summarise_metrics.py"


FINAL_TARGETS.extend(rules.compute_metrics.output)
FINAL_TARGETS.extend(rules.summarise_metrics.output)
