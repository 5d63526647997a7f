"""Build the prompts of one cell (language x framing x reasoning) from templates and data.

Templates (``resources/prompts/templates.yaml``) hold every wording as data, per prompt
language; translations (a table question_id, language, text) hold the native-language
question text. Both are validated on load, and errors name the file and the key or line.

Cells (DESIGN.md): language ``en`` or ``native`` (the country's language, from
``resources/cultural_zones.csv``); a neutral ``en`` cell asks each question once; a neutral
``native`` cell asks each question once per native language of the selected countries that
have human data for it; persona and observer cells ask once per (question, country) pair with
human data, in English or in the country's language.
"""

from __future__ import annotations

import csv
import hashlib
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from culturalign.errors import ConfigError

PROMPT_LANGUAGES: tuple[str, ...] = ("en", "ar", "fa", "tr")
NATIVE_LANGUAGES: tuple[str, ...] = ("ar", "fa", "tr")
CELL_LANGUAGES: tuple[str, ...] = ("en", "native")
FRAMINGS: tuple[str, ...] = ("neutral", "persona", "observer")
REASONING: tuple[str, ...] = ("zero", "cot")
TRANSLATION_COLUMNS: tuple[str, ...] = ("question_id", "language", "text")
PROMPT_COLUMNS: tuple[str, ...] = (
    "question_id",
    "country",
    "prompt_language",
    "prompt",
    "answer_cue",
    "scale_min",
    "scale_max",
    "scale_type",
)

# Placeholders each template may use, and those it must use.
_FRAMING_FIELDS = {"question", "country"}
_REASONING_FIELDS = {"answer_cue", "scale_min", "scale_max"}
_LAYOUT_FIELDS = {"framing", "reasoning"}


@dataclass(frozen=True)
class LanguageTemplates:
    """The wording of one prompt language."""

    answer_cue: str
    framing: Mapping[str, str]
    reasoning: Mapping[str, str]
    countries: Mapping[str, str]


@dataclass(frozen=True)
class Templates:
    """All prompt templates, validated (see ``resources/prompts/templates.yaml``)."""

    path: Path
    layout: str
    languages: Mapping[str, LanguageTemplates]

    def render(
        self,
        language: str,
        framing: str,
        reasoning: str,
        question: str,
        scale_min: int,
        scale_max: int,
        country: str | None = None,
    ) -> str:
        """The full user message for one question (and country, unless neutral)."""
        wording = self.languages[language]
        country_name = None
        if framing != "neutral":
            if country is None:
                raise ValueError(f"framing {framing!r} needs a country")
            country_name = wording.countries.get(country)
            if country_name is None:
                raise ConfigError(
                    f"{self.path}: key languages.{language}.countries has no name for "
                    f"country {country!r}"
                )
        framing_text = wording.framing[framing].format(question=question, country=country_name)
        reasoning_text = wording.reasoning[reasoning].format(
            answer_cue=wording.answer_cue, scale_min=scale_min, scale_max=scale_max
        )
        return self.layout.format(framing=framing_text, reasoning=reasoning_text)


@dataclass(frozen=True)
class Translations:
    """Native-language question text: ``frame`` has columns question_id, language, text."""

    path: Path
    frame: pd.DataFrame
    _texts: dict[tuple[str, str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        texts = {
            (str(question_id), str(language)): str(text)
            for question_id, language, text in self.frame[list(TRANSLATION_COLUMNS)].itertuples(
                index=False
            )
        }
        object.__setattr__(self, "_texts", texts)

    def text(self, question_id: str, language: str) -> str | None:
        """The question's text in ``language``, or ``None`` when the table has none."""
        return self._texts.get((question_id, language))


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


def _check_template(value: Any, where: str, allowed: set[str], required: Iterable[str] = ()) -> str:
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


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: must be a mapping, got {type(value).__name__}")
    return value


def _keys(value: Mapping[str, Any], expected: Sequence[str], where: str) -> None:
    missing = [key for key in expected if key not in value]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    extra = [key for key in value if key not in expected]
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, extra))} "
            f"(expected: {', '.join(expected)})"
        )


def load_templates(path: str | Path, countries: Iterable[str] | None = None) -> Templates:
    """Load and validate the templates file.

    ``countries``: the countries every language must name (default: the 16 of MENAValues).
    """
    from culturalign.benchmark import COUNTRIES

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: templates file not found (config key prompts.templates)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    data = _mapping(data, f"{path}")
    _keys(data, ("layout", "languages"), f"{path}")
    layout = _check_template(data["layout"], f"{path}: key layout", _LAYOUT_FIELDS, _LAYOUT_FIELDS)
    languages_raw = _mapping(data["languages"], f"{path}: key languages")
    _keys(languages_raw, PROMPT_LANGUAGES, f"{path}: key languages")
    needed_countries = tuple(COUNTRIES if countries is None else countries)
    languages: dict[str, LanguageTemplates] = {}
    for language in PROMPT_LANGUAGES:
        key = f"languages.{language}"
        block = _mapping(languages_raw[language], f"{path}: key {key}")
        _keys(block, ("answer_cue", "framing", "reasoning", "countries"), f"{path}: key {key}")
        cue = block["answer_cue"]
        if not isinstance(cue, str) or not cue.strip():
            raise ConfigError(f"{path}: key {key}.answer_cue: must be a non-empty string")
        framing = _mapping(block["framing"], f"{path}: key {key}.framing")
        _keys(framing, FRAMINGS, f"{path}: key {key}.framing")
        for name in FRAMINGS:
            required = ("question",) if name == "neutral" else ("question", "country")
            allowed = {"question"} if name == "neutral" else _FRAMING_FIELDS
            _check_template(framing[name], f"{path}: key {key}.framing.{name}", allowed, required)
        reasoning = _mapping(block["reasoning"], f"{path}: key {key}.reasoning")
        _keys(reasoning, REASONING, f"{path}: key {key}.reasoning")
        for name in REASONING:
            required = ("answer_cue",) if name == "cot" else ()
            _check_template(
                reasoning[name],
                f"{path}: key {key}.reasoning.{name}",
                _REASONING_FIELDS,
                required,
            )
        names = _mapping(block["countries"], f"{path}: key {key}.countries")
        for country in needed_countries:
            value = names.get(country)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"{path}: key {key}.countries.{country}: missing or empty country name"
                )
        languages[language] = LanguageTemplates(
            answer_cue=cue,
            framing={name: framing[name] for name in FRAMINGS},
            reasoning={name: reasoning[name] for name in REASONING},
            countries={str(country): str(value) for country, value in names.items()},
        )
    return Templates(path=path, layout=layout, languages=languages)


# ------------------------------------------------------------------------ translations


def load_translations(path: str | Path) -> Translations:
    """Load and validate a translation table (TSV, or CSV by extension; UTF-8).

    Columns question_id, language (ar, fa or tr), text; cells may hold quoted line breaks.
    Errors name the file and line: missing column, empty cell, unknown language, duplicate
    (question_id, language).
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
        try:
            for row in reader:
                line = reader.line_num
                values = {column: (row.get(column) or "").strip() for column in TRANSLATION_COLUMNS}
                for column, value in values.items():
                    if not value:
                        raise ConfigError(f"{path}: line {line}, column {column}: empty value")
                if values["language"] not in NATIVE_LANGUAGES:
                    raise ConfigError(
                        f"{path}: line {line}, column language: unknown language "
                        f"{values['language']!r} (expected one of {', '.join(NATIVE_LANGUAGES)})"
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
    frame = pd.DataFrame(records, columns=list(TRANSLATION_COLUMNS))
    return Translations(path=path, frame=frame)


def load_country_languages(path: str | Path) -> dict[str, str]:
    """Country -> native prompt language (ar, fa or tr) from the zones CSV, in file order."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: zones table not found (config key zones_csv)")
    result: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [column for column in ("country", "language") if column not in header]
        if missing:
            raise ConfigError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        for row in reader:
            country = (row["country"] or "").strip()
            language = (row["language"] or "").strip()
            if not country:
                raise ConfigError(f"{path}: line {reader.line_num}, column country: empty value")
            if language not in NATIVE_LANGUAGES:
                raise ConfigError(
                    f"{path}: line {reader.line_num}, column language: {language!r} for "
                    f"{country} (expected one of {', '.join(NATIVE_LANGUAGES)})"
                )
            if country in result:
                raise ConfigError(
                    f"{path}: line {reader.line_num}: country {country!r} appears twice"
                )
            result[country] = language
    return result


def default_country_languages() -> dict[str, str]:
    """DESIGN.md's rule: fa for Iran, tr for Turkey, ar for the other 14 countries."""
    from culturalign.benchmark import COUNTRIES

    special = {"Iran": "fa", "Turkey": "tr"}
    return {country: special.get(country, "ar") for country in COUNTRIES}


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


def select_questions(questions: pd.DataFrame, question_ids: Sequence[str] | None) -> pd.DataFrame:
    """The questions of ``subset.questions`` (all when ``None``), in table order."""
    if question_ids is None:
        return questions
    known = set(questions["question_id"])
    for question_id in question_ids:
        if question_id not in known:
            raise ConfigError(
                f"config key subset.questions: unknown question id {question_id!r} "
                "(ids look like WVS-Q1 or AOI-0300)"
            )
    return questions[questions["question_id"].isin(set(question_ids))]


def select_countries(
    country_languages: Mapping[str, str], countries: Sequence[str] | None
) -> list[str]:
    """The countries of ``subset.countries`` (all when ``None``), in zones-table order."""
    if countries is None:
        return list(country_languages)
    for country in countries:
        if country not in country_languages:
            raise ConfigError(
                f"config key subset.countries: unknown country {country!r} "
                f"(known: {', '.join(country_languages)})"
            )
    wanted = set(countries)
    return [country for country in country_languages if country in wanted]


def prompt_targets(
    questions: pd.DataFrame,
    human: pd.DataFrame,
    language: str,
    framing: str,
    countries: Sequence[str] | None = None,
    *,
    question_ids: Sequence[str] | None = None,
    country_languages: Mapping[str, str] | None = None,
) -> Iterator[tuple[Any, str | None, str]]:
    """Yield ``(question row, country or None, prompt_language)`` for every prompt of a cell.

    Neutral English: one per question with human data; neutral native: one per question per
    native language spoken in a selected country with data; persona/observer: one per
    (question, country) pair with data, in English or the country's language.
    """
    if country_languages is None:
        country_languages = default_country_languages()
    selected_questions = select_questions(questions, question_ids)
    selected_countries = select_countries(country_languages, countries)
    country_rank = {country: rank for rank, country in enumerate(selected_countries)}

    pairs = human.loc[
        human["question_id"].isin(set(selected_questions["question_id"]))
        & human["country"].isin(country_rank),
        ["question_id", "country"],
    ].drop_duplicates()
    by_question: dict[str, list[str]] = {}
    for question_id, country in pairs.itertuples(index=False):
        by_question.setdefault(question_id, []).append(country)

    for question in selected_questions.itertuples(index=False):
        with_data = sorted(by_question.get(question.question_id, []), key=country_rank.__getitem__)
        if not with_data:
            continue
        if framing == "neutral":
            if language == "en":
                yield question, None, "en"
            else:
                spoken = {country_languages[country] for country in with_data}
                for lang in NATIVE_LANGUAGES:
                    if lang in spoken:
                        yield question, None, lang
        else:
            for country in with_data:
                yield question, country, "en" if language == "en" else country_languages[country]


def prompts_per_cell(
    questions: pd.DataFrame,
    human: pd.DataFrame,
    cells: Iterable[tuple[str, str]],
    countries: Sequence[str] | None = None,
    *,
    question_ids: Sequence[str] | None = None,
    country_languages: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], int]:
    """Number of prompts of each (language, framing) cell (the same for both reasoning modes)."""
    return {
        (language, framing): sum(
            1
            for _ in prompt_targets(
                questions,
                human,
                language,
                framing,
                countries,
                question_ids=question_ids,
                country_languages=country_languages,
            )  # fmt: skip
        )
        for language, framing in cells
    }


def build_prompts(
    questions: pd.DataFrame,
    human: pd.DataFrame,
    templates: Templates,
    translations: Translations | None,
    language: str,
    framing: str,
    reasoning: str,
    countries: Sequence[str] | None = None,
    *,
    question_ids: Sequence[str] | None = None,
    country_languages: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per prompt of the cell (columns ``PROMPT_COLUMNS``).

    ``countries`` / ``question_ids``: config ``subset.countries`` / ``subset.questions``
    (``None`` = all). ``country_languages``: country -> native language (default: DESIGN.md's
    rule). ``translations`` may be ``None`` for ``language="en"``.
    """
    for value, allowed, name in (
        (language, CELL_LANGUAGES, "language"),
        (framing, FRAMINGS, "framing"),
        (reasoning, REASONING, "reasoning"),
    ):
        if value not in allowed:
            raise ConfigError(f"unknown {name} {value!r} (expected one of {', '.join(allowed)})")
    if language == "native" and translations is None:
        raise ConfigError("native-language prompts need a translation table (prompts.translations)")
    rows: list[dict[str, Any]] = []
    for question, country, prompt_language in prompt_targets(
        questions, human, language, framing, countries,
        question_ids=question_ids, country_languages=country_languages,
    ):  # fmt: skip
        text = _question_text(question, prompt_language, translations, language, framing)
        rows.append(
            {
                "question_id": question.question_id,
                "country": country,
                "prompt_language": prompt_language,
                "prompt": templates.render(
                    prompt_language,
                    framing,
                    reasoning,
                    text,
                    int(question.scale_min),
                    int(question.scale_max),
                    country,
                ),
                "answer_cue": templates.languages[prompt_language].answer_cue,
                "scale_min": int(question.scale_min),
                "scale_max": int(question.scale_max),
                "scale_type": question.scale_type,
            }
        )
    frame = pd.DataFrame(rows, columns=list(PROMPT_COLUMNS))
    # A string column even when every value is missing (neutral cells), so all prompt tables
    # share one Parquet schema; missing values read back as NA (test with pandas.isna).
    frame["country"] = frame["country"].astype(pd.StringDtype())
    return frame.astype({"scale_min": "int64", "scale_max": "int64"})


def _question_text(
    question: Any,
    prompt_language: str,
    translations: Translations | None,
    cell_language: str,
    framing: str,
) -> str:
    if prompt_language == "en":
        return str(question.text_en)
    assert translations is not None  # checked by build_prompts
    text = translations.text(question.question_id, prompt_language)
    if text is None:
        raise ConfigError(
            f"{translations.path}: no {prompt_language} text for question "
            f"{question.question_id} (needed by the {cell_language}/{framing} prompts; "
            "add a row question_id, language, text or point config key prompts.translations "
            "at a table that has it)"
        )
    return text
