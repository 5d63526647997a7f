"""culturalign: whose values does a language model speak for?"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# common.smk validates the config against workflow/schemas/ (defaults filled in).
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/prompts.smk"
include: "workflow/rules/parse.smk"


# Each analysis kind in use brings its rules (workflow/rules/kinds/<kind>.smk).
for kind_rules in KIND_RULE_FILES:

    include: kind_rules


include: "workflow/rules/index.smk"


rule all:
    default_target: True
    input:
        final_targets(),
