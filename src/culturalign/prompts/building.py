"""Build the prompts of one cell (language x framing x reasoning) of a benchmark.

Templates (``resources/prompts/templates.yaml``) hold every wording as data, per prompt
language (any ISO 639 code); translations (a table question_id, language, text[, options])
hold the question text in languages other than English. Both are validated on load; errors
name the file and the key or line. A language a cell needs but the templates lack is an
error naming the language and the key to add.

Which prompts a cell holds (``docs/architecture.md``): the benchmark says which (question,
population) pairs get prompts (those with human data, by default), the config may subset
them. A neutral ``en`` cell asks each question once; a neutral ``native`` cell once per
native language of the selected populations that have the question; persona and observer
cells once per (question, population) pair, in English or in the population's language.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks.populations import (
    native_languages,
)
from culturalign.constants import CELL_LANGUAGES, FRAMINGS, ORIGINAL_VARIANT, REASONING
from culturalign.errors import ConfigError
from culturalign.prompts.templates import Templates
from culturalign.prompts.translation_tables import OPTION_SEPARATOR, Translations
from culturalign.prompts.variants import (
    REVERSED,
    UNFORCED,
    reverse_options,
    rotate,
    rotation,
    wording_index,
)

LOG = logging.getLogger(__name__)


PROMPT_COLUMNS: tuple[str, ...] = (
    "question_id",
    "country",
    "variant",
    "prompt_language",
    "prompt",
    "answer_cue",
    "scale_min",
    "scale_max",
    "scale_type",
    "label_kind",
    "option_labels",
    "option_codes",
    "text_provenance",
    "roundtrip_passed",
)
"""``option_labels`` / ``option_codes``: the options as the prompt shows them, in display
order (label shown, and the benchmark's option code it stands for); ``text_provenance``:
where the question text comes from (:data:`culturalign.translation.pipeline.PROVENANCES`);
``roundtrip_passed``: its back-translation check (null when none was made)."""

# Placeholders each template may use, and those it must use.


# --------------------------------------------------------------------------- templates


# ------------------------------------------------------------------------ translations


def template_hash(templates_path: str | Path, translations_path: str | Path | None = None) -> str:
    """sha256 (hex) over the bytes of the templates file and, if given, the translations file."""
    digest = hashlib.sha256()
    for label, file in (("templates", templates_path), ("translations", translations_path)):
        if file is None:
            continue
        digest.update(label.encode() + b"\0")
        digest.update(Path(file).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


# ------------------------------------------------------------------------------ building


def select_questions(
    questions: pd.DataFrame, question_ids: Sequence[str] | None, where: str = "subset"
) -> pd.DataFrame:
    """The questions of ``subset.questions`` (all when ``None``), in table order."""
    if question_ids is None:
        return questions
    known = set(questions["question_id"])
    unknown = [question_id for question_id in question_ids if question_id not in known]
    if unknown:
        examples = ", ".join(list(questions["question_id"])[:3])
        raise ConfigError(
            f"config key {where}.questions: unknown question id(s) "
            f"{', '.join(map(repr, unknown))} (ids look like {examples})"
        )
    return questions[questions["question_id"].isin(set(question_ids))]


def select_populations(
    populations: pd.DataFrame, selected: Sequence[str] | None, where: str = "subset"
) -> list[str]:
    """The populations of ``subset.populations`` (all when ``None``), in table order."""
    names = [str(name) for name in populations["country"]]
    if selected is None:
        return names
    unknown = [name for name in selected if name not in names]
    if unknown:
        raise ConfigError(
            f"config key {where}.populations: unknown population(s) "
            f"{', '.join(map(repr, unknown))} (known: {', '.join(names)})"
        )
    wanted = set(selected)
    return [name for name in names if name in wanted]


@dataclass(frozen=True)
class PromptTarget:
    """One prompt of a cell: the question row, the population (None: neutral), the language."""

    question: Any
    country: str | None
    language: str


def prompt_targets(
    questions: pd.DataFrame,
    pairs: pd.DataFrame,
    populations: pd.DataFrame,
    language: str,
    framing: str,
    *,
    question_ids: Sequence[str] | None = None,
    selected_populations: Sequence[str] | None = None,
    where: str = "subset",
) -> Iterator[PromptTarget]:
    """Every prompt of a (language, framing) cell, in question then population order.

    ``pairs``: the (question_id, country) pairs that get prompts (the benchmark's choice).
    """
    selected_questions = select_questions(questions, question_ids, where)
    countries = select_populations(populations, selected_populations, where)
    rank = {country: index for index, country in enumerate(countries)}
    native_of = native_languages(populations)
    language_order = list(dict.fromkeys(native_of[c] for c in countries if c in native_of))
    chosen = pairs.loc[
        pairs["question_id"].isin(set(selected_questions["question_id"]))
        & pairs["country"].isin(rank),
        ["question_id", "country"],
    ].drop_duplicates()
    by_question: dict[str, list[str]] = {}
    for question_id, country in chosen.itertuples(index=False):
        by_question.setdefault(str(question_id), []).append(str(country))

    if language != "en":
        speechless = sorted(set(chosen["country"]) - set(native_of))
        if speechless:
            raise ConfigError(
                f"population {speechless[0]!r} has no prompt language for native cells"
                + (f" (nor do {', '.join(map(repr, speechless[1:]))})" if speechless[1:] else "")
                + f": add it to the populations table (column language) of {where}"
            )

    def native(country: str) -> str:
        return native_of[country]

    for question in selected_questions.itertuples(index=False):
        with_data = sorted(by_question.get(question.question_id, []), key=rank.__getitem__)
        if not with_data:
            continue
        if framing == "neutral":
            if language == "en":
                yield PromptTarget(question, None, "en")
            else:
                spoken = {native(country) for country in with_data}
                for lang in language_order:
                    if lang in spoken:
                        yield PromptTarget(question, None, lang)
        else:
            for country in with_data:
                yield PromptTarget(question, country, "en" if language == "en" else native(country))


def prompts_per_cell(
    questions: pd.DataFrame,
    pairs: pd.DataFrame,
    populations: pd.DataFrame,
    cells: Iterable[tuple[str, str]],
    *,
    question_ids: Sequence[str] | None = None,
    selected_populations: Sequence[str] | None = None,
    where: str = "subset",
) -> dict[tuple[str, str], int]:
    """Number of prompts of each (language, framing) cell (the same for both reasoning modes)."""
    return {
        (language, framing): sum(
            1
            for _ in prompt_targets(
                questions,
                pairs,
                populations,
                language,
                framing,
                question_ids=question_ids,
                selected_populations=selected_populations,
                where=where,
            )  # fmt: skip
        )
        for language, framing in cells
    }


def label_kind(labels: Sequence[str], where: str = "") -> str:
    """``number`` when every label is a number, ``letter`` when every label is letters."""
    if all(label.isdecimal() for label in labels):
        return "number"
    if all(label.isalpha() or all(ch.isalpha() or ch == "\u0640" for ch in label)
           for label in labels):  # fmt: skip
        return "letter"
    raise ConfigError(f"{where}options mix numbers and letters or use other characters: {labels}")


def build_prompts(
    questions: pd.DataFrame,
    pairs: pd.DataFrame,
    populations: pd.DataFrame,
    templates: Templates,
    translations: Translations | None,
    language: str,
    framing: str,
    reasoning: str,
    *,
    question_ids: Sequence[str] | None = None,
    selected_populations: Sequence[str] | None = None,
    where: str = "subset",
    variants: Sequence[str] = (),
    variant_questions: Collection[str] | None = None,
    benchmark_variants: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per prompt of the cell (columns :data:`PROMPT_COLUMNS`).

    ``question_ids`` / ``selected_populations``: the benchmark's ``subset`` (``None`` = all);
    ``where`` names its config key in errors. ``translations`` may be ``None`` for ``en``.
    ``variants`` (:mod:`culturalign.prompts.variants`) add rows after each original prompt, for the
    questions in ``variant_questions`` (``None`` = all); a question whose option list cannot
    be reversed gets no ``reversed`` row. ``benchmark_variants`` (the plug-in's own, e.g.
    CircularEval's rotations) are asked for every question.
    """
    for value, allowed, name in (
        (language, CELL_LANGUAGES, "language"),
        (framing, FRAMINGS, "framing"),
        (reasoning, REASONING, "reasoning"),
    ):
        if value not in allowed:
            raise ConfigError(f"unknown {name} {value!r} (expected one of {', '.join(allowed)})")
    iso3 = dict(zip(populations["country"].astype(str), populations["iso3"], strict=True))
    rows: list[dict[str, Any]] = []
    skipped: dict[tuple[str, str], None] = {}
    for target in prompt_targets(
        questions, pairs, populations, language, framing, question_ids=question_ids,
        selected_populations=selected_populations, where=where,
    ):  # fmt: skip
        question, country, prompt_language = target.question, target.country, target.language
        options = list(question.options)
        codes = [int(option["code"]) for option in options]
        labels = [str(option["label"]) for option in options]
        kind = label_kind(labels, f"question {question.question_id}: ")
        source = _question_text(question, prompt_language, translations, language, framing)
        if source.rejected:
            skipped.setdefault((question.question_id, prompt_language), None)
            continue  # a rejected machine translation is never asked (nor asked in English)
        text, option_texts = source.text, source.options
        cell = f"the {language}/{framing}/{reasoning} prompts"
        block = templates.language(prompt_language, needed_by=cell)
        code_of = iso3.get(country) if country is not None else None
        iso = None if code_of is None or pd.isna(code_of) else code_of
        wanted = [ORIGINAL_VARIANT]
        if variant_questions is None or question.question_id in variant_questions:
            wanted += list(variants)
        wanted += [variant for variant in benchmark_variants if variant not in wanted]
        for variant in wanted:
            shown_text, shown_codes, shown_options = text, codes, option_texts
            steps = rotation(variant)
            if steps is not None:
                if option_texts is None or steps >= len(codes):
                    continue  # only listed options rotate; no rotation past the last option
                shown_codes, shown_options = rotate(codes, steps), rotate(option_texts, steps)
            elif variant == REVERSED:
                shown_codes = list(reversed(codes))
                if option_texts is not None:
                    shown_options = list(reversed(option_texts))
                else:
                    low, high = int(question.scale_min), int(question.scale_max)
                    found = reverse_options(text, low, high)
                    if found is None:
                        continue  # option list not recognised: listed by the robustness rule
                    shown_text = found.reversed_text
            prompt = templates.render(
                prompt_language, framing, reasoning, shown_text, labels, kind, country,
                iso3=iso, option_texts=shown_options, wording=wording_index(variant) or 0,
                unforced=variant == UNFORCED,
            )  # fmt: skip
            rows.append(
                {
                    "question_id": question.question_id,
                    "country": country,
                    "variant": variant,
                    "prompt_language": prompt_language,
                    "prompt": prompt,
                    "answer_cue": block.answer_cue,
                    "scale_min": int(question.scale_min),
                    "scale_max": int(question.scale_max),
                    "scale_type": question.scale_type,
                    "label_kind": kind,
                    "option_labels": labels,
                    "option_codes": shown_codes,
                    "text_provenance": source.provenance,
                    "roundtrip_passed": source.roundtrip_passed,
                }
            )
    if skipped:
        LOG.warning(
            "%d (question, language) pair(s) left out of the %s/%s/%s prompts: their machine "
            "translation was rejected (translations/review.csv), e.g. %s",
            len(skipped), language, framing, reasoning, ", ".join(map("/".join, list(skipped)[:5])),
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(PROMPT_COLUMNS))
    frame.attrs["skipped_translations"] = [list(pair) for pair in skipped]
    frame["roundtrip_passed"] = frame["roundtrip_passed"].astype(pd.BooleanDtype())
    # A string column even when every value is missing (neutral cells), so all prompt tables
    # share one Parquet schema; missing values read back as NA (test with pandas.isna).
    frame["country"] = frame["country"].astype(pd.StringDtype())
    return frame.astype({"scale_min": "int64", "scale_max": "int64"})


@dataclass(frozen=True)
class QuestionText:
    """A question's text in a prompt language, with where it comes from."""

    text: str
    options: list[str] | None
    provenance: str
    roundtrip_passed: bool | None = None
    rejected: bool = False


def _question_text(
    question: Any,
    prompt_language: str,
    translations: Translations | None,
    cell_language: str,
    framing: str,
) -> QuestionText:
    """The question's text in the prompt language, and its option texts when it shows them."""
    shown = bool(getattr(question, "show_options", False))
    listed_options = [option["text"] for option in question.options] if shown else None
    own_text = getattr(question, "text_original", None)
    if prompt_language == getattr(question, "original_language", None) and isinstance(
        own_text, str
    ):
        return QuestionText(own_text, listed_options, "original")  # the benchmark's own text
    if prompt_language == "en":
        return QuestionText(str(question.text_en), listed_options, "original")
    if translations is None:
        raise ConfigError(
            f"question {question.question_id}: the {cell_language}/{framing} prompts need "
            f"{prompt_language} text, but no translation table is configured "
            "(config key prompts.translations, or translation.model to translate it)"
        )
    entry = translations.entry(question.question_id, prompt_language)
    if entry is None:
        raise ConfigError(
            f"{translations.path}: no {prompt_language} text for question "
            f"{question.question_id} (needed by the {cell_language}/{framing} prompts; "
            "add a row question_id, language, text, point config key prompts.translations "
            "at a table that has it, or set translation.model to translate it)"
        )
    if entry.status == "rejected":
        return QuestionText("", None, entry.provenance, False, rejected=True)
    found = QuestionText(entry.text, None, entry.provenance, entry.roundtrip_passed)
    if not shown:
        return found
    options = entry.options
    if options is None or len(options) != len(listed_options):
        count = "none" if options is None else f"{len(options)}"
        raise ConfigError(
            f"{translations.path}: question {question.question_id} ({prompt_language}): column "
            f"options must hold its {len(listed_options)} option texts separated by "
            f"'{OPTION_SEPARATOR}' (found {count})"
        )
    return QuestionText(entry.text, list(options), entry.provenance, entry.roundtrip_passed)
