"""Stage: translate. Machine translation of the question text that native cells need and the
translation tables lack, each checked by back-translation (docs/translation.md).

checkpoint plan_translations lists the (question, language) pairs to translate (and, with
translation.check_human, the human ones to check); rule translate runs one job per
language with translation.model (and translation.back_model); rule review_translations
scores every round trip, writes translations/review.csv and the merged table that the
native prompts read. Without translation.model none of these rules exists.
"""

TRANSLATION = config["translation"]
if SETTINGS.translation_keys:

    checkpoint plan_translations:
        input:
            unpack(benchmark_tables),
            translations=human_translations,
        output:
            plan=f"{TRANSLATION_DIR}/plan.csv",
        wildcard_constraints:
            benchmark=smk.alternation(translated_benchmarks()),
        params:
            options=lambda w: config["benchmarks"][w.benchmark],
            framings=lambda w: list(SETTINGS.benchmarks[w.benchmark].framings),
            check_human=TRANSLATION["check_human"],
        log:
            log_path("translate/{benchmark}/plan"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/plan_translations.py"

    rule translate:
        input:
            plan=f"{TRANSLATION_DIR}/plan.csv",
            prompts=TRANSLATION["prompts"],
            models=translation_model_inputs,
        output:
            f"{TRANSLATION_DIR}/languages/{{target}}.tsv",
        wildcard_constraints:
            target=r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*",
        params:
            translation=TRANSLATION,
            models=lambda w: {key: config["models"][key] for key in SETTINGS.translation_keys},
            cache_dir="resources/.cache",
            seed=config["generation"]["seed"],
        threads: job_threads(config["models"][SETTINGS.translation_keys[0]], GENERATE_THREADS)
        resources:
            gpu=max(job_gpus(config["models"][key]) for key in SETTINGS.translation_keys),
            mem_mb=max(job_resources(config["models"][key])["mem_mb"]
                       for key in SETTINGS.translation_keys),  # fmt: skip
            runtime=sum(job_resources(config["models"][key])["runtime"]
                        for key in SETTINGS.translation_keys),  # fmt: skip
        log:
            log_path("translate/{benchmark}/{target}"),
        conda:
            "../../envs/generate.yaml"
        script:
            "../scripts/translate.py"

    rule review_translations:
        input:
            languages=translated_languages,
            translations=human_translations,
        output:
            table=f"{TRANSLATION_DIR}/table.tsv",
            review=f"{TRANSLATION_DIR}/review.csv",
        params:
            thresholds=TRANSLATION["thresholds"],
        log:
            log_path("translate/{benchmark}/review"),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/review_translations.py"

    for _key in translated_benchmarks():
        FINAL_TARGETS.append(f"{TRANSLATION_DIR}/review.csv".format(benchmark=_key))
