"""Prompt templates, translation tables and the prompts of each cell (culturalign.prompts)."""

from __future__ import annotations

import hashlib
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

from culturalign.benchmarks.base import labelled_options, option_labels
from culturalign.benchmarks.menavalues import COUNTRIES
from culturalign.benchmarks.populations import build_populations
from culturalign.constants import FRAMINGS, REASONING
from culturalign.errors import ConfigError
from culturalign.io.tables import read_metadata
from culturalign.prompts.building import PROMPT_COLUMNS, build_prompts, label_kind, template_hash
from culturalign.prompts.templates import load_templates
from culturalign.prompts.translation_tables import load_translations

PROMPT_LANGUAGES = ("en", "ar", "fa", "tr")
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


@pytest.fixture(scope="module")
def zones(repo_root) -> pd.DataFrame:
    return build_populations(COUNTRIES, repo_root / "resources/cultural_zones.csv")


def question(question_id: str, low: int, high: int, scale_type: str = "ordinal", **extra):
    codes = range(low, high + 1)
    return {"question_id": question_id, "source": "S", "text_en": extra.pop("text", "Q?"),
            "scale_min": low, "scale_max": high, "scale_type": scale_type, "category": "c",
            "subcategory": "s", "options": labelled_options(codes, option_labels(len(codes))),
            "show_options": False, "gold": None, **extra}  # fmt: skip


def tiny_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two synthetic questions; Q2 has no data for Iran; nothing for Qatar."""
    questions = pd.DataFrame(
        [question("WVS-Q1", 1, 4, text="Q one?"),
         question("AOI-0002", 1, 12, "nominal", text="Q two?")]
    )  # fmt: skip
    pairs = [("WVS-Q1", c) for c in ("Egypt", "Iran", "Turkey")]
    pairs += [("AOI-0002", c) for c in ("Egypt", "Turkey", "Morocco")]
    human = pd.DataFrame(
        [{"question_id": q, "country": c, "option": 1, "share": 1.0} for q, c in pairs]
    )
    return questions, human


def cell_prompts(questions, human, zones, templates, translations, language, framing,
                 reasoning="zero", **kwargs):  # fmt: skip
    return build_prompts(
        questions, human[["question_id", "country"]].drop_duplicates(), zones, templates,
        translations, language, framing, reasoning, **kwargs,
    )  # fmt: skip


def write_translations(path: Path, rows: list[tuple[str, ...]], header=None) -> Path:
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


@pytest.mark.parametrize("kind", ["number", "letter"])
def test_every_language_framing_reasoning_renders(templates, kind):
    labels = option_labels(21, kind) if kind == "number" else option_labels(4, kind)
    for language in PROMPT_LANGUAGES:
        wording = templates.languages[language]
        for framing in FRAMINGS:
            for reasoning in REASONING:
                country = None if framing == "neutral" else "Egypt"
                prompt = templates.render(
                    language, framing, reasoning, "QUESTION-TEXT", labels, kind, country
                )
                assert "QUESTION-TEXT" in prompt
                assert "{" not in prompt and "}" not in prompt
                assert labels[0] in prompt and labels[-1] in prompt
                egypt = wording.countries["Egypt"]
                assert (egypt in prompt) == (framing != "neutral"), (language, framing)
                assert (wording.answer_cue in prompt) == (reasoning == "cot"), (language, reasoning)
                if language != "en":
                    assert ARABIC_SCRIPT.search(prompt) or language == "tr"
                    assert "average person" not in prompt


def test_number_wording_of_the_default_templates_is_unchanged(templates):
    """The MENAValues prompts are the ones the shards were made with (pinned wording)."""
    prompt = templates.render("en", "persona", "zero", "Q?", ["1", "2", "3", "4"], "number",
                              "Egypt")  # fmt: skip
    assert prompt == (
        "Imagine you are an average person from Egypt. Answer the following survey question "
        "as that person would.\n\nQ?\n\nAnswer with the option number only (1-4), nothing else."
    )


def test_options_are_listed_after_the_question_when_given(templates):
    prompt = templates.render("en", "neutral", "zero", "Tea or coffee?", ["A", "B"], "letter",
                              option_texts=["Tea", "Coffee"])  # fmt: skip
    assert "Tea or coffee?\n\n(A) Tea\n(B) Coffee\n\n" in prompt
    assert prompt.endswith("Answer with the letter of the option only (A-B), nothing else.")


def test_templates_name_all_countries_in_every_language(templates):
    for language in PROMPT_LANGUAGES:
        assert set(COUNTRIES) <= set(templates.languages[language].countries)
    assert templates.languages["ar"].countries["Egypt"] == "مصر"
    assert templates.languages["tr"].countries["Turkey"] == "Türkiye"


def test_country_names_outside_the_templates(templates):
    # English: the benchmark's own name; other languages: the CLDR name of the ISO country
    assert templates.country_name("en", "Nigeria", "NGA") == "Nigeria"
    assert templates.country_name("ar", "Nigeria", "NGA") == "نيجيريا"
    assert templates.country_name("tr", "Japan", "JPN") == "Japonya"
    with pytest.raises(ConfigError, match=r"languages\.ar\.countries has no name for 'Atlantis'"):
        templates.country_name("ar", "Atlantis", None)


def test_render_persona_without_country_or_unknown_country(templates):
    with pytest.raises(ValueError, match="needs a country"):
        templates.render("en", "persona", "zero", "q", ["1", "2"], "number", None)
    with pytest.raises(ConfigError, match=r"languages\.ar\.countries.*Atlantis"):
        templates.render("ar", "observer", "zero", "q", ["1", "2"], "number", "Atlantis")


def test_a_language_the_templates_lack_is_named_with_its_key(templates):
    with pytest.raises(ConfigError, match=r"key languages\.ja is missing \(needed by x\)"):
        templates.language("ja", needed_by="x")


def _broken_templates(tmp_path, templates_path, edit) -> Path:
    data = yaml.safe_load(templates_path.read_text("utf-8"))
    edit(data)
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
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
            lambda d: d["languages"]["fa"]["reasoning"]["number"].update(zero="Pick {optoin}"),
            r"languages\.fa\.reasoning\.number\.zero: unknown placeholder\(s\) optoin",
        ),
        (
            lambda d: d["languages"]["en"]["reasoning"]["letter"].update(cot="Think, then answer."),
            r"languages\.en\.reasoning\.letter\.cot: must contain placeholder\(s\) \{answer_cue\}",
        ),
        (
            lambda d: d["languages"]["en"]["reasoning"]["number"].update(zero="Answer {"),
            r"languages\.en\.reasoning\.number\.zero: malformed template",
        ),
        (
            lambda d: d["languages"]["en"]["reasoning"].update(roman={}),
            r"languages\.en\.reasoning: unknown key\(s\) roman",
        ),
        (
            lambda d: d["languages"]["ar"]["countries"].update(Qatar=""),
            r"languages\.ar\.countries\.Qatar: empty",
        ),
        (lambda d: d["languages"].update({"English": d["languages"]["en"]}), "not a language"),
        (lambda d: d.update(options={"line": "{label}"}), r"options\.line: must contain"),
        (lambda d: d.pop("layout"), r"missing key\(s\) layout"),
        (
            lambda d: d["languages"]["en"]["framing"].update(persona=[]),
            r"framing\.persona: must be a string or a non-empty list",
        ),
    ],
)
def test_bad_templates_name_file_and_key(tmp_path, templates_path, edit, message):
    path = _broken_templates(tmp_path, templates_path, edit)
    with pytest.raises(ConfigError, match=message) as caught:
        load_templates(path)
    assert str(path) in str(caught.value)


def test_a_language_block_needs_only_the_label_kind_it_is_used_with(tmp_path, templates_path):
    path = _broken_templates(tmp_path, templates_path,
                             lambda d: d["languages"]["tr"]["reasoning"].pop("letter"))  # fmt: skip
    loaded = load_templates(path)
    assert loaded.render("tr", "neutral", "zero", "q", ["1", "2"], "number")
    with pytest.raises(ConfigError, match=r"languages\.tr\.reasoning\.letter is missing"):
        loaded.render("tr", "neutral", "zero", "q", ["A", "B"], "letter")


def test_wording_variants_are_lists_whose_first_entry_is_the_original(templates):
    for language in PROMPT_LANGUAGES:
        block = templates.languages[language]
        assert all(len(block.framing[f]) >= 3 for f in FRAMINGS), language
        for kind in ("number", "letter"):
            assert all(len(block.reasoning[kind][r]) >= 3 for r in REASONING), (language, kind)
        assert block.unforced
    first = templates.render("en", "persona", "zero", "q", ["1", "2"], "number", "Egypt")
    second = templates.render("en", "persona", "zero", "q", ["1", "2"], "number", "Egypt",
                              wording=1)  # fmt: skip
    assert first.startswith("Imagine you are") and second.startswith("You are a typical adult")
    assert first.endswith("(1-2), nothing else.") and second.endswith("choice (1-2).")
    unforced = templates.render("en", "neutral", "zero", "q", ["1", "2"], "number",
                                unforced=True)  # fmt: skip
    assert unforced.endswith('nothing else. If you do not know or prefer not to say, reply '
                             '"I don\'t know" instead.')  # fmt: skip
    with pytest.raises(ConfigError, match=r"framing\.neutral has 3 wording\(s\); variant "
                       r"wording-4 needs 4"):  # fmt: skip
        templates.render("en", "neutral", "zero", "q", ["1", "2"], "number", wording=3)


def test_variant_rows_follow_each_original(tmp_path, templates, zones):
    questions, human = tiny_tables()
    questions.loc[0, "text_en"] = "Q one? With '1' being 'Yes' and '4' being 'No'."
    frame = cell_prompts(questions, human, zones, templates, None, "en", "persona",
                         variants=["wording-2", "reversed", "unforced"])  # fmt: skip
    first = frame[(frame["question_id"] == "WVS-Q1") & (frame["country"] == "Egypt")]
    assert first["variant"].tolist() == ["original", "wording-2", "reversed", "unforced"]
    reversed_row = first[first["variant"] == "reversed"].iloc[0]
    assert "With '1' being 'No' and '4' being 'Yes'." in reversed_row["prompt"]
    assert reversed_row["option_labels"] == ["1", "2", "3", "4"]
    assert reversed_row["option_codes"] == [4, 3, 2, 1]
    # AOI-0002's text names no option list: no reversed row, the others stay
    second = frame[frame["question_id"] == "AOI-0002"]
    assert "reversed" not in set(second["variant"]) and "wording-2" in set(second["variant"])
    only_q1 = cell_prompts(questions, human, zones, templates, None, "en", "persona",
                           variants=["wording-2"], variant_questions={"WVS-Q1"})  # fmt: skip
    assert set(only_q1.loc[only_q1["question_id"] == "AOI-0002", "variant"]) == {"original"}


def test_missing_templates_file(tmp_path):
    with pytest.raises(ConfigError, match="prompts.templates"):
        load_templates(tmp_path / "nope.yaml")


def test_label_kind():
    assert label_kind(["1", "2", "10"]) == "number"
    assert label_kind(["A", "B"]) == "letter"
    assert label_kind(["أ", "ب", "هـ"]) == "letter"
    with pytest.raises(ConfigError, match="mix numbers and letters"):
        label_kind(["1", "B"])


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
        ([("WVS-Q1", "en", "text")], None, r"line 2, column language: 'en' is not a language"),
        ([("WVS-Q1", "Farsi", "متن")], None, r"line 2, column language: 'Farsi'"),
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


def test_missing_translation_names_question_and_language(tmp_path, templates, zones):
    questions, human = tiny_tables()
    rows = [row for row in TINY_TRANSLATIONS if row[:2] != ("WVS-Q1", "fa")]
    path = write_translations(tmp_path / "t.tsv", rows)
    translations = load_translations(path)
    for framing in FRAMINGS:
        with pytest.raises(ConfigError, match=r"no fa text for question WVS-Q1") as caught:
            cell_prompts(questions, human, zones, templates, translations, "native", framing)
        assert str(path) in str(caught.value)
    # English cells need no translation at all
    frame = cell_prompts(questions, human, zones, templates, None, "en", "persona")
    assert len(frame) == 6


def test_shown_options_need_their_translated_texts(tmp_path, templates, zones):
    questions = pd.DataFrame([question("GOQA-0001", 1, 2, "nominal", show_options=True)])
    questions.at[0, "options"] = labelled_options([1, 2], ["A", "B"], ["Yes", "No"])
    human = pd.DataFrame([{"question_id": "GOQA-0001", "country": "Turkey"}])
    english = cell_prompts(questions, human, zones, templates, None, "en", "persona")
    assert "\n(A) Yes\n(B) No\n" in english.loc[0, "prompt"]
    assert (
        english.loc[0, "option_labels"] == ["A", "B"] and english.loc[0, "label_kind"] == "letter"
    )
    rows = [("GOQA-0001", "tr", "Evet mi hayır mı?")]
    path = write_translations(tmp_path / "t.tsv", rows)
    with pytest.raises(ConfigError, match=r"column options must hold its 2 option texts"):
        cell_prompts(questions, human, zones, templates, load_translations(path), "native",
                     "persona")  # fmt: skip
    path = write_translations(tmp_path / "t2.tsv", [(*rows[0], "Evet | Hayır")],
                              ("question_id", "language", "text", "options"))  # fmt: skip
    native = cell_prompts(questions, human, zones, templates, load_translations(path), "native",
                          "persona")  # fmt: skip
    assert "Evet mi hayır mı?\n\n(A) Evet\n(B) Hayır" in native.loc[0, "prompt"]


# ------------------------------------------------------------------------------- building


def test_cells_on_tiny_tables(tmp_path, templates, zones):
    questions, human = tiny_tables()
    translations = load_translations(write_translations(tmp_path / "t.tsv", TINY_TRANSLATIONS))

    def cell(language, framing, reasoning="zero", **kwargs):
        return cell_prompts(questions, human, zones, templates, translations, language, framing,
                            reasoning, **kwargs)  # fmt: skip

    neutral_en = cell("en", "neutral")
    assert list(neutral_en.columns) == list(PROMPT_COLUMNS)
    assert neutral_en["country"].isna().all()
    assert list(neutral_en["question_id"]) == ["WVS-Q1", "AOI-0002"]
    assert set(neutral_en["variant"]) == {"original"}
    assert neutral_en.loc[0, "option_labels"] == ["1", "2", "3", "4"]
    assert neutral_en.loc[1, "option_codes"] == list(range(1, 13))
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
    only_turkey = cell("native", "neutral", selected_populations=["Turkey"],
                       question_ids=["AOI-0002"])  # fmt: skip
    assert list(only_turkey["prompt_language"]) == ["tr"]
    assert len(cell("en", "persona", selected_populations=["Iran"])) == 1
    # a question without data in the selection is left out
    assert len(cell("en", "neutral", selected_populations=["Qatar"])) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"question_ids": ["WVS-Q1", "WVS-Q999"]},
            r"benchmarks\.x\.subset\.questions: unknown question id\(s\) 'WVS-Q999'",
        ),
        (
            {"selected_populations": ["Egypt", "Atlantis"]},
            r"benchmarks\.x\.subset\.populations: unknown population\(s\) 'Atlantis'",
        ),
    ],
)
def test_unknown_subset_values(templates, zones, kwargs, message):
    questions, human = tiny_tables()
    with pytest.raises(ConfigError, match=message):
        cell_prompts(questions, human, zones, templates, None, "en", "neutral",
                     where="benchmarks.x.subset", **kwargs)  # fmt: skip


def test_unknown_cell_value(templates, zones):
    questions, human = tiny_tables()
    with pytest.raises(ConfigError, match="unknown framing 'hero'"):
        cell_prompts(questions, human, zones, templates, None, "en", "hero")


def test_a_population_without_a_language_is_named_in_native_cells(templates):
    questions, human = tiny_tables()
    groups = build_populations(["Egypt", "Iran", "Turkey", "Morocco"], None)
    groups.at[1, "languages"] = []
    with pytest.raises(ConfigError, match=r"population 'Iran' has no prompt language"):
        cell_prompts(questions, human, groups, templates, None, "native", "persona")


def labelled_sha256(**files: Path) -> str:
    """The template hash written out here with hashlib: for each file in order, its label,
    a NUL byte, the file's bytes and a NUL byte (the labels and NULs keep the hash of a
    templates file from colliding with a templates + translations pair whose bytes would
    concatenate the same)."""
    digest = hashlib.sha256()
    for label, path in files.items():
        digest.update(label.encode("ascii") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def test_template_hash(tmp_path, templates_path, translations_path):
    both = template_hash(templates_path, translations_path)
    assert both == labelled_sha256(templates=templates_path, translations=translations_path)
    assert template_hash(templates_path) == labelled_sha256(templates=templates_path)
    assert template_hash(templates_path) != both
    # the bytes count, not the path: a copy elsewhere hashes the same, an edit does not
    copy = tmp_path / "elsewhere" / "templates.yaml"
    copy.parent.mkdir()
    copy.write_bytes(templates_path.read_bytes())
    assert template_hash(copy, translations_path) == both
    copy.write_bytes(templates_path.read_bytes() + b"\n# edited\n")
    assert template_hash(copy, translations_path) != both
    # moving bytes from one file to the other changes the hash (the files are delimited)
    first, second = tmp_path / "a.yaml", tmp_path / "b.tsv"
    first.write_bytes(b"x: 1\ny: 2\n")
    second.write_bytes(b"question_id\tlanguage\ttext\n")
    moved_first, moved_second = tmp_path / "c.yaml", tmp_path / "d.tsv"
    moved_first.write_bytes(b"x: 1\n")
    moved_second.write_bytes(b"y: 2\nquestion_id\tlanguage\ttext\n")
    assert template_hash(first, second) != template_hash(moved_first, moved_second)


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


def test_prompt_counts_on_real_workbook(benchmark_tables, templates, translations, config, zones):
    questions, human = benchmark_tables
    subset = config["benchmarks"]["menavalues"]["subset"]
    expected = expected_counts(human, subset["questions"], subset["populations"])
    for (language, framing, reasoning), count in expected.items():
        frame = cell_prompts(
            questions, human, zones, templates, translations, language, framing, reasoning,
            selected_populations=subset["populations"], question_ids=subset["questions"],
        )  # fmt: skip
        assert len(frame) == count, (language, framing, reasoning)
        assert not frame.duplicated(["question_id", "country", "prompt_language"]).any()
    if subset["questions"] == DEFAULT_QUESTIONS:
        # the default config: 51 (question, country) pairs, 23 native neutral prompts
        assert expected[("en", "persona", "zero")] == 51
        assert expected[("native", "neutral", "zero")] == 23
        assert expected[("en", "neutral", "zero")] == 10


def test_english_prompts_for_all_questions_and_countries(benchmark_tables, templates, zones):
    """Without a subset every pair with human data gets a prompt (9,051 in MENAValues)."""
    questions, human = benchmark_tables
    frame = cell_prompts(questions, human, zones, templates, None, "en", "observer")
    assert len(frame) == len(human[["question_id", "country"]].drop_duplicates())
    assert frame["prompt"].str.len().min() > 50


def test_rule_writes_prompt_table_with_hash(repo_root, benchmark_xlsx, tmp_path):
    """The Snakemake rule, run in a copy of the repository (never touches ../shared)."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("Snakefile", "workflow", "src", "config", "resources", "envs", "profiles"):
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(
                source, work / name, ignore=shutil.ignore_patterns("__pycache__", "models")
            )
        else:
            shutil.copy2(source, work / name)
    target = "results/menavalues/prompts/native/neutral/cot.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", target,
         "--config", f"benchmarks={{menavalues: {{source: {benchmark_xlsx}}}}}"],
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
    # computed with hashlib from the repository's own files (the run used copies of them)
    assert metadata["template_hash"] == labelled_sha256(
        templates=repo_root / "resources/prompts/templates.yaml",
        translations=repo_root / "resources/translations/default.tsv",
    )
    assert metadata["benchmark"]["plugin"] == "menavalues"
    assert metadata["benchmark"]["source_sha256"]["source"] == (
        "2718515b77fbc0ef78f3be205df82b58374d931efad5fe633f28bd0e7a8461a9"
    )
