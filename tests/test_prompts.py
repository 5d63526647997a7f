"""Prompt templates, translation tables and the prompts of each cell (culturalign.prompts)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from culturalign.benchmark import COUNTRIES
from culturalign.errors import ConfigError
from culturalign.prompts import (
    FRAMINGS,
    PROMPT_COLUMNS,
    PROMPT_LANGUAGES,
    REASONING,
    build_prompts,
    default_country_languages,
    load_country_languages,
    load_templates,
    load_translations,
    template_hash,
)
from culturalign.tables import read_metadata

ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
DEFAULT_QUESTIONS = ["WVS-Q1", "WVS-Q46", "WVS-Q57", "WVS-Q164", "WVS-Q199", "WVS-Q240",
                     "WVS-Q152", "AOI-0300", "AOI-0466", "AOI-0864"]  # fmt: skip


@pytest.fixture(scope="module")
def templates_path(repo_root) -> Path:
    return repo_root / "resources/prompts/templates.yaml"


@pytest.fixture(scope="module")
def translations_path(repo_root) -> Path:
    return repo_root / "resources/translations/default.tsv"


@pytest.fixture(scope="module")
def templates(templates_path):
    return load_templates(templates_path)


@pytest.fixture(scope="module")
def translations(translations_path):
    return load_translations(translations_path)


@pytest.fixture(scope="module")
def config(repo_root) -> dict:
    return yaml.safe_load((repo_root / "config/config.yaml").read_text("utf-8"))


def tiny_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two synthetic questions; Q2 has no data for Iran; nothing for Qatar."""
    questions = pd.DataFrame(
        [
            {"question_id": "WVS-Q1", "code": 1, "source": "WVS-7", "text_en": "Q one?",
             "scale_min": 1, "scale_max": 4, "scale_type": "ordinal", "category": "c",
             "subcategory": "s"},
            {"question_id": "AOI-0002", "code": 2, "source": "AOI-2022", "text_en": "Q two?",
             "scale_min": 1, "scale_max": 12, "scale_type": "nominal", "category": "c",
             "subcategory": "s"},
        ]
    )  # fmt: skip
    pairs = [("WVS-Q1", c) for c in ("Egypt", "Iran", "Turkey")]
    pairs += [("AOI-0002", c) for c in ("Egypt", "Turkey", "Morocco")]
    human = pd.DataFrame(
        [{"question_id": q, "country": c, "option": 1, "share": 1.0} for q, c in pairs]
    )
    return questions, human


def write_translations(path: Path, rows: list[tuple[str, str, str]], header=None) -> Path:
    lines = ["\t".join(header or ("question_id", "language", "text"))]
    lines += ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TINY_TRANSLATIONS = [
    ("WVS-Q1", "ar", "سؤال واحد؟"),
    ("WVS-Q1", "fa", "پرسش یک؟"),
    ("WVS-Q1", "tr", "Soru bir?"),
    ("AOI-0002", "ar", "سؤال اثنان؟"),
    ("AOI-0002", "tr", "Soru iki?"),
]


# ------------------------------------------------------------------------------ templates


def test_every_language_framing_reasoning_renders(templates):
    for language in PROMPT_LANGUAGES:
        wording = templates.languages[language]
        for framing in FRAMINGS:
            for reasoning in REASONING:
                country = None if framing == "neutral" else "Egypt"
                prompt = templates.render(
                    language, framing, reasoning, "QUESTION-TEXT", 1, 21, country
                )
                assert "QUESTION-TEXT" in prompt
                assert "{" not in prompt and "}" not in prompt
                assert "1" in prompt and "21" in prompt
                egypt = wording.countries["Egypt"]
                assert (egypt in prompt) == (framing != "neutral"), (language, framing)
                assert (wording.answer_cue in prompt) == (reasoning == "cot"), (language, reasoning)
                if language != "en":
                    assert ARABIC_SCRIPT.search(prompt) or language == "tr"
                    assert "average person" not in prompt


def test_templates_name_all_countries_in_every_language(templates):
    for language in PROMPT_LANGUAGES:
        assert set(COUNTRIES) <= set(templates.languages[language].countries)
    assert templates.languages["ar"].countries["Egypt"] == "مصر"
    assert templates.languages["tr"].countries["Turkey"] == "Türkiye"


def test_render_persona_without_country_or_unknown_country(templates):
    with pytest.raises(ValueError, match="needs a country"):
        templates.render("en", "persona", "zero", "q", 1, 4, None)
    with pytest.raises(ConfigError, match=r"languages\.ar\.countries.*Atlantis"):
        templates.render("ar", "observer", "zero", "q", 1, 4, "Atlantis")


def _broken_templates(tmp_path, templates_path, edit) -> Path:
    data = yaml.safe_load(templates_path.read_text("utf-8"))
    edit(data)
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["languages"].pop("fa"), r"key languages: missing key\(s\) fa"),
        (lambda d: d["languages"]["tr"].pop("answer_cue"), r"languages\.tr: missing key"),
        (
            lambda d: d["languages"]["ar"]["framing"].pop("observer"),
            r"languages\.ar\.framing: missing key\(s\) observer",
        ),
        (
            lambda d: d["languages"]["en"]["framing"].update(persona="Be someone. {question}"),
            r"languages\.en\.framing\.persona: must contain placeholder\(s\) \{country\}",
        ),
        (
            lambda d: d["languages"]["en"]["framing"].update(neutral="{question} {country}"),
            r"languages\.en\.framing\.neutral: unknown placeholder\(s\) country",
        ),
        (
            lambda d: d["languages"]["fa"]["reasoning"].update(zero="Pick {optoin}"),
            r"languages\.fa\.reasoning\.zero: unknown placeholder\(s\) optoin",
        ),
        (
            lambda d: d["languages"]["en"]["reasoning"].update(cot="Think, then answer."),
            r"languages\.en\.reasoning\.cot: must contain placeholder\(s\) \{answer_cue\}",
        ),
        (
            lambda d: d["languages"]["en"]["reasoning"].update(zero="Answer {"),
            r"languages\.en\.reasoning\.zero: malformed template",
        ),
        (
            lambda d: d["languages"]["ar"]["countries"].pop("Qatar"),
            r"languages\.ar\.countries\.Qatar: missing",
        ),
        (lambda d: d.pop("layout"), r"missing key\(s\) layout"),
    ],
)
def test_bad_templates_name_file_and_key(tmp_path, templates_path, edit, message):
    path = _broken_templates(tmp_path, templates_path, edit)
    with pytest.raises(ConfigError, match=message) as caught:
        load_templates(path)
    assert str(path) in str(caught.value)


def test_missing_templates_file(tmp_path):
    with pytest.raises(ConfigError, match="prompts.templates"):
        load_templates(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- translations


def test_default_translations_are_native_only(translations, benchmark_tables):
    frame = translations.frame
    assert set(frame["language"]) == {"ar", "fa", "tr"}
    assert set(frame["question_id"]) == set(DEFAULT_QUESTIONS)
    assert len(frame) == 3 * len(DEFAULT_QUESTIONS)
    questions, _ = benchmark_tables
    english = dict(zip(questions["question_id"], questions["text_en"], strict=True))
    english_words = {"the", "you", "your", "with", "being", "important", "number", "only"}
    for row in frame.itertuples(index=False):
        if row.language in ("ar", "fa"):
            assert ARABIC_SCRIPT.search(row.text), row
        else:
            assert re.search("[çğıöşüİÇĞÖŞÜ]", row.text), row
        words = set(re.findall(r"[a-z]+", row.text.lower()))
        assert not words & english_words, (row.question_id, row.language, words & english_words)
        assert english[row.question_id][:30] not in row.text
        # the inline option numbers of the English text are all kept (ASCII digits)
        numbers = set(re.findall(r"\b\d+\b", english[row.question_id]))
        assert numbers <= set(re.findall(r"\d+", row.text)), (row.question_id, row.language)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (
            [("WVS-Q1", "ar", "نص"), ("WVS-Q1", "ar", "نص آخر")],
            None,
            r"line 3: duplicate \(question_id, language\) = \(WVS-Q1, ar\), first on line 2",
        ),
        ([("WVS-Q1", "en", "text")], None, r"line 2, column language: unknown language 'en'"),
        ([("WVS-Q1", "fa", " ")], None, r"line 2, column text: empty value"),
        (
            [("WVS-Q1", "fa", "متن")],
            ("question_id", "lang", "text"),
            r"missing column\(s\) language",
        ),
    ],
)
def test_bad_translations_name_file_and_line(tmp_path, rows, header, message):
    path = write_translations(tmp_path / "t.tsv", rows, header)
    with pytest.raises(ConfigError, match=message) as caught:
        load_translations(path)
    assert str(path) in str(caught.value)


def test_translations_csv_and_multiline(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('question_id,language,text\nWVS-Q1,tr,"Soru?\n\n1 - Evet"\n', "utf-8")
    loaded = load_translations(path)
    assert loaded.text("WVS-Q1", "tr") == "Soru?\n\n1 - Evet"
    assert loaded.text("WVS-Q1", "ar") is None


def test_missing_translation_names_question_and_language(tmp_path, templates):
    questions, human = tiny_tables()
    rows = [row for row in TINY_TRANSLATIONS if row[:2] != ("WVS-Q1", "fa")]
    path = write_translations(tmp_path / "t.tsv", rows)
    translations = load_translations(path)
    for framing in FRAMINGS:
        with pytest.raises(ConfigError, match=r"no fa text for question WVS-Q1") as caught:
            build_prompts(questions, human, templates, translations, "native", framing, "zero")
        assert str(path) in str(caught.value)
    # English cells need no translation at all
    frame = build_prompts(questions, human, templates, None, "en", "persona", "zero")
    assert len(frame) == 6


# ------------------------------------------------------------------------------- building


def test_cells_on_tiny_tables(tmp_path, templates):
    questions, human = tiny_tables()
    translations = load_translations(write_translations(tmp_path / "t.tsv", TINY_TRANSLATIONS))

    def cell(language, framing, reasoning="zero", **kwargs):
        return build_prompts(
            questions, human, templates, translations, language, framing, reasoning, **kwargs
        )

    neutral_en = cell("en", "neutral")
    assert list(neutral_en.columns) == list(PROMPT_COLUMNS)
    assert neutral_en["country"].isna().all()
    assert list(neutral_en["question_id"]) == ["WVS-Q1", "AOI-0002"]
    native = cell("native", "neutral")
    got = list(zip(native["question_id"], native["prompt_language"], strict=True))
    assert got == [("WVS-Q1", "ar"), ("WVS-Q1", "fa"), ("WVS-Q1", "tr"),
                   ("AOI-0002", "ar"), ("AOI-0002", "tr")]  # fmt: skip
    assert native["country"].isna().all()
    persona = cell("native", "persona", "cot")
    got = list(
        zip(persona["question_id"], persona["country"], persona["prompt_language"], strict=True)
    )
    assert got == [("WVS-Q1", "Egypt", "ar"), ("WVS-Q1", "Iran", "fa"),
                   ("WVS-Q1", "Turkey", "tr"), ("AOI-0002", "Egypt", "ar"),
                   ("AOI-0002", "Morocco", "ar"), ("AOI-0002", "Turkey", "tr")]  # fmt: skip
    assert persona.loc[1, "prompt"].startswith("تصور کنید یک فرد معمولی اهل ایران")
    assert "پرسش یک؟" in persona.loc[1, "prompt"]
    assert persona.loc[1, "answer_cue"] == "پاسخ:"
    assert persona.loc[3, ["scale_min", "scale_max", "scale_type"]].tolist() == [1, 12, "nominal"]
    observer_en = cell("en", "observer")
    assert observer_en.loc[0, "prompt"].startswith("How would an average person from Egypt")
    assert set(observer_en["prompt_language"]) == {"en"}
    # subsets: only Turkey -> one language, pairs only with Turkey
    only_turkey = cell("native", "neutral", countries=["Turkey"], question_ids=["AOI-0002"])
    assert list(only_turkey["prompt_language"]) == ["tr"]
    assert len(cell("en", "persona", countries=["Iran"])) == 1
    # a question without data in the selection is left out
    assert len(cell("en", "neutral", countries=["Qatar"])) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"question_ids": ["WVS-Q1", "WVS-Q999"]},
            r"subset\.questions: unknown question id 'WVS-Q999'",
        ),
        ({"countries": ["Egypt", "Atlantis"]}, r"subset\.countries: unknown country 'Atlantis'"),
    ],
)
def test_unknown_subset_values(templates, kwargs, message):
    questions, human = tiny_tables()
    with pytest.raises(ConfigError, match=message):
        build_prompts(questions, human, templates, None, "en", "neutral", "zero", **kwargs)


def test_unknown_cell_value(templates):
    questions, human = tiny_tables()
    with pytest.raises(ConfigError, match="unknown framing 'hero'"):
        build_prompts(questions, human, templates, None, "en", "hero", "zero")


def test_zones_languages(repo_root, tmp_path):
    languages = load_country_languages(repo_root / "resources/cultural_zones.csv")
    assert languages == default_country_languages()
    assert languages["Iran"] == "fa" and languages["Turkey"] == "tr"
    assert {languages[c] for c in COUNTRIES if c not in ("Iran", "Turkey")} == {"ar"}
    bad = tmp_path / "zones.csv"
    bad.write_text("country,language\nEgypt,ar\nIran,ku\n", "utf-8")
    with pytest.raises(ConfigError, match=r"zones.csv: line 3, column language: 'ku' for Iran"):
        load_country_languages(bad)


def test_template_hash(tmp_path, templates_path, translations_path):
    both = template_hash(templates_path, translations_path)
    assert re.fullmatch(r"[0-9a-f]{64}", both)
    assert template_hash(templates_path, translations_path) == both
    assert template_hash(templates_path) != both
    copy = tmp_path / "t.yaml"
    copy.write_bytes(templates_path.read_bytes() + b"\n# edited\n")
    assert template_hash(copy, translations_path) != both


def expected_counts(human: pd.DataFrame, questions: list[str], countries: list[str]) -> dict:
    """Prompts per cell, computed straight from the human table (independent of prompts.py)."""
    language_of = {"Iran": "fa", "Turkey": "tr"}
    pairs = human[human["question_id"].isin(questions) & human["country"].isin(countries)]
    pairs = pairs[["question_id", "country"]].drop_duplicates()
    n_pairs = len(pairs)
    n_questions = pairs["question_id"].nunique()
    pairs = pairs.assign(lang=pairs["country"].map(lambda c: language_of.get(c, "ar")))
    n_native_neutral = len(pairs[["question_id", "lang"]].drop_duplicates())
    counts = {}
    for reasoning in ("zero", "cot"):
        counts[("en", "neutral", reasoning)] = n_questions
        counts[("native", "neutral", reasoning)] = n_native_neutral
        for language in ("en", "native"):
            for framing in ("persona", "observer"):
                counts[(language, framing, reasoning)] = n_pairs
    return counts


def test_prompt_counts_on_real_workbook(benchmark_tables, templates, translations, config):
    questions, human = benchmark_tables
    subset_questions = config["subset"]["questions"]
    subset_countries = config["subset"]["countries"]
    expected = expected_counts(human, subset_questions, subset_countries)
    for (language, framing, reasoning), count in expected.items():
        frame = build_prompts(
            questions, human, templates, translations, language, framing, reasoning,
            subset_countries, question_ids=subset_questions,
        )  # fmt: skip
        assert len(frame) == count, (language, framing, reasoning)
        assert not frame.duplicated(["question_id", "country", "prompt_language"]).any()
    if subset_questions == DEFAULT_QUESTIONS:
        # the default config: 51 (question, country) pairs, 23 native neutral prompts
        assert expected[("en", "persona", "zero")] == 51
        assert expected[("native", "neutral", "zero")] == 23
        assert expected[("en", "neutral", "zero")] == 10


def test_english_prompts_for_all_questions_and_countries(benchmark_tables, templates):
    """Without a subset every pair with human data gets a prompt (9,051 in MENAValues)."""
    questions, human = benchmark_tables
    frame = build_prompts(questions, human, templates, None, "en", "observer", "zero")
    assert len(frame) == len(human[["question_id", "country"]].drop_duplicates())
    assert frame["prompt"].str.len().min() > 50


def test_rule_writes_prompt_table_with_hash(repo_root, benchmark_xlsx, tmp_path):
    """The Snakemake rule, run in a copy of the repository (never touches ../shared)."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("Snakefile", "workflow", "src", "config", "resources", "envs"):
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(
                source, work / name, ignore=shutil.ignore_patterns("__pycache__", "models")
            )
        else:
            shutil.copy2(source, work / name)
    target = "results/prompts/native/neutral/cot.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", target,
         "--config", f"benchmark_xlsx={benchmark_xlsx}"],
        cwd=work, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = pd.read_parquet(work / target)
    assert len(frame) == 23
    assert set(frame["prompt_language"]) == {"ar", "fa", "tr"}
    # neutral tables keep a string-typed country column (all missing), like the others
    assert pq.read_schema(work / target).field("country").type in (pa.string(), pa.large_string())
    assert frame["country"].isna().all()
    metadata = read_metadata(work / target)
    assert metadata["template_hash"] == template_hash(
        work / "resources/prompts/templates.yaml", work / "resources/translations/default.tsv"
    )
