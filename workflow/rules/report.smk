"""Stage: report: results/{benchmark}/report.html, results/index.html and the `paper` target."""

from culturalign.analysis.survey.published import rule_inputs as paper_inputs

PAPER_FIGURES = [
    f"results/menavalues/paper/figures/{name}_comparison.{ext}"
    for name in ("model", "nvas", "clcs", "fcs", "spd", "kl")
    for ext in ("png", "svg")
]


rule report:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
    input:
        figures=[f"{FIGURES}/{name}.png" for name in FIGURE_NAMES],
        summary=rules.summarise_metrics.output.summary,
        consistency_summary=rules.summarise_metrics.output.consistency_summary,
        findings=rules.summarise_metrics.output.findings,
        leakage=rules.compute_metrics.output.leakage,
        stats=rules.fit_mixed_effects.output.json,
        stats_text=rules.fit_mixed_effects.output.txt,
        sensitivity=rules.fit_mixed_effects.output.sensitivity,
        collapse=rules.pca.output.collapse,
        robustness=rules.robustness.output.summary,
        robustness_coverage=rules.robustness.output.coverage,
        robust_findings=rules.robustness.output.findings,
        findings_by_category=rules.summarise_metrics.output.findings_by_category,
        model_comparison=rules.fit_mixed_effects.output.comparison,
        human_sensitivity=rules.sensitivity.output.human_items,
        triage=rules.sensitivity.output.triage,
        persona_gain=rules.sensitivity.output.persona_gain,
        surrogate=rules.sensitivity.output.surrogate,
        sensitivity_summary=rules.sensitivity.output.summary,
        published_aggregates=lambda w: published_aggregates(w.benchmark),
        item_scores=rules.compute_metrics.output.item_scores,
        roundtrip=rules.summarise_metrics.output.roundtrip,
        review=lambda w: [f"results/{w.benchmark}/translations/review.csv"]
        if w.benchmark in translated_benchmarks() else [],
        # Read for their provenance metadata only (model, revision, engine, template hash).
        shards=lambda w: shards(w.benchmark),
    output:
        html=report(
            "results/{benchmark}/report.html",
            caption="../report/report_html.rst",
            category="{benchmark}",
            subcategory="0. Report",
            labels={"benchmark": "{benchmark}", "figure": "report.html"},
        ),
    params:
        benchmark=lambda w: w.benchmark,
        description=lambda w: BENCHMARKS[w.benchmark].description,
        published_as={key: model.get("published_as") for key, model in config["models"].items()},
    log:
        log_path("report/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/report.py"


rule index:
    input:
        reports=[f"results/{key}/report.html" for key in selected_benchmarks()],
        summaries=[summary_file(key) for key in selected_benchmarks()],
    output:
        html="results/index.html",
    params:
        benchmarks={key: BENCHMARKS[key].description for key in selected_benchmarks()},
    log:
        log_path("index"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/index.py"


# Benchmarks with a gold answer (mcq) or scored dimensions (inventory): a shorter report.
rule benchmark_report:
    wildcard_constraints:
        benchmark=kind_constraint("mcq", "inventory"),
    input:
        figures=lambda w: [f"{FIGURES}/{name}.png".format(benchmark=w.benchmark)
                           for name in KIND_FIGURES[BENCHMARKS[w.benchmark].kind]],
        tables=lambda w: kind_tables(w.benchmark),
        shards=lambda w: shards(w.benchmark),
    output:
        html=report(
            "results/{benchmark}/report.html",
            caption="../report/report_html.rst",
            category="{benchmark}",
            subcategory="0. Report",
            labels={"benchmark": "{benchmark}", "figure": "report.html"},
        ),
    params:
        benchmark=lambda w: w.benchmark,
        kind=lambda w: BENCHMARKS[w.benchmark].kind,
        description=lambda w: BENCHMARKS[w.benchmark].description,
        cells=lambda w: SETTINGS.benchmarks[w.benchmark].prompt_cells(),
    log:
        log_path("report/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/benchmark_report.py"


for _key in selected_benchmarks():
    FINAL_TARGETS.append(f"results/{_key}/report.html")
FINAL_TARGETS.append("results/index.html")


# The authors' published per-item tables, tidied, averaged and re-drawn. Usage:
#   snakemake --cores 2 paper \
#     --config 'paper={published_metrics: ../shared/data/menavalues/published_metrics}'
# (Snakemake's --config accepts no dotted keys; a YAML mapping value is merged into `paper`.)
rule paper:
    input:
        questions="results/menavalues/benchmark/questions.parquet",
        schema=source_file("workflow/schemas/published.schema.yaml"),
        tables=lambda wildcards: paper_inputs(config),
    output:
        published="results/menavalues/paper/published.parquet",
        averages="results/menavalues/paper/averages.csv",
        aggregates="results/menavalues/paper/aggregates.csv",
        html="results/menavalues/paper/index.html",
        figures=PAPER_FIGURES,
    params:
        folder=config["paper"]["published_metrics"],
        figure_dir=lambda wildcards, output: str(Path(output.figures[0]).parent),
    log:
        log_path("paper"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper.py"


if config["paper"]["published_metrics"] and "menavalues" in config["benchmarks"]:

    FINAL_TARGETS.extend([*rules.paper.output])
