"""Stage: plots: PCA of populations in answer space, then every figure of the report."""

REPORT_SETTINGS = config["report"]
FIGURES = "results/{benchmark}/figures"
FIGURE_NAMES = {
    # name: (report category, caption file)
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
    "sensitive_items": ("7. Cultural sensitivity", "sensitive_items.rst"),
    "triage_scores": ("7. Cultural sensitivity", "triage_scores.rst"),
    "triage_curves": ("7. Cultural sensitivity", "triage_curves.rst"),
    "persona_gain": ("7. Cultural sensitivity", "persona_gain.rst"),
    "forest": ("3. Cultural zones", "forest.rst"),
    **{f"pca_{model}": ("4. PCA", "pca_model.rst") for model in SETTINGS.model_keys},
}


rule pca:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
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
        "../../envs/analysis.yaml"
    script:
        "../scripts/pca.py"


rule plots:
    wildcard_constraints:
        benchmark=kind_constraint("survey"),
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
    output:
        **{
            name: report(
                f"{FIGURES}/{name}.png",
                caption=f"../report/{caption}",
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
        "../../envs/analysis.yaml"
    script:
        "../scripts/plots.py"


for _key in benchmarks_of_kind("survey"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.pca.output)
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.plots.output)


KIND_FIGURES = {
    "mcq": ("mcq_accuracy", "mcq_circular"),
    "inventory": ("hofstede_indices", "hofstede_tau"),
}


rule kind_plots:
    wildcard_constraints:
        benchmark=kind_constraint("mcq", "inventory"),
        figure="|".join(name for names in KIND_FIGURES.values() for name in names),
    input:
        unpack(lambda w: reference_input(w.benchmark)),
        tables=lambda w: kind_tables(w.benchmark),
    output:
        png=report(
            f"{FIGURES}/{{figure}}.png",
            caption="../report/kind_figure.rst",
            category="{benchmark}",
            subcategory="1. Results",
            labels={"benchmark": "{benchmark}", "figure": "{figure}"},
        ),
        svg=f"{FIGURES}/{{figure}}.svg",
    params:
        kind=lambda w: BENCHMARKS[w.benchmark].kind,
    log:
        log_path("plots/{benchmark}/{figure}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/kind_plots.py"


for _key in benchmarks_of_kind("mcq", "inventory"):
    for _name in KIND_FIGURES[BENCHMARKS[_key].kind]:
        FINAL_TARGETS.append(f"{FIGURES}/{_name}.png".format(benchmark=_key))
