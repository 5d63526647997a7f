"""Translation tables: the question (and option) texts of native-language prompts, one row per
(question, language), with where each text comes from and its back-translation check."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from culturalign.benchmarks.populations import LANGUAGE_CODE
from culturalign.errors import ConfigError

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
