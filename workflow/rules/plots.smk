"""Stage: plots (see DESIGN.md): PCA of countries in answer space, then every figure."""

REPORT_SETTINGS = config.get("report") or {}
FIGURE_NAMES = {
    # name: (report category, caption file)
    "metric_bars": ("1. Metrics", "metric_bars.rst"),
    "consistency_bars": ("1. Metrics", "consistency_bars.rst"),
    "en_native_scatter": ("2. Language and reasoning", "en_native_scatter.rst"),
    "reasoning_deltas": ("2. Language and reasoning", "reasoning_deltas.rst"),
    "zone_sensitivity": ("3. Cultural zones", "zone_sensitivity.rst"),
    "pca_overview": ("4. PCA", "pca_overview.rst"),
    "leakage_examples": ("5. Leakage", "leakage_examples.rst"),
    **{f"pca_{model}": ("4. PCA", "pca_model.rst") for model in SETTINGS.model_keys},
}


rule pca:
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        human="results/benchmark/human.parquet",
        questions="results/benchmark/questions.parquet",
        schema="workflow/schemas/pca_coordinates.schema.yaml",
    output:
        coordinates="results/pca/coordinates.parquet",
        collapse="results/pca/collapse.csv",
    params:
        framing=REPORT_SETTINGS.get("pca_framing", "persona"),
        scaling=REPORT_SETTINGS.get("pca_scaling", "range"),
        countries=SETTINGS.countries,
    log:
        log_path("pca"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/pca.py"


rule plots:
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        leakage=rules.compute_metrics.output.leakage,
        summary=rules.summarise_metrics.output.summary,
        consistency_summary=rules.summarise_metrics.output.consistency_summary,
        findings=rules.summarise_metrics.output.findings,
        sensitivity=rules.fit_mixed_effects.output.sensitivity,
        coordinates=rules.pca.output.coordinates,
        collapse=rules.pca.output.collapse,
    output:
        **{
            name: report(
                f"results/figures/{name}.png",
                caption=f"../report/{caption}",
                category=category,
                labels={"figure": name},
            )
            for name, (category, caption) in FIGURE_NAMES.items()
        },
        svg=[f"results/figures/{name}.svg" for name in FIGURE_NAMES],
    params:
        figure_dir=lambda wildcards, output: str(Path(output.svg[0]).parent),
        models=list(SETTINGS.model_keys),
        examples=REPORT_SETTINGS.get("leakage_figure_examples", 4),
    log:
        log_path("plots"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/plots.py"


FINAL_TARGETS.extend(rules.pca.output)
FINAL_TARGETS.extend([*rules.plots.output])
