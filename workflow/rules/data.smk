"""Stage: benchmark ingest. Each benchmark's plug-in turns its source files into the
questions, human and populations tables under results/{benchmark}/benchmark/."""

from culturalign.benchmarks.base import missing_sources


# Only absent sources get a download rule: an existing file (e.g. a read-only local copy)
# is then a plain input that Snakemake never deletes or rebuilds.
DOWNLOADS = {
    path: source
    for plugin in BENCHMARKS.values()
    for path, source in plugin.downloads().items()
    if not Path(path).exists()
}
try:
    missing_sources(BENCHMARKS[key] for key in selected_benchmarks())
except CulturalignError as exc:
    raise WorkflowError(f"culturalign: {exc}") from None


if DOWNLOADS:

    rule download_source:
        output:
            "{download}",
        wildcard_constraints:
            download=smk.alternation(DOWNLOADS),
        params:
            # (url, sha256) of a file, or (url, HubSource) of a Hub dataset
            download=lambda w: DOWNLOADS[w.download],
        log:
            log_path("download/{download}"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/download_source.py"


rule import_benchmark:
    input:
        unpack(lambda w: smk.source_inputs(BENCHMARKS[w.benchmark])),
        questions_schema=source_file("workflow/schemas/questions.schema.yaml"),
        human_schema=source_file("workflow/schemas/human.schema.yaml"),
        populations_schema=source_file("workflow/schemas/populations.schema.yaml"),
        notes_schema=source_file("workflow/schemas/data_notes.schema.yaml"),
    output:
        questions=TABLES.replace("{table}", "questions"),
        human=TABLES.replace("{table}", "human"),
        populations=TABLES.replace("{table}", "populations"),
        notes=TABLES.replace("{table}", "data_notes"),
    params:
        options=lambda w: config["benchmarks"][w.benchmark],
    log:
        log_path("import_benchmark/{benchmark}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/import_benchmark.py"


for _key in selected_benchmarks():
    FINAL_TARGETS.extend(
        table(_key, name) for name in ("questions", "human", "populations", "data_notes")
    )


# A source that carries its own translations (e.g. VSM 2013 items in several languages):
# the table native prompts read unless prompts.translations names another.
_OWN_TRANSLATIONS = [key for key, plugin in BENCHMARKS.items() if plugin.provides_translations]
if _OWN_TRANSLATIONS:

    rule benchmark_translations:
        input:
            unpack(lambda w: smk.source_inputs(BENCHMARKS[w.benchmark])),
        output:
            OWN_TRANSLATIONS,
        wildcard_constraints:
            benchmark=smk.alternation(_OWN_TRANSLATIONS),
        params:
            options=lambda w: config["benchmarks"][w.benchmark],
        log:
            log_path("benchmark_translations/{benchmark}"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/benchmark_translations.py"
