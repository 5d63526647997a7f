"""Benchmark ingest: download (if absent) and parse the MENAValues workbook."""


# Only an absent workbook gets a download rule: an existing file (e.g. a read-only local
# copy) is then a plain input that Snakemake never deletes or rebuilds.
if not Path(config["benchmark_xlsx"]).exists():

    rule download_benchmark:
        output:
            config["benchmark_xlsx"],
        params:
            url=config["benchmark_url"],
            sha256=config["benchmark_sha256"],
        log:
            log_path("download_benchmark"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/download_benchmark.py"


rule parse_benchmark:
    input:
        xlsx=config["benchmark_xlsx"],
        questions_schema="workflow/schemas/questions.schema.yaml",
        human_schema="workflow/schemas/human.schema.yaml",
    output:
        questions="results/benchmark/questions.parquet",
        human="results/benchmark/human.parquet",
    log:
        log_path("parse_benchmark"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/parse_benchmark.py"


FINAL_TARGETS.extend(rules.parse_benchmark.output)
