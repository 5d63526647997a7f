"""The benchmark plug-in interface: what every benchmark module implements.

A plug-in turns its source files into three tables (column names in
``docs/architecture.md``; one JSON schema each under ``workflow/schemas/``):

- **questions**: one row per question, with *labelled* options
  (``options``: list of ``{code, label, text}``; codes are the integers
  ``scale_min..scale_max``, the label is what the prompt shows: ``1``, ``A``, ``أ``), whether
  the prompt lists the options after the question text (``show_options``), and an optional
  ``gold`` option code;
- **human**: one row per (question, population, option) with the people's ``share``
  (summing to 1 per pair), where the benchmark has human answers;
- **populations**: one row per population (``country``: its name as in ``human``; ``iso3``;
  ``languages``: prompt languages, the first is used by ``native`` cells; zone columns).

A benchmark written in another language than English adds the question columns
``original_language`` (ISO 639 code) and ``text_original``: prompts in that language use
them (and the options' ``text``) instead of a translation table; ``text_en`` may be null.

It also declares which cells apply to it (:class:`CellSpace`), which analysis its results
get (``kind``), and the schema of its config block (``workflow/schemas/benchmarks/``).
Prompts, engines, scoring and shards know nothing of any one benchmark.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from culturalign.benchmarks.populations import build_populations
from culturalign.constants import CELL_LANGUAGES, FRAMINGS, REASONING
from culturalign.errors import BenchmarkError, ConfigError
from culturalign.io.hashing import sha256_of
from culturalign.io.hub import HubSource, is_hub_source

LATIN_LETTERS: tuple[str, ...] = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
ARABIC_LETTERS: tuple[str, ...] = (
    "أ", "ب", "ج", "د", "هـ", "و", "ز", "ح", "ط", "ي", "ك", "ل", "م", "ن",
    "س", "ع", "ف", "ص", "ق", "ر", "ش", "ت", "ث", "خ", "ذ", "ض", "ظ", "غ",
)  # fmt: skip
"""Arabic option letters in abjad order (أ ب ج د …), as Arabic multiple-choice tests use."""

LETTER_SETS: Mapping[str, tuple[str, ...]] = {"latin": LATIN_LETTERS, "arabic": ARABIC_LETTERS}

QUESTION_COLUMNS: tuple[str, ...] = (
    "question_id", "source", "text_en", "scale_min", "scale_max", "scale_type", "category",
    "subcategory", "options", "show_options", "gold",
)  # fmt: skip
HUMAN_COLUMNS: tuple[str, ...] = (
    "question_id", "country", "option", "share", "nonsubstantive_share",
)  # fmt: skip


@dataclass(frozen=True)
class CellSpace:
    """The cell dimensions that apply to a benchmark."""

    languages: tuple[str, ...] = CELL_LANGUAGES
    framings: tuple[str, ...] = FRAMINGS
    reasoning: tuple[str, ...] = REASONING


DATA_NOTE_COLUMNS = ("action", "rule", "item", "place", "detail")
"""One row per repair or drop of a source row (``data_notes.parquet``): ``action``
``repaired`` or ``dropped``; ``rule`` the rule that applied (e.g. ``answer letter variant``);
``item`` the id the row has or would have had; ``place`` file, line/row and column;
``detail`` what was there and what was done."""


class StrictNotes:
    """The notes of a reader called without a plug-in (as in a test or a notebook): repairs
    are kept, a bad row is an error."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, ...]] = []

    def note(self, action: str, rule: str, item: str | None, place: str, detail: str) -> None:
        self.notes.append((action, rule, str(item), place, detail))

    def bad_row(self, item: str | None, place: str, reason: str) -> None:
        raise BenchmarkError(f"{place}: {reason}")


@dataclass(frozen=True)
class BenchmarkTables:
    """What a plug-in produces (unpacks as ``questions, human, populations``; ``notes``: the
    repairs and drops of source rows, :data:`DATA_NOTE_COLUMNS`)."""

    questions: pd.DataFrame
    human: pd.DataFrame
    populations: pd.DataFrame
    notes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(DATA_NOTE_COLUMNS), dtype="string")
    )

    def __iter__(self):
        return iter((self.questions, self.human, self.populations))


def missing_sources(benchmarks: Iterable[Benchmark]) -> None:
    """Raise naming the config key of the first source file that is absent and has no
    download (``url`` + ``sha256``) configured."""
    for benchmark in benchmarks:
        downloads = benchmark.downloads()
        for name, path in benchmark.source_files().items():
            if not Path(path).exists() and path not in downloads:
                raise ConfigError(
                    f"config key benchmarks.{benchmark.key}.{name}: {path} does not exist"
                    + (" (set url and sha256 to download it)" if name == "source" else "")
                )
        populations = benchmark.populations_file()
        if populations and not Path(populations).is_file():
            raise ConfigError(
                f"config key benchmarks.{benchmark.key}.populations: {populations} does not exist"
            )


def option_labels(
    n: int, kind: str = "number", start: int = 1, letters: str = "latin"
) -> list[str]:
    """Labels of ``n`` options: numbers from ``start``, or letters of a :data:`LETTER_SETS`."""
    if kind == "number":
        return [str(start + index) for index in range(n)]
    alphabet = LETTER_SETS[letters]
    if n > len(alphabet):
        raise ValueError(f"{n} options exceed the {len(alphabet)} {letters} letters")
    return list(alphabet[:n])


def labelled_options(
    codes: Sequence[int],
    labels: Sequence[str],
    texts: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """The ``options`` value of one question row."""
    texts = list(texts) if texts is not None else [None] * len(codes)
    return [
        {"code": int(code), "label": str(label), "text": text}
        for code, label, text in zip(codes, labels, texts, strict=True)
    ]


class Benchmark(ABC):
    """One benchmark: its source format, its cells and its analysis kind.

    Subclasses set the class attributes and implement :meth:`read`; they register with
    :func:`culturalign.benchmarks.register_benchmark`. ``options`` is the validated config
    block ``benchmarks.<key>`` (defaults filled from the plug-in's schema).
    """

    name: ClassVar[str] = ""
    """Registry name (the config's ``plugin``)."""
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "survey"
    """Which analysis the results get: ``survey`` (human distributions: NVAS, KLD, ...),
    ``mcq`` (gold answers: accuracy) or ``inventory`` (scored dimensions)."""
    cells: ClassVar[CellSpace] = CellSpace()
    templates: ClassVar[str | None] = None
    """The plug-in's own prompt templates file (used when ``benchmarks.<key>.prompts.templates``
    is null), e.g. multiple-choice wording instead of the survey wording."""
    schema: ClassVar[str] = ""
    """File name of the config-block schema under ``workflow/schemas/benchmarks/`` (or an
    absolute path, for a plug-in outside this package)."""
    publisher_measure: ClassVar[str | None] = None
    """The measure the benchmark's publishers report, which its report leads with (the kind
    renders it): ``nvas`` (MENAValues, with the authors' paper-level aggregates),
    ``country_similarity`` (GlobalOpinionQA: 1 - Jensen-Shannon distance per country),
    ``category_accuracy`` (AraTrust: accuracy per category and their mean, as lighteval
    reports it); ``None``: the kind's own headline."""
    provides_translations: ClassVar[bool] = False
    """Whether the source carries its own texts in other languages (:meth:`translations`),
    which native prompts read when ``benchmarks.<key>.prompts.translations`` is not set."""
    hub_files: ClassVar[tuple[str, ...]] = ("*.parquet", "*.csv", "*.jsonl")
    """Which files of a ``source: hf://datasets/…`` repository make the benchmark (patterns;
    config ``files`` overrides)."""

    def __init__(self, key: str, options: Mapping[str, Any]) -> None:
        self.key = key
        self.options = dict(options)
        self.notes: list[dict[str, str | None]] = []

    # -- what was repaired or dropped while reading --------------------------------------------

    def note(self, action: str, rule: str, item: str | None, place: str, detail: str) -> None:
        """Record a repair (``repaired``) or a drop (``dropped``) of a source row."""
        self.notes.append({"action": action, "rule": rule, "item": item, "place": place,
                           "detail": detail})  # fmt: skip

    def bad_row(self, item: str | None, place: str, reason: str) -> None:
        """A genuinely broken source row: an error naming it (``on_bad_row: error``, the
        default), or dropped and listed (``on_bad_row: drop``)."""
        if self.options.get("on_bad_row", "error") != "drop":
            raise BenchmarkError(
                f"{place}: {reason} (benchmarks.{self.key}.on_bad_row: drop leaves the row "
                "out and lists it instead)"
            )
        self.note("dropped", "bad row", item, place, reason)

    def notes_table(self) -> pd.DataFrame:
        """The notes so far, as :data:`DATA_NOTE_COLUMNS` (strings)."""
        return pd.DataFrame(self.notes, columns=list(DATA_NOTE_COLUMNS)).astype("string")

    # -- inputs ------------------------------------------------------------------------------

    def hub_source(self) -> HubSource | None:
        """The Hub repository ``source`` names (``hf://datasets/…``), if it names one."""
        if not is_hub_source(self.options.get("source")):
            return None
        return HubSource.from_options(self.key, self.options, self.hub_files)

    def source_files(self) -> dict[str, str]:
        """The files :meth:`read` needs, by name (the import rule's inputs); a Hub source is
        read from its local export."""
        hub = self.hub_source()
        if hub is not None:
            return {"source": hub.export_path}
        source = self.options.get("source")
        return {"source": str(source)} if source else {}

    def downloads(self) -> dict[str, tuple[str, str | HubSource]]:
        """``{path: (url, sha256)}`` for source files the workflow may download when absent;
        for a Hub source ``{export path: (url, HubSource)}``."""
        hub = self.hub_source()
        if hub is not None:
            return {hub.export_path: (hub.url, hub)}
        source, url, sha256 = (self.options.get(k) for k in ("source", "url", "sha256"))
        if source and url and sha256:
            return {str(source): (str(url), str(sha256))}
        return {}

    def populations_file(self) -> str | None:
        """The user-editable populations (zones) table, if configured."""
        path = self.options.get("populations")
        return str(path) if path else None

    def input_files(self) -> dict[str, str]:
        """Every file the import rule reads: the sources, and ``populations`` if set."""
        files = dict(self.source_files())
        populations = self.populations_file()
        if populations:
            files["populations"] = populations
        return files

    # -- tables ------------------------------------------------------------------------------

    @abstractmethod
    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(questions, human)`` from the source files (``human`` may be empty)."""

    def translations(self, files: Mapping[str, Path]) -> pd.DataFrame:
        """The source's own translation table (columns question_id, language, text, options,
        provenance; the format of ``prompts.translations``), for plug-ins that
        :attr:`provides_translations`."""
        raise NotImplementedError(f"the {self.name} benchmark's source has no translations")

    def population_names(self, human: pd.DataFrame) -> list[str]:
        """The populations the benchmark knows, in its own order (default: as in ``human``)."""
        return list(dict.fromkeys(human["country"].astype(str))) if len(human) else []

    def default_languages(self) -> tuple[str, ...]:
        """Prompt languages for populations that have none (e.g. a benchmark in one language)."""
        return ()

    def load(self, files: Mapping[str, Path]) -> BenchmarkTables:
        """Read the source, then build and check the populations table."""
        questions, human = self.read(files)
        populations_path = files.get("populations")
        populations = build_populations(
            self.population_names(human),
            populations_path,
            subset=(self.options.get("subset") or {}).get("populations"),
            default_languages=self.default_languages(),
            where=f"benchmarks.{self.key}",
        )
        return BenchmarkTables(questions, human, populations, self.notes_table())

    def prompt_pairs(self, questions: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
        """``(question_id, country)`` pairs that get prompts: those with human data."""
        return human[["question_id", "country"]].drop_duplicates()

    def extra_variants(self) -> list[str]:
        """Prompt variants the benchmark's own analysis needs in every cell and question
        (e.g. ``rotated-K`` for CircularEval), beside config ``robustness.variants``."""
        return []


def source_provenance(benchmark: Benchmark, files: Mapping[str, Path]) -> dict[str, Any]:
    """Key, plug-in and the sha256 of every input file (recorded in every table and shard)."""
    provenance = {
        "key": benchmark.key,
        "plugin": benchmark.name,
        "source_sha256": {name: sha256_of(path) for name, path in files.items()},
        "sources": {name: str(path) for name, path in files.items()},
    }
    hub = benchmark.hub_source()
    if hub is not None:
        provenance["hub"] = {"repository": hub.repo_id, "revision": hub.revision,
                             "files": list(hub.files)}  # fmt: skip
    return provenance


SHARE_SUM_TOLERANCE = 1e-6


def check_tables(tables: BenchmarkTables, where: str = "benchmark") -> None:
    """The contract every plug-in's tables meet (raises BenchmarkError naming the row).

    Unique question ids; options whose codes are exactly ``scale_min..scale_max`` with
    distinct labels; a gold code among them; human rows about known questions and
    populations, each pair's shares summing to 1.
    """
    questions, human, populations = tables.questions, tables.human, tables.populations
    duplicated = questions["question_id"][questions["question_id"].duplicated()]
    if len(duplicated):
        raise BenchmarkError(f"{where}: question id {duplicated.iloc[0]!r} appears twice")
    for index, row in enumerate(questions.itertuples(index=False)):
        at = f"{where}: questions row {index} ({row.question_id})"
        codes = [int(option["code"]) for option in row.options]
        if codes != list(range(int(row.scale_min), int(row.scale_max) + 1)):
            raise BenchmarkError(
                f"{at}: option codes {codes} are not {row.scale_min}..{row.scale_max}"
            )
        labels = [str(option["label"]) for option in row.options]
        if len(set(labels)) != len(labels):
            raise BenchmarkError(f"{at}: option labels {labels} are not distinct")
        if row.show_options and any(not option["text"] for option in row.options):
            raise BenchmarkError(f"{at}: an option shown in the prompt has no text")
        gold = row.gold
        if gold is not None and not pd.isna(gold) and int(gold) not in codes:
            raise BenchmarkError(f"{at}: gold answer {gold} is not one of the codes {codes}")
    if human.empty:
        return
    unknown = set(human["question_id"]) - set(questions["question_id"])
    if unknown:
        raise BenchmarkError(f"{where}: human answers for unknown question(s) {sorted(unknown)}")
    strangers = set(human["country"]) - set(populations["country"])
    if strangers:
        raise BenchmarkError(
            f"{where}: human answers for population(s) {sorted(strangers)} missing from the "
            "populations table"
        )
    sums = human.groupby(["question_id", "country"])["share"].sum()
    off = sums[(sums - 1.0).abs() > SHARE_SUM_TOLERANCE]
    if len(off):
        (question_id, country), total = next(iter(off.items()))
        raise BenchmarkError(
            f"{where}: the shares of ({question_id}, {country}) sum to {total:.6f}, not 1"
        )
