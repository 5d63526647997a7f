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
