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

import csv
import hashlib
import logging
import string
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks.populations import (
    LANGUAGE_CODE,
    country_by_iso3,
    localized_country_name,
    native_languages,
)
from culturalign.constants import CELL_LANGUAGES, FRAMINGS, LABEL_KINDS, ORIGINAL_VARIANT, REASONING
from culturalign.errors import ConfigError
from culturalign.io.yaml_files import load_yaml
from culturalign.prompts.variants import (
    REVERSED,
    UNFORCED,
    reverse_options,
    rotate,
    rotation,
    wording_index,
)

LOG = logging.getLogger(__name__)

TRANSLATION_COLUMNS: tuple[str, ...] = ("question_id", "language", "text")
OPTIONAL_TRANSLATION_COLUMNS: tuple[str, ...] = (
    "options",
    "provenance",
    "status",
    "roundtrip_passed",
    "chrf",
)
"""``options``: the option texts in that language, in code order, separated by `` | ``;
``provenance``: human-validated, team-written, human (the default) or machine-translated;
``status``: ok (the default) or rejected (a machine translation that broke its option list:
its prompts are left out); ``roundtrip_passed`` (true/false) and ``chrf``: the
back-translation check (``culturalign.translation.pipeline``)."""
TRANSLATION_PROVENANCES: tuple[str, ...] = (
    "human-validated",
    "team-written",
    "human",
    "machine-translated",
)

OPTION_SEPARATOR = "|"
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
_FRAMING_FIELDS = {"question", "country"}
_REASONING_FIELDS = {"answer_cue", "first_label", "last_label", "labels"}
_LAYOUT_FIELDS = {"framing", "reasoning"}
_OPTION_LIST_FIELDS = {"question", "options"}
_OPTION_LINE_FIELDS = {"label", "text"}
_LANGUAGE_KEYS = ("answer_cue", "framing", "reasoning", "options", "countries")


@dataclass(frozen=True)
class OptionFormat:
    """How a benchmark that shows its options lists them after the question."""

    list: str = "{question}\n\n{options}"
    line: str = "({label}) {text}"


@dataclass(frozen=True)
class LanguageTemplates:
    """The wording of one prompt language (each template: a list of wordings, the first being
    the original one; further wordings are variants)."""

    answer_cue: str
    framing: Mapping[str, tuple[str, ...]]
    reasoning: Mapping[str, Mapping[str, tuple[str, ...]]]
    options: OptionFormat
    countries: Mapping[str, str]
    unforced: str | None = None


@dataclass(frozen=True)
class Templates:
    """All prompt templates, validated (see ``resources/prompts/templates.yaml``)."""

    path: Path
    layout: str
    languages: Mapping[str, LanguageTemplates]

    def language(self, language: str, needed_by: str = "") -> LanguageTemplates:
        """The templates of ``language``; a missing language is an error naming the key."""
        if language not in self.languages:
            need = f" (needed by {needed_by})" if needed_by else ""
            raise ConfigError(
                f"{self.path}: key languages.{language} is missing{need}; add a block with "
                f"keys answer_cue, framing, reasoning (known: {', '.join(self.languages)})"
            )
        return self.languages[language]

    def country_name(self, language: str, country: str, iso3: str | None = None) -> str:
        """``country`` as prompts in ``language`` name it: the template's name, else (English)
        the benchmark's own name, else the CLDR name of the ISO country."""
        wording = self.language(language)
        if country in wording.countries:
            return wording.countries[country]
        if language == "en":
            return country
        if iso3:
            record = country_by_iso3(iso3)
            name = localized_country_name(record.alpha_2, language) if record else None
            if name:
                return name
        raise ConfigError(
            f"{self.path}: key languages.{language}.countries has no name for {country!r} "
            "(and no ISO country name is known for it): add one"
        )

    def render(
        self,
        language: str,
        framing: str,
        reasoning: str,
        question: str,
        labels: Sequence[str],
        label_kind: str = "number",
        country: str | None = None,
        *,
        iso3: str | None = None,
        option_texts: Sequence[str] | None = None,
        wording: int = 0,
        unforced: bool = False,
    ) -> str:
        """The full user message for one question (and population, unless neutral).

        ``labels`` are the options' labels in display order; ``option_texts`` (same order)
        are listed after the question when given. ``wording`` picks the wording of the
        framing and answer instruction (0: the original); ``unforced`` adds the language's
        way out of answering.
        """
        block = self.language(language)
        country_name = None
        if framing != "neutral":
            if country is None:
                raise ValueError(f"framing {framing!r} needs a country")
            country_name = self.country_name(language, country, iso3)
        if option_texts is not None:
            lines = [
                block.options.line.format(label=label, text=text)
                for label, text in zip(labels, option_texts, strict=True)
            ]
            question = block.options.list.format(question=question, options="\n".join(lines))
        if label_kind not in block.reasoning:
            raise ConfigError(
                f"{self.path}: key languages.{language}.reasoning.{label_kind} is missing "
                f"(needed for options labelled by {label_kind}s)"
            )
        key = f"languages.{language}"
        framing_text = self._pick(block.framing[framing], wording, f"{key}.framing.{framing}")
        reasoning_text = self._pick(
            block.reasoning[label_kind][reasoning], wording,
            f"{key}.reasoning.{label_kind}.{reasoning}",
        ).format(
            answer_cue=block.answer_cue,
            first_label=labels[0],
            last_label=labels[-1],
            labels=", ".join(labels),
        )  # fmt: skip
        if unforced:
            if not block.unforced:
                raise ConfigError(
                    f"{self.path}: key {key}.unforced is missing (needed by the unforced variant)"
                )
            reasoning_text = f"{reasoning_text} {block.unforced}"
        return self.layout.format(
            framing=framing_text.format(question=question, country=country_name),
            reasoning=reasoning_text,
        )

    def _pick(self, wordings: tuple[str, ...], index: int, key: str) -> str:
        if index >= len(wordings):
            raise ConfigError(
                f"{self.path}: key {key} has {len(wordings)} wording(s); variant "
                f"wording-{index + 1} needs {index + 1} (a list of wordings)"
            )
        return wordings[index]


@dataclass(frozen=True)
class TranslationEntry:
    """One row of a translation table."""

    question_id: str
    language: str
    text: str
    options: tuple[str, ...] | None
    provenance: str
    status: str = "ok"
    roundtrip_passed: bool | None = None
    chrf: float | None = None


@dataclass(frozen=True)
class Translations:
    """Question text in other languages: ``frame`` has columns question_id, language, text
    and optionally options, provenance, status, roundtrip_passed and chrf."""

    path: Path
    frame: pd.DataFrame
    _entries: dict[tuple[str, str], TranslationEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = {}
        for row in self.frame.to_dict("records"):
            options = None
            value = row.get("options")
            if isinstance(value, str) and value.strip():
                options = tuple(part.strip() for part in value.split(OPTION_SEPARATOR))
            passed = row.get("roundtrip_passed") or None
            chrf = row.get("chrf") or None
            entry = TranslationEntry(
                question_id=str(row["question_id"]),
                language=str(row["language"]),
                text=str(row["text"]),
                options=options,
                provenance=str(row.get("provenance") or "human"),
                status=str(row.get("status") or "ok"),
                roundtrip_passed=None if passed is None else passed == "true",
                chrf=None if chrf is None else float(chrf),
            )
            entries[(entry.question_id, entry.language)] = entry
        object.__setattr__(self, "_entries", entries)

    def entry(self, question_id: str, language: str) -> TranslationEntry | None:
        """The table's row for (question, language), or ``None``."""
        return self._entries.get((question_id, language))

    def entries(self) -> list[TranslationEntry]:
        """Every row, in table order."""
        return list(self._entries.values())

    def text(self, question_id: str, language: str) -> str | None:
        """The question's text in ``language``, or ``None`` when the table has none."""
        entry = self.entry(question_id, language)
        return None if entry is None else entry.text

    def options(self, question_id: str, language: str) -> tuple[str, ...] | None:
        """The question's option texts in ``language`` (code order), if the table has them."""
        entry = self.entry(question_id, language)
        return None if entry is None else entry.options


# --------------------------------------------------------------------------- templates


def _fields(template: str, where: str) -> set[str]:
    """The placeholder names of a str.format template; malformed braces are an error."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"{where}: malformed template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or not name.isidentifier() or spec or conversion:
            raise ConfigError(
                f"{where}: placeholder {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not allowed (use plain {{name}})"
            )
        names.add(name)
    return names


def check_template(value: Any, where: str, allowed: set[str], required: Iterable[str] = ()) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be a non-empty string")
    names = _fields(value, where)
    unknown = names - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown placeholder(s) {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    missing = [name for name in required if name not in names]
    if missing:
        raise ConfigError(f"{where}: must contain placeholder(s) {{{'}, {'.join(missing)}}}")
    return value


def _wordings(value: Any, where: str, allowed: set[str], required: Iterable[str] = ()):
    """One template or a list of wordings (the first is the original)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ConfigError(f"{where}: must be a string or a non-empty list of strings")
    return tuple(
        check_template(item, f"{where}[{index}]" if isinstance(value, list) else where,
                        allowed, required)
        for index, item in enumerate(values)
    )  # fmt: skip


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: must be a mapping, got {type(value).__name__}")
    return value


def _keys(
    value: Mapping[str, Any], required: Sequence[str], where: str, optional: Sequence[str] = ()
) -> None:
    missing = [key for key in required if key not in value]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    allowed = (*required, *optional)
    extra = [key for key in value if key not in allowed]
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, extra))} (expected: {', '.join(allowed)})"
        )


def _option_format(value: Any, where: str, base: OptionFormat) -> OptionFormat:
    if value is None:
        return base
    block = _mapping(value, where)
    _keys(block, (), where, ("list", "line"))
    return OptionFormat(
        list=check_template(block.get("list", base.list), f"{where}.list",
                             _OPTION_LIST_FIELDS, _OPTION_LIST_FIELDS),
        line=check_template(block.get("line", base.line), f"{where}.line",
                             _OPTION_LINE_FIELDS, _OPTION_LINE_FIELDS),
    )  # fmt: skip


def load_templates(path: str | Path) -> Templates:
    """Load and validate the templates file (every language block it has is checked)."""
    path = Path(path)
    data = load_yaml(path, "prompts.templates", "templates file")
    data = _mapping(data, f"{path}")
    _keys(data, ("layout", "languages"), f"{path}", ("options",))
    layout = check_template(data["layout"], f"{path}: key layout", _LAYOUT_FIELDS, _LAYOUT_FIELDS)
    options = _option_format(data.get("options"), f"{path}: key options", OptionFormat())
    languages_raw = _mapping(data["languages"], f"{path}: key languages")
    if not languages_raw:
        raise ConfigError(f"{path}: key languages: no language defined")
    languages: dict[str, LanguageTemplates] = {}
    for language, block in languages_raw.items():
        key = f"languages.{language}"
        if not LANGUAGE_CODE.match(str(language)):
            raise ConfigError(f"{path}: key {key}: not a language code (e.g. en, ar, pt-BR)")
        block = _mapping(block, f"{path}: key {key}")
        _keys(block, ("answer_cue", "framing", "reasoning"), f"{path}: key {key}",
              ("options", "countries", "unforced"))  # fmt: skip
        cue = block["answer_cue"]
        if not isinstance(cue, str) or not cue.strip():
            raise ConfigError(f"{path}: key {key}.answer_cue: must be a non-empty string")
        framing = _mapping(block["framing"], f"{path}: key {key}.framing")
        _keys(framing, FRAMINGS, f"{path}: key {key}.framing")
        framings = {}
        for name in FRAMINGS:
            required = ("question",) if name == "neutral" else ("question", "country")
            allowed = {"question"} if name == "neutral" else _FRAMING_FIELDS
            framings[name] = _wordings(
                framing[name], f"{path}: key {key}.framing.{name}", allowed, required
            )
        reasoning_raw = _mapping(block["reasoning"], f"{path}: key {key}.reasoning")
        if not reasoning_raw:
            raise ConfigError(
                f"{path}: key {key}.reasoning: needs a block per label kind "
                f"({', '.join(LABEL_KINDS)})"
            )
        _keys(reasoning_raw, (), f"{path}: key {key}.reasoning", LABEL_KINDS)
        reasoning: dict[str, dict[str, tuple[str, ...]]] = {}
        for kind, modes in reasoning_raw.items():
            where = f"{path}: key {key}.reasoning.{kind}"
            modes = _mapping(modes, where)
            _keys(modes, REASONING, where)
            reasoning[kind] = {
                name: _wordings(
                    modes[name], f"{where}.{name}", _REASONING_FIELDS,
                    ("answer_cue",) if name == "cot" else (),
                )
                for name in REASONING
            }  # fmt: skip
        unforced = block.get("unforced")
        if unforced is not None:
            check_template(unforced, f"{path}: key {key}.unforced", set())
        names = _mapping(block.get("countries") or {}, f"{path}: key {key}.countries")
        for country, value in names.items():
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{path}: key {key}.countries.{country}: empty country name")
        languages[str(language)] = LanguageTemplates(
            answer_cue=cue,
            framing=framings,
            reasoning=reasoning,
            options=_option_format(block.get("options"), f"{path}: key {key}.options", options),
            countries={str(country): str(value) for country, value in names.items()},
            unforced=unforced,
        )
    return Templates(path=path, layout=layout, languages=languages)


# ------------------------------------------------------------------------ translations


def load_translations(path: str | Path) -> Translations:
    """Load and validate a translation table (TSV, or CSV by extension; UTF-8).

    Columns question_id, language, text, and optionally options (the option texts in code
    order, separated by ``|``); cells may hold quoted line breaks. Errors name the file and
    line: missing column, empty cell, bad language code, duplicate (question_id, language).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: translation table not found (config key prompts.translations; "
            "see resources/translations/README.md)"
        )
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    records: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in TRANSLATION_COLUMNS if column not in header]
        if missing:
            raise ConfigError(
                f"{path}: line 1: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(header) or 'nothing'}; expected question_id, language, "
                "text separated by " + ("commas" if delimiter == "," else "tabs") + ")"
            )
        reader.fieldnames = header
        columns = [c for c in (*TRANSLATION_COLUMNS, *OPTIONAL_TRANSLATION_COLUMNS) if c in header]
        try:
            for row in reader:
                line = reader.line_num
                values = {column: (row.get(column) or "").strip() for column in columns}
                rejected = values.get("status") == "rejected"
                for column in TRANSLATION_COLUMNS:
                    if not values[column] and not (column == "text" and rejected):
                        raise ConfigError(f"{path}: line {line}, column {column}: empty value")
                _check_translation_flags(values, f"{path}: line {line}")
                if not LANGUAGE_CODE.match(values["language"]) or values["language"] == "en":
                    raise ConfigError(
                        f"{path}: line {line}, column language: {values['language']!r} is not "
                        "a language code other than en (e.g. ar, fa, tr)"
                    )
                key = (values["question_id"], values["language"])
                if key in seen:
                    raise ConfigError(
                        f"{path}: line {line}: duplicate (question_id, language) = "
                        f"({key[0]}, {key[1]}), first on line {seen[key]}"
                    )
                seen[key] = line
                records.append(values)
        except csv.Error as exc:
            raise ConfigError(f"{path}: line {reader.line_num}: {exc}") from exc
    frame = pd.DataFrame(records, columns=columns)
    return Translations(path=path, frame=frame)


def _check_translation_flags(values: Mapping[str, str], where: str) -> None:
    """Check the optional provenance / status / round-trip columns of one row."""
    allowed = {
        "provenance": TRANSLATION_PROVENANCES,
        "status": ("ok", "rejected"),
        "roundtrip_passed": ("true", "false"),
    }
    for column, choices in allowed.items():
        value = values.get(column, "")
        if value and value not in choices:
            raise ConfigError(
                f"{where}, column {column}: {value!r} is not one of {', '.join(choices)}"
            )
    chrf = values.get("chrf", "")
    if chrf:
        try:
            float(chrf)
        except ValueError:
            raise ConfigError(f"{where}, column chrf: {chrf!r} is not a number") from None


def missing_translations_pointer(key: str, path: str) -> str:
    """What to do about a configured translation table that does not exist (the dry run
    prints it; rule missing_translations stops the real run with it)."""
    return (
        f"{key}: {path} does not exist; convert the authors' validated translations to the "
        "columns question_id, language, text as resources/translations/README.md explains, "
        "or point the key at another table"
    )


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
