"""The survey kind's rules (culturalign.analysis.survey): metrics, robustness, zone models,
zone-variable items and triage, PCA, figures, the report and the `paper` target. Included by
the Snakefile when a selected benchmark's plug-in declares kind `survey`."""

from culturalign.analysis.survey.published import aggregates_input as published_aggregates_input
from culturalign.analysis.survey.published import rule_inputs as paper_inputs

SURVEY = kind_constraint("survey")
REPORT_SETTINGS = config["report"]
FIGURES = "results/{benchmark}/figures"


rule compute_metrics:
    wildcard_constraints:
        benchmark=SURVEY,
    input:
        unpack(benchmark_tables),
        # every shard and its parsed answers, in SETTINGS.cells() order (params.cells)
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
        items_schema=source_file("workflow/schemas/items.schema.yaml"),
        consistency_schema=source_file("workflow/schemas/consistency.schema.yaml"),
        distributions_schema=source_file("workflow/schemas/item_distributions.schema.yaml"),
    output:
        item_scores="results/{benchmark}/metrics/items.parquet",
        distributions="results/{benchmark}/metrics/item_distributions.parquet",
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
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/compute_metrics.py"


rule summarise_metrics:
    wildcard_constraints:
        benchmark=SURVEY,
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
        # GlobalOpinionQA's measure: similarity (1 - Jensen-Shannon distance) per country
        country_similarity="results/{benchmark}/metrics/country_similarity.csv",
    params:
        metrics=config["metrics"],
    log:
        log_path("summarise_metrics/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/summarise_metrics.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(
        path.format(benchmark=_key)
        for path in (*rules.compute_metrics.output, *rules.summarise_metrics.output)
    )


rule robustness:
    wildcard_constraints:
        benchmark=SURVEY,
    input:
        questions=TABLES.replace("{table}", "questions"),
        human=TABLES.replace("{table}", "human"),
        item_scores=rules.compute_metrics.output.item_scores,
        distributions=rules.compute_metrics.output.distributions,
        translations=translation_table,
        schema=source_file("workflow/schemas/robustness_items.schema.yaml"),
    output:
        per_item="results/{benchmark}/robustness/items.parquet",
        summary="results/{benchmark}/robustness/summary.csv",
        coverage="results/{benchmark}/robustness/coverage.csv",
        unrecognised="results/{benchmark}/robustness/unrecognised.csv",
        findings="results/{benchmark}/robustness/findings.csv",
    params:
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        metrics=config["metrics"],
    log:
        log_path("robustness/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/robustness.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.robustness.output)


rule fit_mixed_effects:
    wildcard_constraints:
        benchmark=SURVEY,
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
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/fit_mixed_effects.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.fit_mixed_effects.output)


rule sensitivity:
    wildcard_constraints:
        benchmark=SURVEY,
    input:
        unpack(benchmark_tables),
        item_scores=rules.compute_metrics.output.item_scores,
        distributions=rules.compute_metrics.output.distributions,
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
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        populations=lambda w: SETTINGS.benchmarks[w.benchmark].populations,
        metrics=config["metrics"],
        sensitivity=config["sensitivity"],
        stats=config["stats"],
    log:
        log_path("sensitivity/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/sensitivity.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.sensitivity.output)


FIGURE_NAMES = {
    # name: (report category, caption file)
    "country_similarity": ("1. Metrics", "country_similarity.rst"),
    "metric_bars": ("1. Metrics", "metric_bars.rst"),
    "consistency_bars": ("1. Metrics", "consistency_bars.rst"),
    "en_native_scatter": ("2. Language and reasoning", "en_native_scatter.rst"),
    "reasoning_deltas": ("2. Language and reasoning", "reasoning_deltas.rst"),
    "zone_sensitivity": ("3. Cultural zones", "zone_sensitivity.rst"),
    "pca_overview": ("4. PCA", "pca_overview.rst"),
    "leakage_examples": ("5. Leakage", "leakage_examples.rst"),
    "robustness_flips": ("6. Robustness", "robustness_flips.rst"),
    "robustness_snr": ("6. Robustness", "robustness_snr.rst"),
    "robustness_position": ("6. Robustness", "robustness_position.rst"),
    "sensitive_items": ("7. Zone-variable items", "sensitive_items.rst"),
    "triage_scores": ("7. Zone-variable items", "triage_scores.rst"),
    "triage_curves": ("7. Zone-variable items", "triage_curves.rst"),
    "persona_gain": ("7. Zone-variable items", "persona_gain.rst"),
    "forest": ("3. Cultural zones", "forest.rst"),
    **{f"pca_{model}": ("4. PCA", "pca_model.rst") for model in SETTINGS.model_keys},
}


rule pca:
    wildcard_constraints:
        benchmark=SURVEY,
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        human=TABLES.replace("{table}", "human"),
        questions=TABLES.replace("{table}", "questions"),
        schema=source_file("workflow/schemas/pca_coordinates.schema.yaml"),
    output:
        coordinates="results/{benchmark}/pca/coordinates.parquet",
        collapse="results/{benchmark}/pca/collapse.csv",
    params:
        framing=REPORT_SETTINGS["pca_framing"],
        scaling=REPORT_SETTINGS["pca_scaling"],
        populations=lambda w: SETTINGS.benchmarks[w.benchmark].populations,
    log:
        log_path("pca/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/pca.py"


rule plots:
    wildcard_constraints:
        benchmark=SURVEY,
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        leakage=rules.compute_metrics.output.leakage,
        summary=rules.summarise_metrics.output.summary,
        consistency_summary=rules.summarise_metrics.output.consistency_summary,
        findings=rules.summarise_metrics.output.findings,
        sensitivity=rules.fit_mixed_effects.output.sensitivity,
        coordinates=rules.pca.output.coordinates,
        collapse=rules.pca.output.collapse,
        robustness=rules.robustness.output.summary,
        stats=rules.fit_mixed_effects.output.json,
        human_sensitivity=rules.sensitivity.output.human_items,
        triage=rules.sensitivity.output.triage,
        triage_items=rules.sensitivity.output.triage_items,
        persona_gain=rules.sensitivity.output.persona_gain,
        country_similarity=rules.summarise_metrics.output.country_similarity,
    output:
        **{
            name: report(
                f"{FIGURES}/{name}.png",
                caption=f"../../report/{caption}",
                category="{benchmark}",
                subcategory=category,
                labels={"benchmark": "{benchmark}", "figure": name},
            )
            for name, (category, caption) in FIGURE_NAMES.items()
        },
        svg=[f"{FIGURES}/{name}.svg" for name in FIGURE_NAMES],
    params:
        figure_dir=lambda wildcards, output: str(Path(output.svg[0]).parent),
        models=list(SETTINGS.model_keys),
        examples=REPORT_SETTINGS["leakage_figure_examples"],
    log:
        log_path("plots/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/plots.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.pca.output)
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.plots.output)


PAPER_FIGURES = [
    f"results/menavalues/paper/figures/{name}_comparison.{ext}"
    for name in ("model", "nvas", "clcs", "fcs", "spd", "kl")
    for ext in ("png", "svg")
]


rule report:
    wildcard_constraints:
        benchmark=SURVEY,
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
        published_aggregates=lambda w: published_aggregates_input(w.benchmark, config),
        item_scores=rules.compute_metrics.output.item_scores,
        roundtrip=rules.summarise_metrics.output.roundtrip,
        country_similarity=rules.summarise_metrics.output.country_similarity,
        review=lambda w: [f"results/{w.benchmark}/translations/review.csv"]
        if w.benchmark in translated_benchmarks() else [],
        # Read for their provenance metadata only (model, revision, engine, template hash).
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
        description=lambda w: BENCHMARKS[w.benchmark].description,
        publisher_measure=lambda w: BENCHMARKS[w.benchmark].publisher_measure,
        published_as={key: model.get("published_as") for key, model in config["models"].items()},
    log:
        log_path("report/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/report.py"


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
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/paper.py"


if config["paper"]["published_metrics"] and "menavalues" in config["benchmarks"]:

    FINAL_TARGETS.extend([*rules.paper.output])
