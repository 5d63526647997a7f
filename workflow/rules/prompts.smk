"""Stage: prompts. One table of prompts per benchmark x language x framing x reasoning."""

from culturalign.prompts.translation_tables import missing_translations_pointer
from culturalign.snakemake_rules import prompt_count_table


rule build_prompts:
    input:
        unpack(benchmark_tables),
        templates=lambda w: prompt_setting(w.benchmark, "templates"),
        translations=translations_input,
        schema=source_file("workflow/schemas/prompts.schema.yaml"),
    output:
        PROMPTS,
    params:
        options=lambda w: config["benchmarks"][w.benchmark],
        robustness=config["robustness"],
    log:
        log_path("build_prompts/{benchmark}/{language}/{framing}/{reasoning}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/build_prompts.py"


for _key, _settings in SETTINGS.benchmarks.items():
    FINAL_TARGETS.extend(PROMPTS.format(benchmark=_key, **c) for c in _settings.prompt_cells())


# A translation table that does not exist yet (e.g. the authors' official one, which users
# convert themselves): the dry run lists every job, the real run stops with a pointer.
_MISSING_TRANSLATIONS = sorted(
    {
        path
        for key, settings in SETTINGS.benchmarks.items()
        if "native" in settings.languages
        for path in [prompt_setting(key, "translations")]
        if path and not Path(path).exists() and path != OWN_TRANSLATIONS.format(benchmark=key)
    }
)
if _MISSING_TRANSLATIONS:

    rule missing_translations:
        output:
            "{translations}",
        wildcard_constraints:
            translations=smk.alternation(_MISSING_TRANSLATIONS),
        params:
            key="prompts.translations",
        log:
            log_path("missing_translations/{translations}"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/missing_translations.py"


# Snakemake parses the workflow before it knows the executor, so the dry run is read from
# the command line.
if smk.is_dry_run(sys.argv):
    print(prompt_count_table(config, SETTINGS, BENCHMARKS), file=sys.stderr)
    for _path in _MISSING_TRANSLATIONS:
        print(
            "culturalign: the run will stop at rule missing_translations: "
            + missing_translations_pointer("prompts.translations", _path),
            file=sys.stderr,
        )
