"""The multiple-choice kind's rules (culturalign.analysis.mcq): accuracy and CircularEval,
its figures and its report. Included by the Snakefile when a selected benchmark's plug-in
declares kind `mcq`."""

MCQ = kind_constraint("mcq")


rule mcq_metrics:
    wildcard_constraints:
        benchmark=MCQ,
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
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/mcq_metrics.py"


rule mcq_plots:
    wildcard_constraints:
        benchmark=MCQ,
    input:
        summary=rules.mcq_metrics.output.summary,
    output:
        **{
            name: report(
                f"results/{{benchmark}}/figures/{name}.png",
                caption="../../report/kind_figure.rst",
                category="{benchmark}",
                subcategory="1. Results",
                labels={"benchmark": "{benchmark}", "figure": name},
            )
            for name in ("mcq_accuracy", "mcq_circular")
        },
        svg=[f"results/{{benchmark}}/figures/{name}.svg" for name in ("mcq_accuracy", "mcq_circular")],
    log:
        log_path("plots/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/mcq_plots.py"


rule mcq_report:
    wildcard_constraints:
        benchmark=MCQ,
    input:
        figures=[rules.mcq_plots.output.mcq_accuracy, rules.mcq_plots.output.mcq_circular],
        tables=[rules.mcq_metrics.output.summary, rules.mcq_metrics.output.circular],
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
        kind="mcq",
        description=lambda w: BENCHMARKS[w.benchmark].description,
        publisher_measure=lambda w: BENCHMARKS[w.benchmark].publisher_measure,
        cells=lambda w: SETTINGS.benchmarks[w.benchmark].prompt_cells(),
    log:
        log_path("report/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/tables_report.py"


for _key in benchmarks_of_kind("mcq"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.mcq_metrics.output)
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.mcq_plots.output)
