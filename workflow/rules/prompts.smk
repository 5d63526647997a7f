"""Stage: prompts. One table of prompts per language x framing x reasoning cell."""


rule build_prompts:
    input:
        questions="results/benchmark/questions.parquet",
        human="results/benchmark/human.parquet",
        templates=config["prompts"]["templates"],
        # Only native cells read the translation table (English cells do not rerun on edits).
        translations=lambda w: (
            config["prompts"]["translations"] if w.language == "native" else []
        ),
        zones=config["zones_csv"],
        schema="workflow/schemas/prompts.schema.yaml",
    output:
        "results/prompts/{language}/{framing}/{reasoning}.parquet",
    params:
        questions=SETTINGS.questions,
        countries=SETTINGS.countries,
    log:
        log_path("build_prompts/{language}/{framing}/{reasoning}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/build_prompts.py"


FINAL_TARGETS.extend(
    expand(
        rules.build_prompts.output[0],
        language=SETTINGS.languages,
        framing=SETTINGS.framings,
        reasoning=SETTINGS.reasoning,
    )
)


# A translation table that does not exist yet (e.g. the authors' official one, which users
# convert themselves): the dry run lists every job, the real run stops with a pointer.
if not Path(config["prompts"]["translations"]).exists():

    rule missing_translations:
        output:
            config["prompts"]["translations"],
        params:
            key="prompts.translations",
        log:
            log_path("missing_translations"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/missing_translations.py"


# Snakemake parses the workflow before it knows the executor, so the dry run is read from
# the command line.
if wc.is_dry_run(sys.argv):
    print(wc.prompt_count_table(config, SETTINGS), file=sys.stderr)
