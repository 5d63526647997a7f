"""Stage: report (see DESIGN.md): results/report.html and the `paper` target."""

PAPER_FIGURES = [
    f"results/paper/figures/{name}_comparison.{ext}"
    for name in ("model", "nvas", "clcs", "fcs", "spd", "kl")
    for ext in ("png", "svg")
]


def published_metric_files(wildcards) -> list[str]:
    """The published spreadsheets (inputs of rule paper); empty when the target is off."""
    folder = (config.get("paper") or {}).get("published_metrics")
    if not folder:
        raise ValueError(
            "rule paper needs config key paper.published_metrics (a folder); e.g. "
            "--config 'paper={published_metrics: ../shared/data/menavalues/published_metrics}'"
        )
    return sorted(str(path) for path in Path(folder).rglob("*.xlsx"))


# The authors' published per-item tables, tidied, averaged and re-drawn. Usage:
#   snakemake --cores 2 paper \
#     --config 'paper={published_metrics: ../shared/data/menavalues/published_metrics}'
# (Snakemake's --config accepts no dotted keys; a YAML mapping value is merged into `paper`.)
rule paper:
    input:
        questions="results/benchmark/questions.parquet",
        schema="workflow/schemas/published.schema.yaml",
        tables=published_metric_files,
    output:
        published="results/paper/published.parquet",
        averages="results/paper/averages.csv",
        html="results/paper/index.html",
        figures=PAPER_FIGURES,
    params:
        folder=(config.get("paper") or {}).get("published_metrics"),
        figure_dir="results/paper/figures",
    log:
        log_path("paper"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper.py"


if (config.get("paper") or {}).get("published_metrics"):

    FINAL_TARGETS.extend([*rules.paper.output])
