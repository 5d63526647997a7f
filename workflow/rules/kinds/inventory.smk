"""The inventory kind's rules (culturalign.analysis.inventory): Hofstede dimension indices,
their figures and the report. Included by the Snakefile when a selected benchmark's plug-in
declares kind `inventory`."""

from culturalign.analysis.inventory import reference_input

INVENTORY = kind_constraint("inventory")


rule inventory_metrics:
    wildcard_constraints:
        benchmark=INVENTORY,
    input:
        unpack(benchmark_tables),
        unpack(lambda w: reference_input(config['benchmarks'][w.benchmark])),
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
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/inventory_metrics.py"


rule inventory_plots:
    wildcard_constraints:
        benchmark=INVENTORY,
    input:
        unpack(lambda w: reference_input(config['benchmarks'][w.benchmark])),
        indices=rules.inventory_metrics.output.indices,
        comparison=rules.inventory_metrics.output.comparison,
    output:
        **{
            name: report(
                f"results/{{benchmark}}/figures/{name}.png",
                caption="../../report/kind_figure.rst",
                category="{benchmark}",
                subcategory="1. Results",
                labels={"benchmark": "{benchmark}", "figure": name},
            )
            for name in ("hofstede_indices", "hofstede_tau")
        },
        svg=[f"results/{{benchmark}}/figures/{name}.svg" for name in ("hofstede_indices", "hofstede_tau")],
    log:
        log_path("plots/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/inventory_plots.py"


rule inventory_report:
    wildcard_constraints:
        benchmark=INVENTORY,
    input:
        figures=[rules.inventory_plots.output.hofstede_indices, rules.inventory_plots.output.hofstede_tau],
        tables=[rules.inventory_metrics.output.summary, rules.inventory_metrics.output.indices,
                rules.inventory_metrics.output.comparison],
        data_notes=lambda w: table(w.benchmark, "data_notes"),
        shards=lambda w: shards(w.benchmark),
    output:
        html=report(
            "results/{benchmark}/report.html",
            caption="../../report/report_html.rst",
            category="{benchmark}",
            subcategory="0. Report",
            labels={"benchmark": "{benchmark}", "figure": "report.html"},
        ),
    params:
        benchmark=lambda w: w.benchmark,
        kind="inventory",
        description=lambda w: BENCHMARKS[w.benchmark].description,
        publisher_measure=lambda w: BENCHMARKS[w.benchmark].publisher_measure,
        cells=lambda w: SETTINGS.benchmarks[w.benchmark].prompt_cells(),
    log:
        log_path("report/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/tables_report.py"


for _key in benchmarks_of_kind("inventory"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.inventory_metrics.output)
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.inventory_plots.output)
