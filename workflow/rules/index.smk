"""Stage: index. results/index.html links every benchmark's report (each kind's rules write
results/{benchmark}/report.html) with one line per model from the kind's summary table."""


rule index:
    input:
        reports=[f"results/{key}/report.html" for key in selected_benchmarks()],
        summaries=[summary_file(key) for key in selected_benchmarks()],
    output:
        html="results/index.html",
    params:
        benchmarks={key: BENCHMARKS[key].description for key in selected_benchmarks()},
        kinds={key: KINDS[key].name for key in selected_benchmarks()},
    log:
        log_path("index"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/index.py"


for _key in selected_benchmarks():
    FINAL_TARGETS.append(f"results/{_key}/report.html")
FINAL_TARGETS.append("results/index.html")
