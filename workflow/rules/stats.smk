"""Stage: stats: mixed-effects cultural-zone models and likelihood-ratio tests."""


rule fit_mixed_effects:
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        populations=TABLES.replace("{table}", "populations"),
    output:
        json="results/{benchmark}/stats/mixed_effects.json",
        txt="results/{benchmark}/stats/mixed_effects.txt",
        sensitivity="results/{benchmark}/stats/zone_sensitivity.csv",
    params:
        stats=config["stats"],
    log:
        log_path("fit_mixed_effects/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/fit_mixed_effects.py"


for _key in selected_benchmarks():
    FINAL_TARGETS.extend(path.format(benchmark=_key) for path in rules.fit_mixed_effects.output)
