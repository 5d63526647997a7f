"""Stage: parse. The answer and refusal of every response, read from each shard on the CPU.

The parsing code and the phrase file are inputs, so editing a refusal phrase re-parses and
re-scores every cell without regenerating any shard.
"""

PHRASES = config["parsing"]["phrases"] or source_file("src/culturalign/scoring/phrases.yaml")


rule parse_answers:
    input:
        shard=SHARD,
        phrases=PHRASES,
        code=source_file("src/culturalign/scoring/parsing.py"),
        schema=source_file("workflow/schemas/answers.schema.yaml"),
    output:
        ANSWERS,
    log:
        log_path("parse_answers/{benchmark}/{model}/{language}/{framing}/{reasoning}"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/parse_answers.py"


for _key in selected_benchmarks():
    FINAL_TARGETS.extend(answers(_key))
