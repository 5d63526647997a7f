"""Robustness of the answers to the prompt variants (:mod:`culturalign.prompts.variants`).

Per item (a cell's question and population — for neutral cells the question and prompt
language — across the variants asked; ``unforced`` is left out and reported on its own):

- ``flip_rate``: the share of variant pairs, both answered, whose answers differ;
- ``mean_shift``: mean ``|a - b| / range`` over those pairs (ordinal questions);
- ``mean_tv``: mean total-variation distance between the pairs' option distributions;
- ``shown_position_original`` / ``shown_position_reversed``: where the answer stood among
  the options as shown (0 = first) in the original and the reversed prompt.

Per model and cell (``summary.csv``, each with a 95% interval resampling questions):

- the means of the three item measures;
- ``kendall_w``: Kendall's W (tie-corrected) of the populations ranked by the model's
  answer, the variants as raters, averaged over questions (1 = every variant orders the
  countries alike; persona and observer cells);
- position bias: the share of answers on the first and on the last option *as shown*, in
  the original and in the reversed prompts (an answer that follows the position rather than
  the content stays first or last in both);
- ``snr``: signal-to-noise, ``sum_q var_c(mean_v y) / sum_q mean_c var_v(y)`` with ``y`` the
  answer (the expected answer where the text gave none) divided by the scale range: the
  spread between populations the persona produces over the spread the wording produces (> 1:
  the cultural signal exceeds the prompt noise); ``human_signal``: the same between-
  population variance of the human means, for reference;
- ``unforced_refusal_rate`` beside ``original_refusal_rate`` on the same items.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from culturalign.analysis.kit import MetricsSettings, cluster_bootstrap, human_vectors
from culturalign.analysis.survey.findings import findings_table
from culturalign.constants import CELL_KEYS, ORIGINAL_VARIANT
from culturalign.prompts.variants import REVERSED, UNFORCED

ITEM_COLUMNS = [*CELL_KEYS, "question_id", "country", "prompt_language", "n_variants",
                "n_pairs", "flip_rate", "mean_shift", "mean_tv", "variants",
                "shown_position_original", "shown_position_reversed", "n_options"]  # fmt: skip


def _value(row: Any) -> float | None:
    if row.answer is not None and not pd.isna(row.answer):
        return float(row.answer)
    if row.expected is not None and not pd.isna(row.expected):
        return float(row.expected)
    return None


def robustness_items(items: pd.DataFrame) -> pd.DataFrame:
    """One row per item asked in more than one (forced) variant."""
    data = items[items["variant"] != UNFORCED].copy()
    neutral = data["framing"] == "neutral"
    data["unit"] = np.where(neutral, data["prompt_language"], data["country"])
    data = data.drop_duplicates([*CELL_KEYS, "question_id", "unit", "variant"])
    rows = []
    for key, group in data.groupby([*CELL_KEYS, "question_id", "unit"], sort=True):
        if len(group) < 2:
            continue
        first = group.iloc[0]
        spread = float(first["scale_max"] - first["scale_min"])
        ordinal = first["scale_type"] == "ordinal"
        flips, shifts, distances = [], [], []
        records = group[["answer", "_probs"]].to_dict("records")
        for a, b in itertools.combinations(records, 2):
            if not pd.isna(a["answer"]) and not pd.isna(b["answer"]):
                flips.append(float(a["answer"] != b["answer"]))
                if ordinal:
                    shifts.append(abs(float(a["answer"]) - float(b["answer"])) / spread)
            if a["_probs"] is not None and b["_probs"] is not None:
                distances.append(0.5 * float(np.abs(a["_probs"] - b["_probs"]).sum()))
        rows.append({
            **dict(zip(CELL_KEYS, key[:4], strict=True)), "question_id": key[4],
            "country": None if first["framing"] == "neutral" else key[5],
            "prompt_language": first["prompt_language"], "n_variants": len(group),
            "n_pairs": len(flips), "flip_rate": np.mean(flips) if flips else math.nan,
            "mean_shift": np.mean(shifts) if shifts else math.nan,
            "mean_tv": np.mean(distances) if distances else math.nan,
            "variants": ",".join(sorted(group["variant"])),
            "shown_position_original": _position(group, ORIGINAL_VARIANT),
            "shown_position_reversed": _position(group, REVERSED),
            "n_options": int(first["n_options"]),
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    for column in ("shown_position_original", "shown_position_reversed"):
        out[column] = out[column].astype("Int64")
    return out


def _position(group: pd.DataFrame, variant: str) -> int | None:
    """Where the answer of ``variant`` stood in its prompt (0 = first shown), if answered."""
    hit = group.loc[group["variant"] == variant, "shown_position"]
    return None if hit.empty or pd.isna(hit.iloc[0]) else int(hit.iloc[0])


def kendall_w(matrix: np.ndarray) -> float:
    """Kendall's W of ``matrix`` (rows = items ranked, columns = raters), tie-corrected."""
    n, m = matrix.shape
    if n < 2 or m < 2:
        return math.nan
    ranks = np.column_stack([rankdata(matrix[:, j]) for j in range(m)])
    totals = ranks.sum(axis=1)
    s = float(((totals - totals.mean()) ** 2).sum())
    ties = 0.0
    for j in range(m):
        _, counts = np.unique(matrix[:, j], return_counts=True)
        ties += float((counts**3 - counts).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    return s * 12.0 / denominator if denominator > 0 else math.nan


def _per_question(data: pd.DataFrame, human: dict) -> pd.DataFrame:
    """Per question of one cell: Kendall's W, signal, noise and the human signal."""
    rows = []
    for question_id, group in data.groupby("question_id", sort=True):
        first = group.iloc[0]
        spread = float(first["scale_max"] - first["scale_min"])
        values = group.assign(y=[_value(r) for r in group.itertuples(index=False)])
        values = values.dropna(subset=["y"])
        table = values.pivot_table(index="country", columns="variant", values="y", aggfunc="mean")
        table = table.dropna()
        w = kendall_w(table.to_numpy()) if table.shape[0] >= 2 else math.nan
        signal = noise = math.nan
        if table.shape[0] >= 2 and table.shape[1] >= 2:
            scaled = table.to_numpy() / spread
            signal = float(np.var(scaled.mean(axis=1)))
            noise = float(np.var(scaled, axis=1).mean())
        means = [
            float(np.dot(np.arange(first["scale_min"], first["scale_max"] + 1), vector)) / spread
            for country in table.index
            if (vector := human.get((question_id, country))) is not None
        ]
        rows.append(
            {
                "question_id": question_id,
                "kendall_w": w,
                "signal": signal,
                "noise": noise,
                "human_signal": float(np.var(means)) if len(means) >= 2 else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["question_id", "kendall_w", "signal", "noise",
                                       "human_signal"])  # fmt: skip


def _ratio_interval(per_question: pd.DataFrame, settings: MetricsSettings):
    """sum(signal) / sum(noise) with a percentile interval resampling questions."""
    data = per_question.dropna(subset=["signal", "noise"])
    if data.empty or data["noise"].sum() <= 0:
        return (math.nan, math.nan, math.nan)
    signal, noise = data["signal"].to_numpy(), data["noise"].to_numpy()
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, len(data), size=(settings.bootstrap_resamples, len(data)))
    ratios = signal[draws].sum(axis=1) / np.maximum(noise[draws].sum(axis=1), 1e-300)
    low, high = np.quantile(ratios, [0.025, 0.975])
    return (float(signal.sum() / noise.sum()), float(low), float(high))


def _share(rows: pd.DataFrame, which: str, settings: MetricsSettings):
    answered = rows.dropna(subset=["shown_position"])
    if answered.empty:
        return (math.nan, math.nan, math.nan)
    target = 0 if which == "first" else answered["n_options"] - 1
    hits = (answered["shown_position"] == target).astype(float)
    mean, low, high, _ = cluster_bootstrap(
        hits, answered["question_id"], settings.bootstrap_resamples, settings.seed
    )
    return (mean, low, high)


def robustness_summary(
    items: pd.DataFrame,
    robust_items: pd.DataFrame,
    human: pd.DataFrame,
    questions: pd.DataFrame,
    settings: MetricsSettings,
) -> pd.DataFrame:
    """Per model and cell: every measure of the module docstring with its interval."""
    humans = human_vectors(human, questions)
    rows = []
    for cell, group in items.groupby(list(CELL_KEYS), sort=True):
        variants = set(group["variant"])
        if len(variants - {UNFORCED}) < 2 and UNFORCED not in variants:
            continue
        row: dict[str, Any] = dict(zip(CELL_KEYS, cell, strict=True))
        row["variants"] = ",".join(sorted(variants))
        mine = robust_items
        for key, value in row.items():
            if key in CELL_KEYS:
                mine = mine[mine[key] == value]
        row["n_items"] = len(mine)
        for measure in ("flip_rate", "mean_shift", "mean_tv"):
            mean, low, high, _ = cluster_bootstrap(
                mine[measure], mine["question_id"], settings.bootstrap_resamples, settings.seed
            )
            row.update({measure: mean, f"{measure}_ci_low": low, f"{measure}_ci_high": high})
        forced = group[group["variant"] != UNFORCED]
        per_question = (
            _per_question(forced, humans) if cell[2] != "neutral" else pd.DataFrame()
        )  # fmt: skip
        if len(per_question):
            mean, low, high, _ = cluster_bootstrap(
                per_question["kendall_w"], per_question["question_id"],
                settings.bootstrap_resamples, settings.seed,
            )  # fmt: skip
            row.update(kendall_w=mean, kendall_w_ci_low=low, kendall_w_ci_high=high)
            snr, low, high = _ratio_interval(per_question, settings)
            row.update(snr=snr, snr_ci_low=low, snr_ci_high=high)
            row["model_signal"] = float(per_question["signal"].mean())
            row["human_signal"] = float(per_question["human_signal"].mean())
        reversed_questions = set(group.loc[group["variant"] == REVERSED, "question_id"])
        for variant in (ORIGINAL_VARIANT, REVERSED):
            shown = group[(group["variant"] == variant) & group["question_id"].isin(
                reversed_questions)]  # fmt: skip
            for which in ("first", "last"):
                mean, low, high = _share(shown, which, settings)
                name = f"{which}_shown_{variant}"
                row.update({name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high})
        if UNFORCED in variants:
            asked = set(group.loc[group["variant"] == UNFORCED, "question_id"])
            same = group[group["question_id"].isin(asked)]
            for variant in (ORIGINAL_VARIANT, UNFORCED):
                rates = same.loc[same["variant"] == variant, "refusal"].astype(float)
                row[f"{variant}_refusal_rate"] = float(rates.mean()) if len(rates) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def coverage_table(recognition: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """Per prompt language: questions, how many reverse, and the share."""
    if recognition.empty:
        return pd.DataFrame(columns=["benchmark", "language", "questions", "reversible",
                                     "coverage"])  # fmt: skip
    grouped = recognition.groupby("language", sort=True)["recognised"]
    return pd.DataFrame({
        "benchmark": benchmark, "language": grouped.size().index,
        "questions": grouped.size().to_numpy(), "reversible": grouped.sum().to_numpy(),
        "coverage": grouped.mean().to_numpy(),
    })  # fmt: skip


def robust_findings(
    items: pd.DataFrame, settings: MetricsSettings, level: float = 0.05
) -> pd.DataFrame:
    """Whether each pooled finding keeps its sign and significance in every variant.

    For each forced variant, the contrast is recomputed on its own rows and compared with
    the original on the same cells; ``robust`` is True when every variant's 95% interval
    excludes 0 on the original's side, False when one does not, NA when no variant covers
    both conditions of the contrast.
    """
    original = items[items["variant"] == ORIGINAL_VARIANT]
    reference = findings_table(original, settings)
    keys = ["finding", "contrast", "metric", "model", "language", "framing", "reasoning"]
    verdicts: dict[tuple, list[str]] = {}
    agreement: dict[tuple, list[bool]] = {}
    for variant in sorted(set(items["variant"]) - {ORIGINAL_VARIANT, UNFORCED}):
        rows = items[items["variant"] == variant]
        cells = rows[list(CELL_KEYS)].drop_duplicates()
        same_cells = original.merge(cells, on=list(CELL_KEYS))
        mine = findings_table(rows.assign(variant=ORIGINAL_VARIANT), settings)
        base = findings_table(same_cells, settings)
        merged = base.merge(mine, on=keys, suffixes=("_base", "_variant"))
        for r in merged.itertuples(index=False):
            if pd.isna(r.mean_diff_base) or pd.isna(r.mean_diff_variant):
                continue
            key = tuple(getattr(r, k) for k in keys)
            significant = not (r.ci_low_variant <= 0 <= r.ci_high_variant)
            same_sign = np.sign(r.mean_diff_variant) == np.sign(r.mean_diff_base)
            agreement.setdefault(key, []).append(bool(significant and same_sign))
            verdicts.setdefault(key, []).append(
                f"{variant}: {r.mean_diff_variant:+.2f} [{r.ci_low_variant:.2f}, "
                f"{r.ci_high_variant:.2f}]"
            )
    out = reference[keys + ["mean_diff", "ci_low", "ci_high"]].copy()
    out["significant"] = ~((out["ci_low"] <= 0) & (out["ci_high"] >= 0))
    out["n_variants"] = [len(agreement.get(tuple(r), [])) for r in out[keys].itertuples(
        index=False)]  # fmt: skip
    out["robust"] = [
        (bool(sig) and all(agreement[tuple(r)])) if tuple(r) in agreement else pd.NA
        for r, sig in zip(out[keys].itertuples(index=False), out["significant"], strict=True)
    ]
    out["variants_detail"] = ["; ".join(verdicts.get(tuple(r), [])) for r in out[keys].itertuples(
        index=False)]  # fmt: skip
    return out
