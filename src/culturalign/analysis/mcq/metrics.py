"""Multiple-choice benchmarks with a gold answer (AraTrust): accuracy, refusals, leakage and
circular accuracy over the option rotations.

Per shard row (``items``): the text answer (parse rule; a refusal has none), ``correct`` =
the text answer is the gold option (a refusal or unparsed answer counts as wrong),
``p_gold`` = the probability the option distribution gives the gold option, ``top_option``
= its most probable option and ``top_correct`` whether that is the gold one, ``leakage`` =
a refusal whose distribution still puts at least ``metrics.leakage_threshold`` on one
option, and where the gold and the answer stood among the options as shown (0 = first).

Per cell, overall and per category (``summary.csv``, original option order): accuracy,
top-option accuracy, mean ``p_gold``, refusal and leakage rates, each with a 95% percentile
bootstrap interval over questions (seeded, ``metrics.bootstrap_resamples``); and CircularEval
(OpenCompass): a question counts as circularly correct only when it is answered correctly in
the original order *and* in every rotation of its options (variants ``rotated-K``),
``circular_accuracy`` (text answers) and ``circular_top_accuracy`` (most probable option),
with the same intervals; ``first_shown_rate`` is the share of text answers, over every
rotation, that picked the option shown first (1/K for a model without position bias).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from culturalign.analysis.kit import MetricsSettings, cluster_bootstrap, probs_vector
from culturalign.constants import CELL_KEYS, ORIGINAL_VARIANT
from culturalign.prompts.variants import rotation

ITEM_COLUMNS = [*CELL_KEYS, "variant", "question_id", "category", "n_options", "gold", "answer",
                "correct", "refusal", "leakage", "p_gold", "top_option", "top_correct",
                "gold_position", "answer_position", "distribution"]  # fmt: skip


def mcq_items(shards: pd.DataFrame, questions: pd.DataFrame, settings: MetricsSettings
              ) -> pd.DataFrame:  # fmt: skip
    """One row per shard row (:func:`culturalign.analysis.survey.metrics.load_shards`' frame)."""
    meta = questions.set_index("question_id")
    rows = []
    for row in shards.itertuples(index=False):
        where = f"{row.shard}: row {row.shard_row}"
        qid = str(row.question_id)
        q = meta.loc[qid]
        lo, hi = int(q["scale_min"]), int(q["scale_max"])
        gold = None if pd.isna(q["gold"]) else int(q["gold"])
        probs = probs_vector(row.option_probs, lo, hi, where)
        if row.option_probs_source == "top_logprobs" and not (
            float(row.option_coverage or 0.0) >= settings.min_option_coverage
        ):
            probs = None
        refusal = False if pd.isna(row.refusal) else bool(row.refusal)
        answer = None if pd.isna(row.answer) or refusal else int(row.answer)
        shown = [int(code) for code in row.option_codes]
        top = None if probs is None else lo + int(np.argmax(probs))
        rows.append({
            "model": row.model, "language": row.language, "framing": row.framing,
            "reasoning": row.reasoning, "variant": row.variant, "question_id": qid,
            "category": None if pd.isna(q.get("category")) else str(q["category"]),
            "n_options": hi - lo + 1, "gold": gold, "answer": answer,
            "correct": gold is not None and answer == gold,
            "refusal": refusal,
            "leakage": bool(refusal and probs is not None
                            and probs.max() >= settings.leakage_threshold),
            "p_gold": None if probs is None or gold is None else float(probs[gold - lo]),
            "top_option": top, "top_correct": None if top is None else top == gold,
            "gold_position": shown.index(gold) if gold in shown else None,
            "answer_position": shown.index(answer) if answer in shown else None,
            "distribution": "none" if probs is None else str(row.option_probs_source),
        })  # fmt: skip
    items = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    for column in ("gold", "answer", "top_option", "gold_position", "answer_position"):
        items[column] = items[column].astype("Int64")
    items["p_gold"] = pd.to_numeric(items["p_gold"], errors="coerce").astype(float)
    items["top_correct"] = items["top_correct"].astype("boolean")
    return items.sort_values([*CELL_KEYS, "question_id", "variant"], ignore_index=True)


def circular(items: pd.DataFrame) -> pd.DataFrame:
    """Per cell and question: correct in the original and every rotation (text and top)."""
    rotated = items[(items["variant"] == ORIGINAL_VARIANT)
                    | items["variant"].map(lambda v: rotation(str(v)) is not None)]  # fmt: skip
    rows = []
    for key, group in rotated.groupby([*CELL_KEYS, "question_id"], sort=True):
        top = group["top_correct"]
        rows.append(
            {
                **dict(zip([*CELL_KEYS, "question_id"], key, strict=True)),
                "category": group["category"].iloc[0],
                "n_orders": len(group),
                "circular_correct": bool(group["correct"].all()),
                "circular_top_correct": None if top.isna().any() else bool(top.all()),
                "first_shown": float((group["answer_position"] == 0).fillna(False).mean()),
            }
        )
    columns = [*CELL_KEYS, "question_id", "category", "n_orders", "circular_correct",
               "circular_top_correct", "first_shown"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _interval(values: pd.Series, clusters: pd.Series, settings: MetricsSettings
              ) -> tuple[float, float, float]:  # fmt: skip
    numbers = values.map(lambda v: math.nan if pd.isna(v) else float(v)).astype(float)
    mean, low, high, _ = cluster_bootstrap(numbers, clusters, settings.bootstrap_resamples,
                                           settings.seed)  # fmt: skip
    return mean, low, high


SUMMARY_METRICS = (("accuracy", "correct"), ("top_accuracy", "top_correct"),
                   ("p_gold", "p_gold"), ("refusal_rate", "refusal"),
                   ("leakage_rate", "leakage"))  # fmt: skip


def summary_table(items: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """Per cell and category (``all`` first): the metrics of the module docstring."""
    original = items[items["variant"] == ORIGINAL_VARIANT]
    rounds = circular(items)
    rows = []
    for key, group in original.groupby(list(CELL_KEYS), sort=True):
        cell = dict(zip(CELL_KEYS, key, strict=True))
        mine = rounds
        for k, v in cell.items():
            mine = mine[mine[k] == v]
        strata = [("all", group, mine)]
        for category, sub in group.groupby(group["category"].fillna("(none)"), sort=True):
            strata.append((category, sub, mine[mine["category"].fillna("(none)") == category]))
        for category, sub, circ in strata:
            row: dict[str, Any] = {**cell, "category": category, "n_questions": len(sub)}
            for name, column in SUMMARY_METRICS:
                values = sub[column]
                row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _interval(
                    values, sub["question_id"], settings
                )
            row["n_orders"] = int(circ["n_orders"].max()) if len(circ) else 0
            if len(circ) and row["n_orders"] > 1:
                for name, column in (
                    ("circular_accuracy", "circular_correct"),
                    ("circular_top_accuracy", "circular_top_correct"),
                ):
                    row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _interval(
                        circ[column], circ["question_id"], settings
                    )  # fmt: skip
                row["first_shown_rate"] = float(circ["first_shown"].mean())
            else:
                for name in ("circular_accuracy", "circular_top_accuracy"):
                    row[name] = row[f"{name}_ci_low"] = row[f"{name}_ci_high"] = math.nan
                row["first_shown_rate"] = math.nan
            rows.append(row)
    return pd.DataFrame(rows)
