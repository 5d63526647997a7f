"""Paired contrasts the paper reports: cross-lingual shift, reasoning change, framing effects.

Every contrast pairs the items (question_id, country, plus any dimension pooled over) that
both conditions scored, and reports ``diff = b - a`` (e.g. native - en):

* ``mean_diff`` with a 95% percentile bootstrap interval that resamples *questions* (all
  paired items of a drawn question move together; seeded with metrics.seed);
* a Wilcoxon signed-rank test over the paired item differences (``p_value``, ``n_pairs``;
  treats items as independent) and, more conservatively, over the per-question mean
  differences (``p_value_questions``, ``n_questions``). Zero differences are dropped
  (``zero_method='wilcox'``); a test with no non-zero difference reports p = 1 and a note.

Rows come per stratum (e.g. per framing and reasoning for the cross-lingual shift) and pooled
over the strata (stratum columns ``all``), per model.

:func:`findings_by_category` repeats every contrast within each question category (in every
stratum) and within each (category, subcategory) (pooled over the strata), so that e.g. the
reasoning change can be compared between value and factual questions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from culturalign.analysis.kit import MetricsSettings, cluster_bootstrap, original_only

FINDINGS: tuple[tuple[str, str, str, str], ...] = (
    # (finding, varied dimension, condition a, condition b) -> diff = b - a
    ("cross_lingual_shift", "language", "en", "native"),
    ("reasoning_change", "reasoning", "zero", "cot"),
    ("framing_effect", "framing", "observer", "persona"),
    ("framing_effect", "framing", "neutral", "persona"),
    ("framing_effect", "framing", "neutral", "observer"),
)
METRICS: tuple[str, ...] = ("nvas", "kld")
DIMENSIONS: tuple[str, ...] = ("language", "framing", "reasoning")
COLUMNS = [
    "finding", "contrast", "metric", "model", "language", "framing", "reasoning", "n_pairs",
    "n_questions", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "wilcoxon_stat",
    "p_value", "p_value_questions", "note",
]  # fmt: skip


SIGN_FLIP_LIMIT = 13
"""Up to this many differences with ties or zeros, ``scipy.stats.wilcoxon`` ("auto") takes
its p-value from every one of the 2**n sign flips (an exact permutation test)."""


def wilcoxon(diffs: Sequence[float]) -> tuple[float, float, str]:
    """Two-sided Wilcoxon signed-rank test (zeros dropped, as Wilcoxon did): ``(statistic,
    p, note)``, robust to degenerate input; the statistic and p-value of
    ``scipy.stats.wilcoxon``. Where scipy enumerates the sign flips (few differences with
    ties or zeros) they are enumerated here too, with the statistic vectorised over them:
    scipy evaluates it once per flip, which made this test most of a summary's run time."""
    diffs = np.asarray(diffs, dtype=float)
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return (math.nan, math.nan, "no pairs")
    if np.all(diffs == 0):
        return (0.0, 1.0, "all differences zero")
    nonzero = np.abs(diffs[diffs != 0])
    tied_or_zero = len(nonzero) < len(diffs) or len(np.unique(nonzero)) < len(nonzero)
    if len(diffs) <= SIGN_FLIP_LIMIT and tied_or_zero:
        result = stats.wilcoxon(diffs, zero_method="wilcox", method="asymptotic")
        return (float(result.statistic), _sign_flip_p_value(diffs), "")
    result = stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided")
    return (float(result.statistic), float(result.pvalue), "")


def _sign_flip_p_value(diffs: np.ndarray) -> float:
    """Two-sided p of the rank sum of the positive differences over all 2**n sign flips
    (the absolute values, hence the ranks, are the same under every flip; zeros rank 0)."""
    ranks = np.zeros(len(diffs))
    nonzero = diffs != 0
    ranks[nonzero] = stats.rankdata(np.abs(diffs[nonzero]))

    def positive_rank_sum(sample: np.ndarray, axis: int) -> np.ndarray:
        return np.sum((np.moveaxis(sample, axis, -1) > 0) * ranks, axis=-1)

    result = stats.permutation_test(
        (diffs,), positive_rank_sum, permutation_type="samples", vectorized=True,
        alternative="two-sided",
    )  # fmt: skip
    return float(result.pvalue)


def paired_contrast(
    items: pd.DataFrame,
    vary: str,
    a: str,
    b: str,
    metric: str,
    settings: MetricsSettings,
) -> dict[str, Any]:
    """Compare condition ``a`` with ``b`` of dimension ``vary`` within ``items`` (one model).

    Items are paired on every other dimension plus (question_id, country).
    """
    keys = [d for d in DIMENSIONS if d != vary] + ["question_id", "country"]
    left = items.loc[items[vary] == a, [*keys, metric]].dropna(subset=[metric])
    right = items.loc[items[vary] == b, [*keys, metric]].dropna(subset=[metric])
    pairs = left.merge(right, on=keys, suffixes=("_a", "_b"))
    out: dict[str, Any] = {"n_pairs": len(pairs), "note": ""}
    if pairs.empty:
        out.update(n_questions=0, note="no paired items")
        return out
    diff = pairs[f"{metric}_b"] - pairs[f"{metric}_a"]
    mean, low, high, k = cluster_bootstrap(
        diff, pairs["question_id"], settings.bootstrap_resamples, settings.seed
    )
    stat, p, note = wilcoxon(diff)
    per_question = diff.groupby(pairs["question_id"]).mean()
    _, p_q, note_q = wilcoxon(per_question)
    notes = [n for n in (note, f"per question: {note_q}" if note_q else "") if n]
    if k < 6:
        notes.append(f"only {k} questions: per-question test has little power")
    out.update(
        n_questions=k,
        mean_a=float(pairs[f"{metric}_a"].mean()),
        mean_b=float(pairs[f"{metric}_b"].mean()),
        mean_diff=mean,
        ci_low=low,
        ci_high=high,
        wilcoxon_stat=stat,
        p_value=p,
        p_value_questions=p_q,
        note="; ".join(notes),
    )
    return out


def findings_table(
    items: pd.DataFrame, settings: MetricsSettings, per_stratum: bool = True
) -> pd.DataFrame:
    """All contrasts of :data:`FINDINGS` for :data:`METRICS`, per model, per stratum and pooled
    (``per_stratum=False``: pooled only)."""
    rows = []
    for model, by_model in original_only(items).groupby("model", sort=True):
        for finding, vary, a, b in FINDINGS:
            strata_dims = [d for d in DIMENSIONS if d != vary]
            strata: list[tuple[dict[str, str], pd.DataFrame]] = [
                ({d: "all" for d in strata_dims}, by_model)
            ]
            for key, group in by_model.groupby(strata_dims, sort=True) if per_stratum else ():
                strata.append((dict(zip(strata_dims, key, strict=True)), group))
            for labels, group in strata:
                if not {a, b} <= set(group[vary]):
                    continue
                for metric in METRICS:
                    row = {"finding": finding, "contrast": f"{b} - {a}", "metric": metric,
                           "model": model, vary: f"{b} vs {a}", **labels}  # fmt: skip
                    row.update(paired_contrast(group, vary, a, b, metric, settings))
                    rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


CATEGORY_COLUMNS = ["category", "subcategory", *COLUMNS]
NO_CATEGORY = "(none)"


def findings_by_category(
    items: pd.DataFrame, questions: pd.DataFrame, settings: MetricsSettings
) -> pd.DataFrame:
    """The contrasts of :func:`findings_table` per question category (every stratum) and per
    (category, subcategory) (strata pooled). Empty when the benchmark has no categories."""
    meta = questions.set_index("question_id")
    if "category" not in meta.columns or meta["category"].isna().all():
        return pd.DataFrame(columns=CATEGORY_COLUMNS)
    labels = {}
    for column in ("category", "subcategory"):
        values = meta[column] if column in meta.columns else pd.Series(None, index=meta.index)
        labels[column] = values.where(values.notna(), NO_CATEGORY).astype(str)
    data = original_only(items)
    data = data.assign(category=data["question_id"].map(labels["category"]),
                       subcategory=data["question_id"].map(labels["subcategory"]))  # fmt: skip
    frames = []
    for category, group in data.groupby("category", sort=True):
        table = findings_table(group, settings)
        frames.append(table.assign(category=category, subcategory="all"))
        for subcategory, sub in group.groupby("subcategory", sort=True):
            pooled = findings_table(sub, settings, per_stratum=False)
            frames.append(pooled.assign(category=category, subcategory=subcategory))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=CATEGORY_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CATEGORY_COLUMNS]


ROUNDTRIP_COLUMNS = [
    "finding", "metric", "model", "framing", "reasoning", "items", "n", "n_questions",
    "n_excluded", "n_machine_translated", "mean", "ci_low", "ci_high",
]  # fmt: skip
"""``items``: ``all`` (every paired item) or ``roundtrip_passed`` (native items whose question
text failed its back-translation check left out; ``n_excluded`` counts them)."""


def roundtrip_findings(
    items: pd.DataFrame, consistency: pd.DataFrame, settings: MetricsSettings
) -> pd.DataFrame:
    """The cross-lingual findings (CLCS, and the cross-lingual shift of NVAS and KL: native -
    en) over every item and restricted to items whose native text passed its round trip (or was
    never machine-translated nor checked), per model, framing and reasoning and pooled.

    Empty when no native item's text was checked (no translation rule ran)."""
    data = original_only(items)
    keys = ["model", "framing", "reasoning", "question_id", "country"]
    native = data[data["language"] == "native"]
    if "roundtrip_passed" not in native or native["roundtrip_passed"].isna().all():
        return pd.DataFrame(columns=ROUNDTRIP_COLUMNS)
    failed = native.loc[native["roundtrip_passed"].eq(False).fillna(False), keys]
    machine = native.loc[native["text_provenance"] == "machine-translated", keys]
    clcs = consistency[consistency["clcs"].notna()]
    marked = {
        "failed": set(map(tuple, failed.to_numpy())),
        "machine": set(map(tuple, machine.to_numpy())),
    }

    def flags(frame: pd.DataFrame, name: str) -> pd.Series:
        wanted = marked[name]
        return pd.Series([tuple(row) in wanted for row in frame[keys].to_numpy()],
                         index=frame.index, dtype=bool)  # fmt: skip

    rows = []
    cells = sorted(set(zip(data["framing"], data["reasoning"], strict=True)))
    for model in sorted(set(data["model"])):
        for framing, reasoning in [("all", "all"), *cells]:
            scores = _stratum(clcs, model, framing, reasoning)
            cell_items = _stratum(data, model, framing, reasoning)
            excluded_native = flags(cell_items, "failed") & (cell_items["language"] == "native")
            for subset in ("all", "roundtrip_passed"):
                base = {"model": model, "framing": framing, "reasoning": reasoning,
                        "items": subset}  # fmt: skip
                kept = scores if subset == "all" else scores[~flags(scores, "failed")]
                if len(scores):
                    mean, low, high, k = cluster_bootstrap(
                        kept["clcs"], kept["question_id"], settings.bootstrap_resamples,
                        settings.seed,
                    )  # fmt: skip
                    rows.append({**base, "finding": "clcs", "metric": "clcs", "n": len(kept),
                                 "n_questions": k, "n_excluded": len(scores) - len(kept),
                                 "n_machine_translated": int(flags(kept, "machine").sum()),
                                 "mean": mean, "ci_low": low, "ci_high": high})  # fmt: skip
                chosen = cell_items if subset == "all" else cell_items[~excluded_native]
                if not {"en", "native"} <= set(cell_items["language"]):
                    continue
                machine = flags(chosen, "machine") & (chosen["language"] == "native")
                excluded = int(excluded_native.sum()) if subset != "all" else 0
                for metric in METRICS:
                    found = paired_contrast(chosen, "language", "en", "native", metric, settings)
                    rows.append({**base, "finding": "cross_lingual_shift", "metric": metric,
                                 "n": found["n_pairs"], "n_questions": found["n_questions"],
                                 "n_excluded": excluded,
                                 "n_machine_translated": int(machine.sum()),
                                 "mean": found.get("mean_diff"), "ci_low": found.get("ci_low"),
                                 "ci_high": found.get("ci_high")})  # fmt: skip
    return pd.DataFrame(rows, columns=ROUNDTRIP_COLUMNS)


def _stratum(frame: pd.DataFrame, model: str, framing: str, reasoning: str) -> pd.DataFrame:
    """The rows of one model in one (framing, reasoning) cell, or pooled (``all``)."""
    frame = frame[frame["model"] == model]
    if framing == "all":
        return frame
    return frame[(frame["framing"] == framing) & (frame["reasoning"] == reasoning)]
