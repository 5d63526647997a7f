"""Prompt templates (``resources/prompts/templates.yaml`` and a benchmark's own): the layout,
per language the framing and reasoning wordings, the answer cue and the option format;
validated as they load, errors naming the file and key."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from culturalign.benchmarks.populations import (
    LANGUAGE_CODE,
    country_by_iso3,
    localized_country_name,
)
from culturalign.constants import FRAMINGS, LABEL_KINDS, REASONING
from culturalign.errors import ConfigError
from culturalign.io.yaml_files import load_yaml

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
