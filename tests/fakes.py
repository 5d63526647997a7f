"""Synthetic benchmark tables and generation shards for tests of the analysis side.

Small API (importable from any test as ``from fakes import ...``):

* ``fake_benchmark(specs=DEFAULT_SPECS, countries=DEFAULT_COUNTRIES, seed=0, missing=())``
  -> ``(questions, human)`` frames shaped like results/benchmark/{questions,human}.parquet.
  ``specs``: ``(question_id, scale_min, scale_max, scale_type)`` tuples; ``missing``:
  ``(question_id, country)`` pairs left without human data.
* ``fake_zones(countries=DEFAULT_COUNTRIES)`` -> the populations table (country, iso3,
  languages, zone, iw_zone) for those countries (values as in resources/cultural_zones.csv).
* ``fake_shard(questions, human, zones, cell, seed=0, refusal_rate=0.15, countries=None)``
  -> one shard frame with the shard columns for ``cell`` (dict with model, language,
  framing, reasoning) plus its ``answer`` and ``refusal``: persona/observer rows per
  (question, country with data); neutral rows per question (``en``) or per (question,
  native language of a selected country).
* ``write_fake_shards(root, questions, human, zones, cells, seed=0, benchmark="menavalues",
  **kwargs)`` -> list of ``(cell, shard path, answers path)``; writes
  ``root/results/{benchmark}/generations/{model}/{language}/{framing}/{reasoning}.parquet``,
  the answers table of each beside it under ``answers/``, and the benchmark tables under
  ``root/results/{benchmark}/benchmark/``.
* ``all_cells(models=("fake-model",))`` -> the 12 cells of the default matrix per model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from culturalign.records.provenance import BenchmarkProvenance, EngineProvenance, ModelProvenance
from culturalign.records.shard import Cell, ShardMetadata

DEFAULT_SPECS: tuple[tuple[str, int, int, str], ...] = (
    ("WVS-Q1", 1, 4, "ordinal"),
    ("WVS-Q46", 1, 4, "ordinal"),
    ("WVS-Q164", 1, 10, "ordinal"),
    ("WVS-Q152", 1, 6, "nominal"),
    ("AOI-0300", 1, 21, "nominal"),
    ("AOI-0466", 1, 2, "ordinal"),
)
DEFAULT_COUNTRIES: tuple[str, ...] = ("Egypt", "Iran", "Turkey", "Morocco", "Lebanon", "Tunisia")

_ZONES = {
    "Egypt": ("EGY", "ar", "Nile Valley", "African-Islamic"),
    "Iran": ("IRN", "fa", "Iran", "African-Islamic"),
    "Iraq": ("IRQ", "ar", "Levant & Iraq", "African-Islamic"),
    "Jordan": ("JOR", "ar", "Levant & Iraq", "African-Islamic"),
    "Lebanon": ("LBN", "ar", "Levant & Iraq", "African-Islamic"),
    "Libya": ("LBY", "ar", "Maghreb", "African-Islamic"),
    "Morocco": ("MAR", "ar", "Maghreb", "African-Islamic"),
    "Turkey": ("TUR", "tr", "Turkey", "African-Islamic"),
    "Tunisia": ("TUN", "ar", "Maghreb", "African-Islamic"),
    "Algeria": ("DZA", "ar", "Maghreb", None),
    "Saudi Arabia": ("SAU", "ar", "Gulf", None),
    "Sudan": ("SDN", "ar", "Nile Valley", None),
    "Palestine": ("PSE", "ar", "Levant & Iraq", None),
    "Kuwait": ("KWT", "ar", "Gulf", None),
    "Mauritania": ("MRT", "ar", "Maghreb", None),
    "Qatar": ("QAT", "ar", "Gulf", None),
}

_PROBS_TYPE = pa.list_(pa.struct([("option", pa.int64()), ("prob", pa.float64())]))


def all_cells(models: Sequence[str] = ("fake-model",)) -> list[dict[str, str]]:
    """Every (model, language, framing, reasoning) cell of the default matrix."""
    return [
        {"model": m, "language": lang, "framing": f, "reasoning": r}
        for m in models
        for lang in ("en", "native")
        for f in ("neutral", "persona", "observer")
        for r in ("zero", "cot")
    ]


def fake_benchmark(
    specs: Iterable[tuple[str, int, int, str]] = DEFAULT_SPECS,
    countries: Sequence[str] = DEFAULT_COUNTRIES,
    seed: int = 0,
    missing: Iterable[tuple[str, str]] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Questions and human share tables (shares of a pair sum to 1, zeros included)."""
    rng = np.random.default_rng(seed)
    missing = set(missing)
    qrows, hrows = [], []
    for code, (qid, lo, hi, stype) in enumerate(specs, start=1):
        qrows.append({"question_id": qid, "code": code,
                      "source": "WVS-7" if qid.startswith("WVS") else "AOI-2022",
                      "text_en": f"Synthetic question {qid}?", "scale_min": lo, "scale_max": hi,
                      "scale_type": stype, "category": "C", "subcategory": "S",
                      "options": [{"code": o, "label": str(o), "text": None}
                                  for o in range(lo, hi + 1)],
                      "show_options": False, "gold": None})  # fmt: skip
        for country in countries:
            if (qid, country) in missing:
                continue
            shares = rng.dirichlet(np.full(hi - lo + 1, 0.7))
            shares[rng.random(len(shares)) < 0.2] = 0.0  # some options nobody chose
            if shares.sum() == 0:
                shares[0] = 1.0
            shares = shares / shares.sum()
            for option, share in zip(range(lo, hi + 1), shares, strict=True):
                hrows.append({"question_id": qid, "country": country, "option": option,
                              "share": float(share), "nonsubstantive_share": 0.0,
                              "published_mean": 0.0})  # fmt: skip
    questions = pd.DataFrame(qrows)
    questions["gold"] = questions["gold"].astype("Int64")
    return questions, pd.DataFrame(hrows)


def fake_zones(countries: Sequence[str] = DEFAULT_COUNTRIES) -> pd.DataFrame:
    """The populations table restricted to ``countries``."""
    rows = [{"country": c, "iso3": _ZONES[c][0], "languages": [_ZONES[c][1]],
             "zone": _ZONES[c][2], "iw_zone": _ZONES[c][3]} for c in countries]  # fmt: skip
    return pd.DataFrame(rows)


def fake_shard(
    questions: pd.DataFrame,
    human: pd.DataFrame,
    zones: pd.DataFrame,
    cell: Mapping[str, str],
    seed: int = 0,
    refusal_rate: float = 0.15,
    countries: Sequence[str] | None = None,
    variants: Sequence[str] = (),
) -> pd.DataFrame:
    """One synthetic shard for ``cell`` (random but seeded distributions and answers).

    ``variants`` add, in zero-shot cells, a row per variant after each original: the same
    answer, or another one with probability 0.3 (``reversed`` rows show the codes backwards).
    """
    salt = sum(ord(ch) for ch in "|".join(cell[k] for k in sorted(cell)))
    rng = np.random.default_rng([seed, salt])
    countries = list(countries) if countries is not None else list(zones["country"])
    native_of = {c: langs[0] for c, langs in zip(zones["country"], zones["languages"], strict=True)}
    have = set(zip(human["question_id"], human["country"], strict=True))
    rows = []
    for q in questions.itertuples(index=False):
        if cell["framing"] == "neutral":
            if cell["language"] == "en":
                targets = [(None, "en")]
            else:
                langs = sorted({native_of[c] for c in countries})
                targets = [(None, lang) for lang in langs]
        else:
            targets = [
                (c, "en" if cell["language"] == "en" else native_of[c])
                for c in countries
                if (q.question_id, c) in have
            ]
        for country, lang in targets:
            k = q.scale_max - q.scale_min + 1
            concentration = rng.choice([0.2, 1.0, 5.0])
            probs = rng.dirichlet(np.full(k, concentration))
            refusal = bool(rng.random() < refusal_rate)
            answer = None if refusal else int(q.scale_min + rng.choice(k, p=probs))
            response = "I cannot answer that." if refusal else f"My answer: {answer}"
            codes = list(range(int(q.scale_min), int(q.scale_max) + 1))
            original = {
                "question_id": q.question_id, "country": country, "variant": "original",
                "prompt_language": lang,
                "prompt": f"[{lang}] {q.text_en} ({country or 'neutral'})",
                "response": response, "answer": answer, "refusal": refusal,
                "option_probs": [{"option": int(q.scale_min + i), "prob": float(p)}
                                 for i, p in enumerate(probs)],
                "option_probs_source": "exact", "option_coverage": 1.0,
                "n_prompt_tokens": 20, "n_output_tokens": 4, "answer_cue": "Answer:",
                "label_kind": "number", "option_labels": [str(c) for c in codes],
                "option_codes": codes,
            }  # fmt: skip
            rows.append(original)
            for variant in variants if cell["reasoning"] == "zero" else ():
                moved = answer
                if answer is not None and rng.random() < 0.3:
                    moved = int(rng.integers(q.scale_min, q.scale_max + 1))
                shifted = np.roll(probs, 1) if moved != answer else probs
                shown = codes[::-1] if variant == "reversed" else codes
                label = None if moved is None else original["option_labels"][shown.index(moved)]
                rows.append({
                    **original, "variant": variant, "answer": moved,
                    "response": "I cannot answer that." if refusal else f"My answer: {label}",
                    "option_probs": [{"option": int(q.scale_min + i), "prob": float(p)}
                                     for i, p in enumerate(shifted)],
                    "option_codes": shown,
                })  # fmt: skip
    return pd.DataFrame(rows)


def shard_table(frame: pd.DataFrame) -> pa.Table:
    """A shard frame (without its answers) as an Arrow table with the shard's types."""
    schema = pa.schema([
        ("question_id", pa.string()), ("country", pa.string()), ("variant", pa.string()),
        ("prompt_language", pa.string()), ("prompt", pa.string()), ("response", pa.string()),
        ("option_probs", _PROBS_TYPE), ("option_probs_source", pa.string()),
        ("option_coverage", pa.float64()), ("n_prompt_tokens", pa.int64()),
        ("n_output_tokens", pa.int64()), ("answer_cue", pa.string()),
        ("label_kind", pa.string()), ("option_labels", pa.list_(pa.string())),
        ("option_codes", pa.list_(pa.int64())),
    ])  # fmt: skip
    columns = {name: frame[name].tolist() for name in schema.names}
    return pa.table(columns, schema=schema)


def answers_table(frame: pd.DataFrame) -> pa.Table:
    """The parse rule's table for a fake shard (its answer and refusal columns)."""
    schema = pa.schema([
        ("question_id", pa.string()), ("country", pa.string()), ("variant", pa.string()),
        ("prompt_language", pa.string()), ("answer", pa.int64()), ("refusal", pa.bool_()),
    ])  # fmt: skip
    columns = {name: frame[name].tolist() for name in schema.names}
    columns["answer"] = [None if pd.isna(a) else int(a) for a in frame["answer"]]
    return pa.table(columns, schema=schema)


def write_fake_shards(
    root: str | Path,
    questions: pd.DataFrame,
    human: pd.DataFrame,
    zones: pd.DataFrame,
    cells: Iterable[Mapping[str, str]],
    seed: int = 0,
    benchmark: str = "menavalues",
    **kwargs,
) -> list[tuple[dict[str, str], Path, Path]]:  # kwargs: those of fake_shard
    """Write benchmark tables, one shard and its answers per cell under ``root``; return
    ``(cell, shard path, answers path)``."""
    root = Path(root) / "results" / benchmark
    bench = root / "benchmark"
    bench.mkdir(parents=True, exist_ok=True)
    questions.to_parquet(bench / "questions.parquet", index=False)
    human.to_parquet(bench / "human.parquet", index=False)
    zones.to_parquet(bench / "populations.parquet", index=False)
    out = []
    for cell in cells:
        relative = Path(
            cell["model"], cell["language"], cell["framing"], f"{cell['reasoning']}.parquet"
        )
        path, answers = root / "generations" / relative, root / "answers" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        answers.parent.mkdir(parents=True, exist_ok=True)
        frame = fake_shard(questions, human, zones, cell, seed, **kwargs)
        table = shard_table(frame)
        record = fake_shard_metadata({"benchmark": benchmark, **cell})
        pq.write_table(table.replace_schema_metadata(metadata_bytes(record)), path)
        pq.write_table(answers_table(frame), answers)
        out.append((dict(cell), path, answers))
    return out


def fake_shard_metadata(cell: Mapping[str, str], **changes) -> ShardMetadata:
    """A shard's metadata record as the generate step writes it, for a fake shard."""
    record = ShardMetadata(
        cell=Cell.from_mapping(cell),
        model=ModelProvenance(
            key=cell["model"],
            path=f"resources/models/{cell['model']}",
            api_model=None,
            base_url=None,
            revision="fake-revision",
            dtype="float32",
            device="cpu",
            chat_template=None,
            chat_template_sha256=None,
        ),  # fmt: skip
        engine=EngineProvenance("fake", "0.0"),
        benchmark=BenchmarkProvenance(cell["benchmark"], cell["benchmark"]),
        template_hash="fake-template-hash",
        git_commit=None,
        packages={},
        run={"sampling": {"temperature": 0.0, "max_tokens": 8}, "n_prompts": 0},
    )
    return replace(record, **changes)


def metadata_bytes(record: ShardMetadata) -> dict[bytes, bytes]:
    """The record as Parquet key-value metadata (``culturalign.<key>``: JSON)."""
    return {
        f"culturalign.{key}".encode(): json.dumps(value, default=str).encode()
        for key, value in record.to_metadata().items()
    }
