"""What every analysis kind shares: the metrics settings, shards joined with their parsed
answers, option and human distribution vectors, the original-wording filter and the
cluster bootstrap."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culturalign.constants import CELL_KEYS, ORIGINAL_VARIANT
from culturalign.errors import CulturalignError
from culturalign.io.tables import read_table
from culturalign.settings import schema_defaults

MODES = ("default", "paper")


PROB_TOLERANCE = 1e-4
"""option_probs must sum to 1 within this tolerance; they are used as stored (no renormalising)."""


class MetricsError(CulturalignError):
    """A shard or benchmark table violates the contract the metrics rely on."""


_DEFAULTS = schema_defaults("metrics")


@dataclass(frozen=True)
class MetricsSettings:
    """The ``metrics:`` section of the config."""

    mode: str = _DEFAULTS["mode"]
    leakage_threshold: float = _DEFAULTS["leakage_threshold"]
    kld_smoothing: float = _DEFAULTS["kld_smoothing"]
    bootstrap_resamples: int = _DEFAULTS["bootstrap_resamples"]
    seed: int = _DEFAULTS["seed"]
    min_option_coverage: float = _DEFAULTS["min_option_coverage"]

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> MetricsSettings:
        """From config ``metrics:`` (keys this dataclass does not hold are ignored)."""
        section = dict(section or {})
        names = set(cls.__dataclass_fields__)
        settings = cls(**{key: section[key] for key in section if key in names})
        if settings.mode not in MODES:
            raise MetricsError(
                f"config metrics.mode: expected one of {MODES}, got {settings.mode!r}"
            )
        return settings


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def probs_vector(
    option_probs: Any, scale_min: int, scale_max: int, where: str
) -> np.ndarray | None:
    """``option_probs`` (list of {option, prob}) as a vector over ``scale_min..scale_max``."""
    if is_missing(option_probs) or len(option_probs) == 0:
        return None
    values = {}
    for entry in option_probs:
        values[int(entry["option"])] = float(entry["prob"])
    expected = set(range(scale_min, scale_max + 1))
    if set(values) != expected:
        raise MetricsError(
            f"{where}: option_probs options {sorted(values)} differ from the scale "
            f"{scale_min}..{scale_max}"
        )
    vector = np.array([values[o] for o in range(scale_min, scale_max + 1)], dtype=float)
    if np.any(vector < 0) or not np.all(np.isfinite(vector)):
        raise MetricsError(f"{where}: option_probs holds a negative or non-finite probability")
    if abs(vector.sum() - 1.0) > PROB_TOLERANCE:
        raise MetricsError(f"{where}: option_probs sum to {vector.sum():.6f}, not 1")
    return vector


def human_vectors(
    human: pd.DataFrame, questions: pd.DataFrame
) -> dict[tuple[str, str], np.ndarray]:
    """(question_id, country) -> share vector over the question's scale."""
    scales = questions.set_index("question_id")[["scale_min", "scale_max"]]
    out: dict[tuple[str, str], np.ndarray] = {}
    for (qid, country), group in human.groupby(["question_id", "country"], sort=False):
        if qid not in scales.index:
            continue
        lo, hi = (int(v) for v in scales.loc[qid])
        vector = np.zeros(hi - lo + 1)
        for option, share in zip(group["option"], group["share"], strict=True):
            if lo <= int(option) <= hi:
                vector[int(option) - lo] = float(share)
        total = vector.sum()
        if total <= 0:
            continue
        out[(str(qid), str(country))] = vector
    return out


SHARD_COLUMNS = ("question_id", "country", "variant", "prompt_language", "response",
                 "option_probs", "option_probs_source", "option_coverage",
                 "option_codes")  # fmt: skip


ANSWER_KEYS = ("question_id", "country", "variant", "prompt_language")


PROVENANCE_COLUMNS = ("text_provenance", "roundtrip_passed")


def load_shards(
    shards: Iterable[tuple[Mapping[str, str], str | Path, str | Path]],
) -> pd.DataFrame:
    """Concatenate generation shards with their parsed answers (same rows, same order),
    adding the cell columns and the shard path."""
    frames = []

    for cell, path, answers_path in shards:
        frame = read_table(path)
        missing = [c for c in SHARD_COLUMNS if c not in frame.columns]
        if missing:
            raise MetricsError(f"{path}: missing column(s) {', '.join(missing)}")
        # the text's provenance, where the shard records it (not before the translate rule)
        kept = [*SHARD_COLUMNS, *(c for c in PROVENANCE_COLUMNS if c in frame.columns)]
        frame = frame[kept].copy()
        parsed = read_table(answers_path)
        if len(parsed) != len(frame):
            raise MetricsError(
                f"{answers_path}: {len(parsed)} rows for the {len(frame)} of {path} "
                "(re-run the parse rule)"
            )
        for key in ANSWER_KEYS:
            left = frame[key].astype(object).where(frame[key].notna(), None).tolist()
            right = parsed[key].astype(object).where(parsed[key].notna(), None).tolist()
            if left != right:
                bad = next(i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b)
                raise MetricsError(
                    f"{answers_path}: row {bad}, column {key}: {right[bad]!r} does not match "
                    f"{path} ({left[bad]!r}); re-run the parse rule"
                )
        frame["answer"] = parsed["answer"].to_numpy()
        frame["refusal"] = parsed["refusal"].to_numpy()
        for key in CELL_KEYS:
            frame[key] = cell[key]
        frame["shard"] = str(path)
        frame["shard_row"] = np.arange(len(frame))
        frames.append(frame)
    if not frames:
        raise MetricsError("no generation shards given")
    return pd.concat(frames, ignore_index=True)


def in_subset(frame: pd.DataFrame, questions: Sequence[str] | None) -> pd.DataFrame:
    """The rows of the benchmark's question subset (config ``subset.questions``; None = every
    question): how every analysis rule applies the subset."""
    if questions is None:
        return frame
    return frame[frame["question_id"].isin(list(questions))]


def original_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the original prompt wording (every table without a variant: all rows)."""
    if "variant" not in frame.columns:
        return frame
    return frame[frame["variant"] == ORIGINAL_VARIANT]


def cluster_bootstrap(
    values: Sequence[float],
    clusters: Sequence[Any],
    resamples: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float, float, float, int]:
    """Mean of ``values`` and a percentile interval resampling whole clusters (questions).

    Returns ``(mean, low, high, n_clusters)``; NaN values are ignored; NaNs everywhere when
    nothing is left. Each resample draws ``n_clusters`` clusters with replacement and takes
    the mean over all their values (so the point estimate is the plain row mean).
    """
    frame = pd.DataFrame({"v": np.asarray(values, dtype=float), "c": list(clusters)}).dropna()
    if frame.empty:
        return (math.nan, math.nan, math.nan, 0)
    grouped = frame.groupby("c", sort=True)["v"].agg(["sum", "count"])
    sums, counts = grouped["sum"].to_numpy(), grouped["count"].to_numpy()
    mean = float(sums.sum() / counts.sum())
    k = len(grouped)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(resamples, k))
    stats = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return (mean, float(low), float(high), k)


def require_columns(
    frame: pd.DataFrame, columns: Iterable[str], what: str, error: type[Exception]
) -> None:
    """Raise ``error`` naming the table (``what``), its missing columns and those present."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise error(f"{what}: missing column(s) {missing}; columns present: {list(frame.columns)}")
