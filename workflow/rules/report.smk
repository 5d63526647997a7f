"""Stage: report (see DESIGN.md): results/report.html and the `paper` target."""

from culturalign.paper import rule_inputs as paper_inputs

PAPER_FIGURES = [
    f"results/paper/figures/{name}_comparison.{ext}"
    for name in ("model", "nvas", "clcs", "fcs", "spd", "kl")
    for ext in ("png", "svg")
]


rule report:
    input:
        figures=[rules.plots.output[name] for name in FIGURE_NAMES],
        summary=rules.summarise_metrics.output.summary,
        consistency_summary=rules.summarise_metrics.output.consistency_summary,
        findings=rules.summarise_metrics.output.findings,
        leakage=rules.compute_metrics.output.leakage,
        stats=rules.fit_mixed_effects.output.json,
        stats_text=rules.fit_mixed_effects.output.txt,
        sensitivity=rules.fit_mixed_effects.output.sensitivity,
        collapse=rules.pca.output.collapse,
        # Read for their provenance metadata only (model, revision, engine, template hash).
        shards=rules.compute_metrics.input.shards,
    output:
        html=report(
            "results/report.html",
            caption="../report/report_html.rst",
            category="0. Report",
            labels={"figure": "report.html"},
        ),
    log:
        log_path("report"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/report.py"


FINAL_TARGETS.extend(rules.report.output)


# The authors' published per-item tables, tidied, averaged and re-drawn. Usage:
#   snakemake --cores 2 paper \
#     --config 'paper={published_metrics: ../shared/data/menavalues/published_metrics}'
# (Snakemake's --config accepts no dotted keys; a YAML mapping value is merged into `paper`.)
rule paper:
    input:
        questions="results/benchmark/questions.parquet",
        schema="workflow/schemas/published.schema.yaml",
        tables=lambda wildcards: paper_inputs(config),
    output:
        published="results/paper/published.parquet",
        averages="results/paper/averages.csv",
        html="results/paper/index.html",
        figures=PAPER_FIGURES,
    params:
        folder=(config.get("paper") or {}).get("published_metrics"),
        figure_dir=lambda wildcards, output: str(Path(output.figures[0]).parent),
    log:
        log_path("paper"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper.py"


if (config.get("paper") or {}).get("published_metrics"):

    FINAL_TARGETS.extend([*rules.paper.output])
