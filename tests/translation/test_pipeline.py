"""Machine translation with back-translation checks (culturalign.translation): the option-list
and number checks, the plan (human translations win), the cache, the round-trip scores,
the merged table and how the prompts step uses it. The engine side runs end to end in
tests/test_translation_e2e.py; here the model is a stand-in (downstream logic only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sacrebleu

from culturalign.benchmarks import create_benchmark
from culturalign.benchmarks.base import labelled_options
from culturalign.errors import ConfigError
from culturalign.prompts.building import build_prompts
from culturalign.prompts.templates import load_templates
from culturalign.prompts.translation_tables import load_translations
from culturalign.settings import validate_config
from culturalign.translation.pipeline import (
    CachedGenerator,
    Thresholds,
    Translator,
    back_translate,
    check_translation,
    forward_translate,
    load_translation_prompts,
    lost_numbers,
    merged_table,
    parse_option_list,
    plan_translations,
    review,
    write_tsv,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOQA = FIXTURES / "globalopinions" / "goqa_fixture.csv"


@pytest.fixture(scope="module")
def prompts(repo_root):
    return load_translation_prompts(repo_root / "resources/prompts/translation.yaml")


@pytest.fixture(scope="module")
def goqa():
    config = validate_config({"benchmarks": {"globalopinions": {"source": str(GOQA)}},
                              "models": {}})  # fmt: skip
    plugin = create_benchmark("globalopinions", config["benchmarks"]["globalopinions"])
    tables = plugin.load({name: Path(p) for name, p in plugin.input_files().items()})
    questions, human, populations = tables
    return questions, plugin.prompt_pairs(questions, human), populations


# ------------------------------------------------------------------------------ checks


def test_a_numbered_option_list_parses_and_a_broken_one_is_rejected():
    assert parse_option_list("1. Ja\n2. Nein", 2) == (["Ja", "Nein"], None)
    # a preface line is ignored, "N)" is accepted
    assert parse_option_list("Hier ist die Liste:\n1) Ja\n2) Nein\n", 2)[0] == ["Ja", "Nein"]
    texts, reason = parse_option_list("1. Ja\n2. Nein", 3)
    assert texts is None and reason == "option list broken: numbers 1, 2 (expected 1-3)"
    assert "numbers 1, 3" in parse_option_list("1. a\n3. b", 2)[1]
    assert "numbers none" in parse_option_list("Ja, Nein", 2)[1]
    assert "contains '|'" in parse_option_list("1. a | b\n2. c", 2)[1]
    assert "lost its text" in parse_option_list("1.\n2. c", 2)[1]


def test_numbers_must_survive_and_english_never_passes_as_a_translation():
    source = 'where "1" means "very important" and "4" means "not at all important"'
    assert lost_numbers(source, "wobei 1 sehr wichtig und 4 gar nicht wichtig bedeutet") == []
    assert lost_numbers(source, "wobei ١ sehr wichtig und ٤ unwichtig bedeutet") == ["1", "4"]
    assert check_translation(source, "1 und vier", [], None)[1] == "numbers lost: 4"
    assert check_translation(source, f"  {source} ", [], None)[1] == (
        "translation identical to the source text"
    )
    assert check_translation(source, "", [], None)[1] == "empty translation"
    options, reason = check_translation("Q?", "F?", ["Yes", "No"], "1. Ja\n2. Nein")
    assert (options, reason) == (["Ja", "Nein"], None)
    assert check_translation("Q?", "F?", ["Yes", "No"], "Ja / Nein")[1].startswith(
        "option list broken"
    )
    # an option list left in English is not a translation either
    assert check_translation("Q?", "F?", ["Yes", "No"], "1. yes\n2. No")[1] == (
        "option list identical to the source (not translated)"
    )


def test_translation_prompts_are_data_per_language_pair(tmp_path, prompts):
    text = prompts.render("en", "de", "text", "How are you?")
    assert "from English into German" in text and text.endswith("How are you?")
    listing = prompts.render("de", "en", "options", "1. Ja\n2. Nein")
    assert "from German into English" in listing and listing.endswith("1. Ja\n2. Nein")
    path = tmp_path / "t.yaml"
    path.write_text(
        "default: {text: 'T {source} {target} {text}', options: 'O {source} {target} {options}'}\n"
        "pairs: {en-pt: {text: 'Traduza para o português: {text} ({source}, {target})'}}\n",
        encoding="utf-8",
    )
    own = load_translation_prompts(path)
    assert (
        own.render("en", "pt", "text", "Hi") == "Traduza para o português: Hi (English, Portuguese)"
    )
    assert own.render("en", "pt", "options", "1. a") == "O English Portuguese 1. a"
    path.write_text("default: {text: 'no placeholders', options: '{options}'}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key default\.text: must contain placeholder"):
        load_translation_prompts(path)
    with pytest.raises(ConfigError, match=r"translation prompts not found"):
        load_translation_prompts(tmp_path / "missing.yaml")


# -------------------------------------------------------------------------------- plan


def test_the_plan_lists_what_native_cells_need_and_human_rows_win(tmp_path, goqa):
    questions, pairs, populations = goqa
    chosen = ["GOQA-0001", "GOQA-0002"]
    human_path = tmp_path / "human.tsv"
    human_path.write_text(
        "question_id\tlanguage\ttext\toptions\tprovenance\n"
        "GOQA-0001\tde\tWie sehr vertrauen Sie Ihren Nachbarn?\tSehr | Etwas | Kaum | Gar nicht"
        "\thuman-validated\n",
        encoding="utf-8",
    )
    human = load_translations(human_path)
    countries = ["Germany", "Brazil"]
    plan = plan_translations(questions, pairs, populations, ["neutral", "persona"], human,
                             question_ids=chosen, selected_populations=countries)  # fmt: skip
    assert list(zip(plan["question_id"], plan["language"], strict=True)) == [
        ("GOQA-0001", "pt"), ("GOQA-0002", "de"), ("GOQA-0002", "pt"),
    ]  # fmt: skip
    assert set(plan["action"]) == {"translate"}
    first = plan.iloc[0]
    assert first["source_language"] == "en" and first["source_options"].count(" | ") == 3
    checked = plan_translations(questions, pairs, populations, ["neutral"], human,
                                question_ids=chosen, selected_populations=["Germany"],
                                check_human=True)  # fmt: skip
    row = checked.set_index("question_id").loc["GOQA-0001"]
    assert row["action"] == "check" and row["provenance"] == "human-validated"
    assert row["text"] == "Wie sehr vertrauen Sie Ihren Nachbarn?"
    # English-speaking populations need nothing translated
    assert plan_translations(questions, pairs, populations, ["persona"], None,
                             selected_populations=["Nigeria"]).empty  # fmt: skip


# -------------------------------------------------------------------------- translating


class EchoModel:
    """A stand-in model: answers each prompt from a dict of canned replies, counting calls."""

    def __init__(self, replies):
        self.replies = replies
        self.calls = 0
        self.prompts = []

    def __call__(self, prompts):
        self.calls += 1
        self.prompts.extend(prompts)
        return [self.replies(prompt) for prompt in prompts]


def canned(prompt: str) -> str:
    body = prompt.rsplit("\n\n", 1)[1]
    if "into German" in prompt:
        if body.startswith("1."):
            return "1. Ja\n2. Nein" if "Yes" in body else "1. Viel\n2. Wenig"
        return {"Do you vote? 1 means yes.": "Wählen Sie? 1 heißt ja.",
                "Is it 2 or 3?": "Ist es zwei oder drei?"}.get(body, "Gut?")  # fmt: skip
    if body.startswith("1."):
        return "1. Yes\n2. No"
    return {"Wählen Sie? 1 heißt ja.": "Do you vote? 1 means yes."}.get(body, "Good?")


def plan_rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"question_id": "Q1", "language": "de", "action": "translate",
             "source_language": "en", "source_text": "Do you vote? 1 means yes.",
             "source_options": "Yes | No", "text": "", "options": "", "provenance":
             "machine-translated"},
            {"question_id": "Q2", "language": "de", "action": "translate",
             "source_language": "en", "source_text": "Is it 2 or 3?", "source_options": "",
             "text": "", "options": "", "provenance": "machine-translated"},
            {"question_id": "Q3", "language": "de", "action": "check", "source_language": "en",
             "source_text": "Fine?", "source_options": "", "text": "Gut?", "options": "",
             "provenance": "team-written"},
        ]
    )  # fmt: skip


def translator(tmp_path, model, name="demo"):
    generator = CachedGenerator(tmp_path / f"{name}.sqlite", {"model": name}, lambda: model)
    return Translator(generator, name, "rev-1"), generator


def test_round_trip_rejects_broken_translations_and_the_cache_answers_reruns(tmp_path, prompts):
    model = EchoModel(canned)
    forward, generator = translator(tmp_path, model)
    frame = back_translate(forward_translate(plan_rows(), prompts, forward), prompts, forward)
    rows = frame.set_index("question_id")
    assert rows.loc["Q1", "status"] == "ok" and rows.loc["Q1", "options"] == "Ja | Nein"
    assert rows.loc["Q1", "back_text"] == "Do you vote? 1 means yes."
    assert rows.loc["Q1", "source_options"] == "1. Yes\n2. No"
    assert rows.loc["Q1", "back_options"] == "1. Yes\n2. No"
    assert rows.loc["Q1", "model"] == "demo" and rows.loc["Q1", "model_revision"] == "rev-1"
    assert rows.loc["Q2", "status"] == "rejected" and rows.loc["Q2", "reason"] == (
        "numbers lost: 2, 3"
    )
    assert rows.loc["Q2", "back_text"] == ""  # a rejected text is not back-translated
    assert rows.loc["Q3", "status"] == "ok" and rows.loc["Q3", "back_text"] == "Good?"
    assert rows.loc["Q3", "model"] == ""  # a human text names no translating model
    # 3 forward (two texts, one option list) + 3 back (two texts, one option list)
    assert generator.sent == 6 and model.calls == 2
    again = EchoModel(canned)
    forward, generator = translator(tmp_path, again)
    rerun = back_translate(forward_translate(plan_rows(), prompts, forward), prompts, forward)
    assert again.calls == 0 and generator.sent == 0 and generator.cached == 6
    assert not generator.started  # the engine is never started when everything is cached
    pd.testing.assert_frame_equal(rerun, frame)
    # another model (or revision) has its own cache keys
    other, generator = translator(tmp_path, EchoModel(canned), name="other")
    forward_translate(plan_rows(), prompts, other)
    assert generator.sent == 3


# ------------------------------------------------------------------------------ review


def test_review_scores_the_round_trip_with_sacrebleu_and_flags_low_scores(tmp_path, prompts):
    forward, _ = translator(tmp_path, EchoModel(canned))
    frame = back_translate(forward_translate(plan_rows(), prompts, forward), prompts, forward)
    reviewed = review(frame, Thresholds(chrf=40, bleu=10))
    rows = reviewed.set_index("question_id")
    # a perfect round trip scores 100 on both
    assert rows.loc["Q1", "chrf"] == pytest.approx(100.0)
    assert rows.loc["Q1", "bleu"] == pytest.approx(100.0)
    assert rows.loc["Q1", "options_chrf"] == pytest.approx(100.0)
    assert bool(rows.loc["Q1", "roundtrip_passed"]) and not bool(rows.loc["Q1", "flagged"])
    # "Fine?" -> "Gut?" -> "Good?": recomputed here from the stored texts
    q3 = rows.loc["Q3"]
    source, back = q3["source_text"], q3["back_text"]
    assert q3["chrf"] == pytest.approx(sacrebleu.sentence_chrf(back, [source]).score)
    assert q3["bleu"] == pytest.approx(sacrebleu.sentence_bleu(back, [source]).score)
    assert q3["chrf"] < 40 and bool(q3["flagged"]) and "chrF" in q3["reason"]
    assert rows.loc["Q2", "reason"] == "rejected: numbers lost: 2, 3"
    assert pd.isna(rows.loc["Q2", "chrf"])
    # flagged first: rejected, then the lowest chrF
    assert reviewed["question_id"].tolist() == ["Q2", "Q3", "Q1"]
    lenient = review(frame, Thresholds(chrf=0, bleu=0)).set_index("question_id")
    assert bool(lenient.loc["Q3", "roundtrip_passed"])


def test_merged_table_keeps_human_rows_and_marks_rejected_ones(tmp_path, prompts, repo_root):
    forward, _ = translator(tmp_path, EchoModel(canned))
    frame = back_translate(forward_translate(plan_rows(), prompts, forward), prompts, forward)
    human_path = tmp_path / "human.tsv"
    human_path.write_text("question_id\tlanguage\ttext\tprovenance\nQ3\tde\tGut?\tteam-written\n",
                          encoding="utf-8")  # fmt: skip
    table = merged_table(load_translations(human_path), review(frame, Thresholds()))
    path = tmp_path / "table.tsv"
    write_tsv(table, path)
    loaded = load_translations(path)  # the merged table is a valid translation table
    assert loaded.entry("Q3", "de").provenance == "team-written"
    assert loaded.entry("Q3", "de").roundtrip_passed is False  # checked: "Good?" vs "Fine?"
    assert loaded.entry("Q1", "de").provenance == "machine-translated"
    assert loaded.entry("Q1", "de").options == ("Ja", "Nein")
    assert loaded.entry("Q1", "de").roundtrip_passed is True
    assert loaded.entry("Q2", "de").status == "rejected"


# ------------------------------------------------------------------------------ prompts


def test_native_prompts_label_their_text_and_never_ask_rejected_ones(tmp_path, repo_root):
    templates = load_templates(repo_root / "resources/prompts/templates.yaml")
    questions = pd.DataFrame(
        [
            {"question_id": qid, "source": "S", "text_en": f"{qid} in English?", "scale_min": 1,
             "scale_max": 2, "scale_type": "nominal", "category": "c", "subcategory": "s",
             "options": labelled_options([1, 2], ["A", "B"], ["Yes", "No"]),
             "show_options": True, "gold": None}
            for qid in ("Q1", "Q2", "Q3")
        ]
    )  # fmt: skip
    pairs = pd.DataFrame({"question_id": ["Q1", "Q2", "Q3"], "country": ["Germany"] * 3})
    populations = pd.DataFrame({"country": ["Germany"], "iso3": ["DEU"], "languages": [["de"]]})
    path = tmp_path / "table.tsv"
    path.write_text(
        "question_id\tlanguage\ttext\toptions\tprovenance\tstatus\troundtrip_passed\tchrf\n"
        "Q1\tde\tQ1 auf Deutsch?\tJa | Nein\tmachine-translated\tok\ttrue\t71.5\n"
        "Q2\tde\tQ2 kaputt\t\tmachine-translated\trejected\tfalse\t\n"
        "Q3\tde\tQ3 auf Deutsch?\tJa | Nein\thuman-validated\tok\t\t\n",
        encoding="utf-8",
    )
    frame = build_prompts(questions, pairs, populations, templates, load_translations(path),
                          "native", "persona", "zero")  # fmt: skip
    assert frame["question_id"].tolist() == ["Q1", "Q3"]  # Q2 is left out, not asked in English
    assert not frame["prompt"].str.contains("in English").any()
    assert frame["text_provenance"].tolist() == ["machine-translated", "human-validated"]
    assert frame["roundtrip_passed"].tolist()[0] is True and pd.isna(frame["roundtrip_passed"][1])
    assert frame.attrs["skipped_translations"] == [["Q2", "de"]]
    assert "Stellen Sie sich vor" in frame.loc[0, "prompt"] and "(A) Ja" in frame.loc[0, "prompt"]
    english = build_prompts(questions, pairs, populations, templates, None, "en", "persona",
                            "zero")  # fmt: skip
    assert set(english["text_provenance"]) == {"original"}


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("provenance", "machine", r"line 2, column provenance: 'machine' is not one of"),
        ("status", "broken", r"line 2, column status: 'broken' is not one of ok, rejected"),
        ("roundtrip_passed", "yes", r"line 2, column roundtrip_passed: 'yes' is not one of"),
        ("chrf", "high", r"line 2, column chrf: 'high' is not a number"),
    ],
)
def test_bad_provenance_columns_name_file_line_and_column(tmp_path, header, row, message):
    path = tmp_path / "t.tsv"
    path.write_text(f"question_id\tlanguage\ttext\t{header}\nQ1\tde\tText\t{row}\n", "utf-8")
    with pytest.raises(ConfigError, match=rf"{path}: {message}"):
        load_translations(path)


def test_translation_config_names_unknown_models():
    from culturalign.settings import translation_models

    config = validate_config({"benchmarks": {"globalopinions": {"source": str(GOQA)}},
                              "models": {"a": {"path": "x"}}})  # fmt: skip
    assert translation_models(config) == ()
    config["translation"]["model"] = "a"
    assert translation_models(config) == ("a",)
    config["translation"]["back_model"] = "b"
    with pytest.raises(ConfigError, match=r"translation\.back_model: unknown model key\(s\) b"):
        translation_models(config)
    assert config["translation"]["thresholds"] == {"chrf": 40, "bleu": 10, "similarity": 0.8}
