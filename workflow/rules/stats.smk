"""Stage: stats (see DESIGN.md): mixed-effects cultural-zone models and LRTs."""


rule fit_mixed_effects:
    input:
        item_scores=rules.compute_metrics.output.item_scores,
        zones=config.get("zones_csv", "resources/cultural_zones.csv"),
    output:
        json="results/stats/mixed_effects.json",
        txt="results/stats/mixed_effects.txt",
        sensitivity="results/stats/zone_sensitivity.csv",
    params:
        stats=config.get("stats", {}),
    log:
        log_path("fit_mixed_effects"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/fit_mixed_effects.py"


FINAL_TARGETS.extend(rules.fit_mixed_effects.output)
