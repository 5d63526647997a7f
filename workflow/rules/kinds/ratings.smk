"""The ratings kind's rules (culturalign.analysis.ratings): the rater-level tables, the lme4
mixed models (an R script), culturally sensitive items, the models as quadrant judges, the
figures and the report. Included by the Snakefile when a selected benchmark's plug-in
declares kind `ratings`."""

RATINGS = kind_constraint("ratings")
RATINGS_DIR = "results/{benchmark}/ratings"
# model name -> figure name (file names without "+")
FOREST_MODELS = {"D": "ratings_forest_D", "CZ": "ratings_forest_CZ",
                 "D+CZ": "ratings_forest_D_CZ", "DxCZ": "ratings_forest_DxCZ"}  # fmt: skip
RATINGS_FIGURES = ["ratings_raters_map", *FOREST_MODELS.values(), "ratings_threshold_grid",
                   "ratings_judge_f1"]  # fmt: skip


rule ratings_tables:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        unpack(lambda w: smk.source_inputs(BENCHMARKS[w.benchmark])),
        items_schema=source_file("workflow/schemas/ratings_items.schema.yaml"),
        ratings_schema=source_file("workflow/schemas/ratings.schema.yaml"),
        raters_schema=source_file("workflow/schemas/raters.schema.yaml"),
    output:
        item_table=TABLES.replace("{table}", "items"),
        ratings=TABLES.replace("{table}", "ratings"),
        raters=TABLES.replace("{table}", "raters"),
        dropped=f"{RATINGS_DIR}/dropped.csv",
    params:
        options=lambda w: config["benchmarks"][w.benchmark],
    log:
        log_path("ratings_tables/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/ratings_tables.py"


rule ratings_model_input:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        ratings=rules.ratings_tables.output.ratings,
        raters=rules.ratings_tables.output.raters,
    output:
        tsv=f"{RATINGS_DIR}/model_input.tsv",
    params:
        demographics=config["ratings"]["demographics"],
        zone_column="zone",
    log:
        log_path("ratings_model_input/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/ratings_model_input.py"


rule ratings_mixed_models:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        ratings=rules.ratings_model_input.output.tsv,
    output:
        models=f"{RATINGS_DIR}/models.tsv",
        comparisons=f"{RATINGS_DIR}/comparisons.tsv",
        fixed_effects=f"{RATINGS_DIR}/fixed_effects.tsv",
    params:
        demographics=config["ratings"]["demographics"],
        zone_column="zone",
        interaction_with=config["ratings"]["interaction_with"],
        families=config["ratings"]["families"],
        glmer_optimizer=config["ratings"]["glmer_optimizer"],
    log:
        log_path("ratings_mixed_models/{benchmark}"),
    conda:
        "../../../envs/ratings-r.yaml"
    script:
        "../../scripts/ratings_mixed_models.R"


rule ratings_lrt:
    input:
        models=expand(rules.ratings_mixed_models.output.models, benchmark=benchmarks_of_kind("ratings")),
        comparisons=expand(rules.ratings_mixed_models.output.comparisons, benchmark=benchmarks_of_kind("ratings")),
        fixed_effects=expand(rules.ratings_mixed_models.output.fixed_effects, benchmark=benchmarks_of_kind("ratings")),
    output:
        lrt=expand(f"{RATINGS_DIR}/lrt.csv", benchmark=benchmarks_of_kind("ratings")),
        models=expand(f"{RATINGS_DIR}/models.csv", benchmark=benchmarks_of_kind("ratings")),
    params:
        benchmarks=benchmarks_of_kind("ratings"),
    log:
        log_path("ratings_lrt"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/ratings_lrt.py"


rule ratings_sensitivity:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        ratings=rules.ratings_tables.output.ratings,
        raters=rules.ratings_tables.output.raters,
    output:
        posteriors=f"{RATINGS_DIR}/posteriors.parquet",
        sensitive=f"{RATINGS_DIR}/sensitive_items.csv",
        grid=f"{RATINGS_DIR}/threshold_grid.csv",
    params:
        settings=config["ratings"],
    log:
        log_path("ratings_sensitivity/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/ratings_sensitivity.py"


rule ratings_judges:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        shards=lambda w: shards(w.benchmark),
        answers=lambda w: answers(w.benchmark),
        posteriors=rules.ratings_sensitivity.output.posteriors,
        sensitive=rules.ratings_sensitivity.output.sensitive,
    output:
        judge=f"{RATINGS_DIR}/judge.parquet",
        scores=f"{RATINGS_DIR}/judges.csv",
        surrogacy=f"{RATINGS_DIR}/surrogacy.csv",
        summary=f"{RATINGS_DIR}/summary.csv",
    params:
        cells=lambda w: SETTINGS.cells(w.benchmark),
        questions=lambda w: SETTINGS.benchmarks[w.benchmark].questions,
        settings=config["ratings"],
    log:
        log_path("ratings_judges/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/ratings_judges.py"


rule ratings_plots:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        raters=rules.ratings_tables.output.raters,
        models=rules.ratings_mixed_models.output.models,
        comparisons=rules.ratings_mixed_models.output.comparisons,
        fixed_effects=rules.ratings_mixed_models.output.fixed_effects,
        grid=rules.ratings_sensitivity.output.grid,
        scores=rules.ratings_judges.output.scores,
    output:
        **{
            name: report(
                f"results/{{benchmark}}/figures/{name}.png",
                caption="../../report/kind_figure.rst",
                category="{benchmark}",
                subcategory="1. Results",
                labels={"benchmark": "{benchmark}", "figure": name},
            )
            for name in RATINGS_FIGURES
        },
        svg=[f"results/{{benchmark}}/figures/{name}.svg" for name in RATINGS_FIGURES],
    params:
        forest_models=FOREST_MODELS,
    log:
        log_path("plots/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/ratings_plots.py"


rule ratings_report:
    wildcard_constraints:
        benchmark=RATINGS,
    input:
        figures=[f"results/{{benchmark}}/figures/{name}.png" for name in RATINGS_FIGURES],
        tables=[
            f"{RATINGS_DIR}/lrt.csv",
            f"{RATINGS_DIR}/models.csv",
            rules.ratings_sensitivity.output.sensitive,
            rules.ratings_sensitivity.output.posteriors,
            rules.ratings_sensitivity.output.grid,
            rules.ratings_judges.output.scores,
            rules.ratings_judges.output.summary,
            rules.ratings_judges.output.surrogacy,
            rules.ratings_tables.output.dropped,
            rules.ratings_tables.output.raters,
        ],
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
        kind="ratings",
        description=lambda w: BENCHMARKS[w.benchmark].description,
        publisher_measure=lambda w: BENCHMARKS[w.benchmark].publisher_measure,
        cells=lambda w: SETTINGS.benchmarks[w.benchmark].prompt_cells(),
    log:
        log_path("report/{benchmark}"),
    conda:
        "../../../envs/analysis.yaml"
    script:
        "../../scripts/tables_report.py"


for _key in benchmarks_of_kind("ratings"):
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.ratings_tables.output)
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.ratings_judges.output)
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.ratings_plots.output)
    FINAL_TARGETS.append(f"results/{_key}/ratings/lrt.csv")
