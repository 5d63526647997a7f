"""Item-level alignment metrics, cross-condition consistency and bootstrap summaries.

Definitions (``range = scale_max - scale_min``; options are the integers
``scale_min..scale_max``; ``h`` is the human share vector of one (question, country) and
``p`` the model's ``option_probs`` over the same options):

* ``human_mean = sum_o o * h(o)``.
* ``expected = sum_o o * p(o)`` (the probability-weighted answer; computed for every row
  with ``option_probs``, refusals included).
* NVAS. ``distance`` scoring: ``100 * (1 - |answer - human_mean| / range)``.
  ``overlap`` scoring: ``100 * sum_o min(p(o), h(o)) = 100 * (1 - TV(p, h))``, the share of
  probability mass the model and the people have in common (100 = identical distributions,
  0 = disjoint support). Metrics mode ``paper`` scores every question by distance, as the
  MENAValues authors did; mode ``default`` scores ordinal questions by distance and nominal
  questions by overlap (option codes of a nominal question have no order, so a distance
  between codes is meaningless). NVAS is null when the text gave no answer (refusal or
  unparsed answer) in both scorings, so that a cell's NVAS always describes the same answered
  items; the refusal rate is reported beside it. ``overlap`` is also kept for every row with
  ``option_probs`` (refusals included) as an extra column.
* KLD = ``KL(h || p') = sum_{o: h(o) > 0} h(o) * ln(h(o) / p'(o))`` in nats, with the model
  distribution smoothed ``p'(o) = (p(o) + eps) / (1 + K * eps)`` (``K`` options,
  ``eps = metrics.kld_smoothing``) so that an option people chose but the model excluded
  costs a large but finite amount. Computed for refusals too (the distribution exists).
* Leakage: ``refusal and max_o p(o) >= metrics.leakage_threshold`` (inclusive).
* Peer measures (null where the row has no distribution), so results compare with the
  published tools:
  ``jsd_similarity = 1 - JS(p, h)``, the Jensen-Shannon *distance* with base-2 logarithms
  (``scipy.spatial.distance.jensenshannon(p, h, base=2)``, in [0, 1]), as GlobalOpinionQA
  (Durmus et al. 2023) scores similarity; every question.
  ``representativeness = 1 - W1(p, h) / (K - 1)``, OpinionQA's measure (Santurkar et al.
  2023): the Wasserstein-1 distance between the distributions over the option positions
  ``1..K`` divided by its largest possible value; ordinal questions only (null for nominal).
  ``emd = W1`` between the distributions over the answers rescaled to [0, 1]
  (``(o - scale_min) / range``), as WorldValuesBench (Zhao et al. 2024) reports it (lower is
  closer); ordinal questions only. On integer scales ``emd = 1 - representativeness``
  exactly: both are kept so tables read like each source's.
* Distributions from a chat API's top logprobs (``option_probs_source: top_logprobs``) are
  used only where ``option_coverage >= metrics.min_option_coverage``; below it the row keeps
  its text answer (NVAS of ordinal questions, refusal) but no distribution (``expected``,
  KLD, overlap, leakage and the nominal NVAS are null; ``distribution`` says
  ``low_coverage``). Exact distributions always count.
* Consistency (CLCS en vs native, FCS persona vs observer, SPD neutral vs persona):
  ``100 * (1 - |a - b| / range)`` between the two conditions' text answers; under mode
  ``default`` nominal questions use ``100 * sum_o min(p_a(o), p_b(o))`` instead (same
  reasoning as NVAS). Null when either condition gave no answer.

A neutral answer has no country: the English one is compared with every selected country
that has human data, a native one with every selected country whose native language
(populations table, first of ``languages``) it was asked in.

The answer and refusal come from the parse rule's answers table of each shard. Items carry
the prompt ``variant``; summaries, consistency and findings use the original wording only
(robustness variants have their own tables).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from culturalign.analysis.kit import (
    MODES,
    MetricsError,
    MetricsSettings,
    cluster_bootstrap,
    human_vectors,
    is_missing,
    original_only,
    probs_vector,
)
from culturalign.benchmarks.populations import native_languages
from culturalign.constants import CELL_KEYS
from culturalign.io.tables import read_table

LOG = logging.getLogger("culturalign.analysis.survey.metrics")

ITEM_KEYS = (*CELL_KEYS, "variant", "question_id", "country")
PEER_METRICS = ("jsd_similarity", "representativeness", "emd")


# --------------------------------------------------------------------------- scalar metrics


def human_mean(shares: Sequence[float], scale_min: int) -> float:
    """Mean option of a share vector over ``scale_min..``."""
    shares = np.asarray(shares, dtype=float)
    options = np.arange(scale_min, scale_min + len(shares))
    return float(np.dot(options, shares))


def expected_answer(probs: Sequence[float], scale_min: int) -> float:
    """Probability-weighted answer of a model distribution over ``scale_min..``."""
    return human_mean(probs, scale_min)


def distance_score(a: float, b: float, scale_min: int, scale_max: int) -> float:
    """``100 * (1 - |a - b| / range)``: 100 = same point, 0 = opposite ends of the scale."""
    return 100.0 * (1.0 - abs(float(a) - float(b)) / (scale_max - scale_min))


def overlap_score(p: Sequence[float], q: Sequence[float]) -> float:
    """``100 * sum_o min(p(o), q(o))`` = 100 * (1 - total variation distance)."""
    return 100.0 * float(np.minimum(np.asarray(p, float), np.asarray(q, float)).sum())


def smooth(probs: Sequence[float], eps: float) -> np.ndarray:
    """Additive smoothing ``(p + eps) / (1 + K eps)`` (still sums to 1 when ``p`` does)."""
    probs = np.asarray(probs, dtype=float)
    return (probs + eps) / (1.0 + len(probs) * eps)


def kl_divergence(human: Sequence[float], model: Sequence[float], eps: float) -> float:
    """``KL(human || smooth(model))`` in nats over the options people chose."""
    human = np.asarray(human, dtype=float)
    model = smooth(model, eps)
    mask = human > 0
    return float(np.sum(human[mask] * np.log(human[mask] / model[mask])))


def jsd_similarity(p: Sequence[float], q: Sequence[float]) -> float:
    """``1 - JS distance(p, q)`` with base-2 logs (GlobalOpinionQA's similarity, in [0, 1])."""
    distance = float(jensenshannon(np.asarray(p, float), np.asarray(q, float), base=2))
    return 1.0 - min(1.0, max(0.0, distance))


def wasserstein_positions(p: Sequence[float], q: Sequence[float]) -> float:
    """Wasserstein-1 distance between two distributions over the positions ``0..K-1``."""
    positions = np.arange(len(p), dtype=float)
    return float(wasserstein_distance(positions, positions, np.asarray(p, float),
                                      np.asarray(q, float)))  # fmt: skip


def representativeness(p: Sequence[float], q: Sequence[float]) -> float:
    """OpinionQA's ``1 - W1 / (K - 1)`` over ordinal option positions."""
    return 1.0 - wasserstein_positions(p, q) / (len(p) - 1)


def earth_movers_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """WorldValuesBench's EMD: W1 over the answers rescaled to [0, 1]."""
    return wasserstein_positions(p, q) / (len(p) - 1)


def peer_measures(probs: np.ndarray, human: np.ndarray, scale_type: str) -> dict[str, float | None]:
    """The three peer measures of one model distribution against one human one."""
    ordinal = scale_type == "ordinal" and len(probs) > 1
    return {
        "jsd_similarity": jsd_similarity(probs, human),
        "representativeness": representativeness(probs, human) if ordinal else None,
        "emd": earth_movers_distance(probs, human) if ordinal else None,
    }


def is_leakage(refusal: bool, probs: Sequence[float] | None, threshold: float) -> bool:
    """A refusal whose option distribution is confident (``max p >= threshold``)."""
    if not refusal or probs is None or len(probs) == 0:
        return False
    return bool(np.max(np.asarray(probs, dtype=float)) >= threshold)


def scoring(scale_type: str, mode: str) -> str:
    """``distance`` or ``overlap``: how a question is scored under a metrics mode."""
    if mode not in MODES:
        raise MetricsError(f"metrics mode must be one of {MODES}, got {mode!r}")
    return "overlap" if (mode == "default" and scale_type == "nominal") else "distance"


def nvas(
    answer: int | None,
    probs: Sequence[float] | None,
    human: Sequence[float],
    scale_min: int,
    scale_max: int,
    scale_type: str,
    mode: str,
) -> float | None:
    """NVAS of one answer (None when the text gave no answer); see the module docstring."""
    if answer is None:
        return None
    if scoring(scale_type, mode) == "overlap":
        return None if probs is None else overlap_score(probs, human)
    return distance_score(answer, human_mean(human, scale_min), scale_min, scale_max)


def consistency_score(
    answer_a: int | None,
    answer_b: int | None,
    probs_a: Sequence[float] | None,
    probs_b: Sequence[float] | None,
    scale_min: int,
    scale_max: int,
    scale_type: str,
    mode: str,
) -> float | None:
    """CLCS/FCS/SPD between two conditions (None when either gave no answer)."""
    if answer_a is None or answer_b is None:
        return None
    if scoring(scale_type, mode) == "overlap":
        if probs_a is None or probs_b is None:
            return None
        return overlap_score(probs_a, probs_b)
    return distance_score(answer_a, answer_b, scale_min, scale_max)


# --------------------------------------------------------------------------- table helpers


def _targets(row: Any, countries: Sequence[str], native_of: Mapping[str, str]) -> list[str]:
    """Countries a shard row is compared with."""
    if not is_missing(row.country):
        return [str(row.country)]
    if row.prompt_language == "en":
        return list(countries)
    return [c for c in countries if native_of.get(c) == row.prompt_language]


def item_table(
    shards: pd.DataFrame,
    questions: pd.DataFrame,
    human: pd.DataFrame,
    populations: pd.DataFrame,
    settings: MetricsSettings,
    countries: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (model, language, framing, reasoning, variant, question_id, country).

    ``countries``: the selected populations (``None`` = every one in ``populations``).
    Neutral rows are expanded to the selected populations that have human data for the
    question.
    The returned frame carries a private ``_probs`` column (the option vector) used by
    :func:`consistency_table`; drop it before writing.
    """
    scales = {
        str(q.question_id): (int(q.scale_min), int(q.scale_max), str(q.scale_type))
        for q in questions.itertuples(index=False)
    }
    humans = human_vectors(human, questions)
    native_of = native_languages(populations)
    selected = list(countries) if countries is not None else list(populations["country"])
    seen: set[tuple] = set()
    records = []
    for row in shards.itertuples(index=False):
        where = f"{row.shard}: row {row.shard_row}"
        qid = str(row.question_id)
        if qid not in scales:
            raise MetricsError(f"{where}: question_id {qid!r} is not in questions.parquet")
        lo, hi, stype = scales[qid]
        probs = probs_vector(row.option_probs, lo, hi, where)
        distribution = "none" if probs is None else str(row.option_probs_source)
        if distribution == "top_logprobs" and not (
            float(row.option_coverage or 0.0) >= settings.min_option_coverage
        ):
            probs, distribution = None, "low_coverage"
        refusal = bool(row.refusal) if not is_missing(row.refusal) else False
        answer = None if is_missing(row.answer) else int(row.answer)
        if answer is not None and not lo <= answer <= hi:
            raise MetricsError(f"{where}: answer {answer} outside the scale {lo}..{hi}")
        if refusal:
            answer = None
        expected = None if probs is None else expected_answer(probs, lo)
        leak = is_leakage(refusal, probs, settings.leakage_threshold)
        shown = [int(code) for code in row.option_codes]
        position = shown.index(answer) if answer in shown else None
        neutral_row = is_missing(row.country)
        for country in _targets(row, selected, native_of):
            hv = humans.get((qid, country))
            if neutral_row and hv is None:
                continue  # neutral answers are compared only with countries that have data
            key = (row.model, row.language, row.framing, row.reasoning, row.variant, qid, country)
            if key in seen:
                raise MetricsError(f"{where}: duplicate item {key}")
            seen.add(key)
            record = {
                "model": row.model, "language": row.language, "framing": row.framing,
                "reasoning": row.reasoning, "variant": row.variant, "question_id": qid,
                "country": country,
                "prompt_language": row.prompt_language, "scale_type": stype,
                "scale_min": lo, "scale_max": hi, "nvas_mode": scoring(stype, settings.mode),
                "answer": answer, "expected": expected, "human_mean": None, "nvas": None,
                "overlap": None, "kld": None, "jsd_similarity": None,
                "representativeness": None, "emd": None, "refusal": refusal, "leakage": leak,
                "max_prob": None if probs is None else float(probs.max()),
                "distribution": distribution, "shown_position": position,
                "n_options": len(shown), "_probs": probs,
                "text_provenance": getattr(row, "text_provenance", None),
                "roundtrip_passed": _optional_flag(getattr(row, "roundtrip_passed", None)),
            }  # fmt: skip
            if hv is not None:
                record["human_mean"] = human_mean(hv, lo)
                record["nvas"] = nvas(answer, probs, hv, lo, hi, stype, settings.mode)
                if probs is not None:
                    record["overlap"] = overlap_score(probs, hv)
                    record["kld"] = kl_divergence(hv, probs, settings.kld_smoothing)
                    record.update(peer_measures(probs, hv, stype))
            records.append(record)
    items = pd.DataFrame.from_records(records, columns=_ITEM_COLUMNS)
    return _typed_items(items)


_ITEM_COLUMNS = [
    "model", "language", "framing", "reasoning", "variant", "question_id", "country",
    "prompt_language",
    "scale_type", "scale_min", "scale_max", "nvas_mode", "answer", "expected", "human_mean",
    "nvas", "overlap", "kld", "jsd_similarity", "representativeness", "emd", "refusal",
    "leakage", "max_prob", "distribution", "shown_position", "n_options", "text_provenance",
    "roundtrip_passed", "_probs",
]  # fmt: skip


def _optional_flag(value: Any) -> bool | None:
    return None if is_missing(value) else bool(value)


def _typed_items(items: pd.DataFrame) -> pd.DataFrame:
    items["answer"] = items["answer"].astype("Int64")
    items["shown_position"] = items["shown_position"].astype("Int64")
    for column in ("expected", "human_mean", "nvas", "overlap", "kld", *PEER_METRICS,
                   "max_prob"):  # fmt: skip
        items[column] = pd.to_numeric(items[column], errors="coerce").astype(float)
    items["roundtrip_passed"] = items["roundtrip_passed"].astype(pd.BooleanDtype())
    items["text_provenance"] = (
        items["text_provenance"].astype(object).where(items["text_provenance"].notna(), None)
    )
    items["refusal"] = items["refusal"].astype(bool)
    items["leakage"] = items["leakage"].astype(bool)
    return items.sort_values(list(ITEM_KEYS), ignore_index=True)


def public_items(items: pd.DataFrame) -> pd.DataFrame:
    """The items table without private columns (what items.parquet holds)."""
    return items.drop(columns=[c for c in items.columns if c.startswith("_")])


def item_distributions(items: pd.DataFrame) -> pd.DataFrame:
    """The option distribution of every item row, row for row with items.parquet
    (``metrics/item_distributions.parquet``: the item keys and ``option_probs``, the model's
    probabilities in code order, null where it gave none), so that later rules read the
    items instead of joining every shard again."""
    frame = items[list(ITEM_KEYS)].copy()
    frame["option_probs"] = [
        None if probs is None else [float(p) for p in probs] for probs in items["_probs"]
    ]
    return frame


def read_items(items_path: str | Path, distributions_path: str | Path) -> pd.DataFrame:
    """items.parquet with its private ``_probs`` column restored from the distributions
    table: the frame :func:`item_table` returned when the metrics were computed."""
    items = read_table(items_path)
    distributions = read_table(distributions_path)
    keys = list(ITEM_KEYS)
    if len(items) != len(distributions) or not items[keys].equals(distributions[keys]):
        raise MetricsError(
            f"{distributions_path}: its rows are not those of {items_path}; delete both to "
            "recompute them"
        )
    items["_probs"] = [
        None if probs is None else np.asarray(probs, dtype=float)
        for probs in distributions["option_probs"]
    ]
    return items


# --------------------------------------------------------------------------- consistency

CONSISTENCY_COLUMNS = [
    "model", "language", "framing", "reasoning", "question_id", "country", "scale_type",
    "score_mode", "clcs", "fcs", "spd",
]  # fmt: skip


def _score_pairs(left: pd.DataFrame, right: pd.DataFrame, on: list[str], mode: str) -> pd.DataFrame:
    merged = left.merge(right, on=on, suffixes=("_a", "_b"))
    scores = [
        consistency_score(
            None if pd.isna(r.answer_a) else int(r.answer_a),
            None if pd.isna(r.answer_b) else int(r.answer_b),
            r.probs_a, r.probs_b,
            int(r.scale_min), int(r.scale_max), str(r.scale_type), mode,
        )
        for r in merged.itertuples(index=False)
    ]  # fmt: skip
    merged["score"] = pd.Series(scores, index=merged.index, dtype=float)
    return merged


def consistency_table(items: pd.DataFrame, mode: str) -> pd.DataFrame:
    """CLCS, FCS and SPD per item, in one table.

    Layout: rows with ``language`` null and ``framing`` set hold CLCS (en vs native in that
    framing); rows with ``framing`` null and ``language`` set hold FCS (persona vs observer)
    and SPD (neutral vs persona) in that language. Other score columns are null.
    """
    keep = [*ITEM_KEYS, "scale_type", "scale_min", "scale_max", "answer", "_probs"]
    base = original_only(items)[keep].drop(columns="variant").rename(columns={"_probs": "probs"})
    meta = ["question_id", "country", "scale_type", "scale_min", "scale_max"]
    frames = []
    # CLCS: en vs native within (model, framing, reasoning)
    on = ["model", "framing", "reasoning", *meta]
    en = base[base["language"] == "en"].drop(columns="language")
    native = base[base["language"] == "native"].drop(columns="language")
    clcs = _score_pairs(en, native, on, mode)
    frames.append(clcs[on].assign(language=None, clcs=clcs["score"]))
    # FCS and SPD within (model, language, reasoning)
    on = ["model", "language", "reasoning", *meta]
    by_framing = {f: base[base["framing"] == f].drop(columns="framing") for f in
                  ("neutral", "persona", "observer")}  # fmt: skip
    fcs = _score_pairs(by_framing["persona"], by_framing["observer"], on, mode)
    spd = _score_pairs(by_framing["neutral"], by_framing["persona"], on, mode)
    framing_rows = pd.merge(
        fcs[on].assign(fcs=fcs["score"]), spd[on].assign(spd=spd["score"]), on=on, how="outer"
    )
    frames.append(framing_rows.assign(framing=None))
    nonempty = [f for f in frames if len(f)]
    out = pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame()
    if out.empty:  # e.g. one language and one framing: nothing to compare
        out = pd.DataFrame(columns=CONSISTENCY_COLUMNS)
    for column in ("clcs", "fcs", "spd"):
        if column not in out:
            out[column] = np.nan
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    out["score_mode"] = [
        scoring(str(t), mode) for t in out["scale_type"]
    ] if len(out) else []  # fmt: skip
    out = out[CONSISTENCY_COLUMNS]
    for column in ("language", "framing"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    order = ["model", "reasoning", "question_id", "country"]
    return out.sort_values(order, ignore_index=True, key=lambda s: s.astype(str))


# --------------------------------------------------------------------------- bootstrap


SUMMARY_METRICS = ("nvas", "overlap", "kld", "jsd_similarity", "representativeness", "emd",
                   "refusal", "leakage")  # fmt: skip


def summary_table(items: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """Per cell: mean and 95% question-bootstrap interval of each metric, rates, counts.

    Columns ``<metric>_mean``, ``<metric>_ci_low``, ``<metric>_ci_high``, ``<metric>_n``
    (non-null rows) for nvas, overlap, kld and the peer measures; ``refusal_rate`` and
    ``leakage_rate`` with the
    same interval columns; ``n`` (item rows) and ``n_questions``.
    """
    rows = []
    for cell, group in original_only(items).groupby(list(CELL_KEYS), sort=True):
        row: dict[str, Any] = dict(zip(CELL_KEYS, cell, strict=True))
        row["n"] = len(group)
        row["n_questions"] = group["question_id"].nunique()
        if "distribution" in group:
            row["n_low_coverage"] = int((group["distribution"] == "low_coverage").sum())
        for metric in SUMMARY_METRICS:
            values = group[metric].astype(float)
            mean, low, high, _ = cluster_bootstrap(
                values, group["question_id"], settings.bootstrap_resamples, settings.seed
            )
            name = f"{metric}_rate" if metric in ("refusal", "leakage") else metric
            prefix = name if name.endswith("_rate") else f"{name}_mean"
            row[prefix] = mean
            base = name
            row[f"{base}_ci_low"], row[f"{base}_ci_high"] = low, high
            if metric not in ("refusal", "leakage"):
                row[f"{base}_n"] = int(values.notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


DURMUS_CONDITIONS = (("en", "neutral", "default"), ("en", "persona", "cross-national"),
                     ("native", "persona", "linguistic"))  # fmt: skip
"""GlobalOpinionQA's prompting conditions (Durmus et al. 2023) as culturalign cells:
(language, framing, their name)."""
COUNTRY_SIMILARITY_COLUMNS = (*CELL_KEYS, "country", "similarity", "ci_low", "ci_high",
                              "n_questions", "rank")  # fmt: skip


def country_similarity(items: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """GlobalOpinionQA's measure (Durmus et al. 2023): per cell and country, the mean over the
    country's questions of ``1 - JS distance`` (base 2) between the model's option
    distribution and the country's, with a 95% bootstrap interval over questions; ``rank``
    1 = the country the model is most similar to in that cell. Their default, cross-national
    and linguistic prompting are the en/neutral, en/persona and native/persona cells."""
    rows = []
    scored = original_only(items)
    scored = scored[scored["country"].notna() & scored["jsd_similarity"].notna()]
    for key, group in scored.groupby([*CELL_KEYS, "country"], sort=True):
        mean, low, high, n = cluster_bootstrap(
            group["jsd_similarity"].astype(float), group["question_id"],
            settings.bootstrap_resamples, settings.seed,
        )  # fmt: skip
        rows.append({**dict(zip((*CELL_KEYS, "country"), key, strict=True)), "similarity": mean,
                     "ci_low": low, "ci_high": high, "n_questions": n})  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(COUNTRY_SIMILARITY_COLUMNS[:-1]))
    frame["rank"] = (
        frame.groupby(list(CELL_KEYS))["similarity"].rank(ascending=False, method="min")
        .astype("Int64")
    )  # fmt: skip
    return frame.sort_values([*CELL_KEYS, "rank", "country"], ignore_index=True)


def consistency_summary(consistency: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """Mean and 95% question-bootstrap interval of CLCS (per framing), FCS and SPD (per
    language), per model and reasoning. Long format: one row per (metric, cell)."""
    rows = []
    specs = (("clcs", "framing"), ("fcs", "language"), ("spd", "language"))
    for metric, by in specs:
        subset = consistency[consistency[metric].notna()]
        for key, group in subset.groupby(["model", by, "reasoning"], sort=True):
            mean, low, high, k = cluster_bootstrap(
                group[metric], group["question_id"], settings.bootstrap_resamples, settings.seed
            )
            row = {"metric": metric, "model": key[0], "language": None, "framing": None,
                   "reasoning": key[2], "mean": mean, "ci_low": low, "ci_high": high,
                   "n": len(group), "n_questions": k}  # fmt: skip
            row[by] = key[1]
            rows.append(row)
    columns = ["metric", "model", "language", "framing", "reasoning", "mean", "ci_low",
               "ci_high", "n", "n_questions"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- leakage examples


def leakage_examples(
    shards: pd.DataFrame,
    questions: pd.DataFrame,
    threshold: float,
    top: int = 20,
    min_coverage: float = 0.9,
) -> pd.DataFrame:
    """The most confident leaked refusals (one per shard row), response beside distribution
    (top-logprob distributions below ``min_coverage`` left out)."""
    qinfo = questions.set_index("question_id")
    rows = []
    for row in original_only(shards).itertuples(index=False):
        if is_missing(row.refusal) or not bool(row.refusal):
            continue
        if row.option_probs_source == "top_logprobs" and not (
            float(row.option_coverage or 0.0) >= min_coverage
        ):
            continue
        q = qinfo.loc[str(row.question_id)]
        where = f"{row.shard}: row {row.shard_row}"
        probs = probs_vector(row.option_probs, int(q["scale_min"]), int(q["scale_max"]), where)
        if not is_leakage(True, probs, threshold):
            continue
        lo = int(q["scale_min"])
        rows.append({
            "model": row.model, "language": row.language, "framing": row.framing,
            "reasoning": row.reasoning, "question_id": str(row.question_id),
            "country": None if is_missing(row.country) else str(row.country),
            "prompt_language": row.prompt_language, "response": row.response,
            "top_option": int(lo + int(np.argmax(probs))), "max_prob": float(probs.max()),
            "option_probs": json.dumps({str(lo + i): round(float(p), 6)
                                        for i, p in enumerate(probs)}),
        })  # fmt: skip
    columns = ["model", "language", "framing", "reasoning", "question_id", "country",
               "prompt_language", "response", "top_option", "max_prob", "option_probs"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame = frame.sort_values(["max_prob", "model", "question_id"], ascending=[False, True, True])
    return frame.head(top).reset_index(drop=True)
