"""Zone-variable items from the human data alone, and models as triage and surrogate.

After Saakyan, Rastogi & Aroyo ("Quantifying the Salience of Geo-Cultural Values for
Pluralistic Safety Alignment"), here per survey item over the run's selected questions and
populations.

Profiles. For one item and one respondent (the people, or one model cell), every population
``c`` has a profile ``x_c``: for an ordinal question the mean answer rescaled to [0, 1]
(``(mean - scale_min) / range``); for a nominal question the share vector over the options.
A model's ordinal profile is its expected answer (the text answer where it has no
distribution), its nominal profile its option distribution (the one-hot text answer where it
has none).

Zone statistic. With the populations grouped by zone (``g`` zones, ``n`` populations)::

    SS_total   = sum_c |x_c - mean|^2            SS_between = sum_z n_z |mean_z - mean|^2
    eta2       = SS_between / SS_total           (share of the between-population spread
                                                  the zones explain)
    F          = (SS_between / (g - 1)) / ((SS_total - SS_between) / (n - g))

the pseudo-F of a PERMANOVA with Euclidean distances (Anderson 2001; for an ordinal item
the one-way ANOVA F over population means). ``p = (1 + #{F_perm >= F}) / (1 + B)`` with the
zone labels permuted over the populations ``B`` times (``sensitivity.permutations``). One
seeded set of permutations per set of populations, shared by the people and every model, so
that a model reproducing the people's profiles gets the people's p values. An item needs at
least two zones and more populations than zones (``testable``); an item whose populations
all agree (``SS_total = 0``) has ``F = 0`` and ``p = 1``.

Zone-variable: the p value, Benjamini-Hochberg adjusted over the testable items
(``sensitivity.correction: fdr_bh``; ``none`` keeps it raw), is below ``sensitivity.alpha``.

``majority_differs``: the populations are resampled with replacement within each zone
(``sensitivity.bootstrap_resamples`` times); a zone's majority answer is the option with the
largest mean share over its drawn populations; the share of resamples in which some zone's
majority answer differs from every other zone's.

Triage, per model cell with population-specific prompts (persona, observer): per item the
model's ``spread`` (``SS_total / n``: mean squared distance of its population profiles to
their centroid), its zone ``F``, ``p`` and ``flagged`` by the people's rule applied to its
own profiles. Precision, recall and F1 of ``flagged`` against the human zone-variable items;
AUROC of ``spread`` and of ``F`` as scores. Baselines: *always sensitive* (precision =
prevalence ``pi``, recall 1, F1 = ``2 pi / (1 + pi)``) and *random* flags at the model's
flag rate ``r`` (expected precision ``pi``, recall ``r``, F1 = ``2 pi r / (pi + r)``, AUROC
0.5). 95% intervals by a hierarchical bootstrap: each resample draws the populations with
replacement within their zones (the same draw for the people and the model), recomputes
every item's statistics (p referred to the item's permutation null of the full data, then
adjusted), and then draws the items with replacement.

Surrogate: ``persona_gain = NVAS(persona) - NVAS(neutral)`` per model, language, reasoning
and population (paired on questions; question-bootstrap interval); and per ordinal item the
Pearson correlation, over the populations, of the model's answers with the human means.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from culturalign.analysis.kit import (
    MetricsSettings,
    cluster_bootstrap,
    human_vectors,
    original_only,
)
from culturalign.constants import CELL_KEYS
from culturalign.errors import CulturalignError
from culturalign.settings import schema_defaults

LOG = logging.getLogger("culturalign.analysis.survey.sensitivity")

CORRECTIONS = ("fdr_bh", "none")
TRIAGE_FRAMINGS = ("persona", "observer")
FLAT = 1e-12
"""Sums of squares at or below this are zero (float noise of identical profiles)."""
Profiles = dict[str, dict[str, np.ndarray]]
"""question_id -> population -> profile vector."""


class SensitivityError(CulturalignError):
    """The settings or tables of the sensitivity analysis are unusable."""


_DEFAULTS = schema_defaults("sensitivity")


@dataclass(frozen=True)
class SensitivitySettings:
    """The ``sensitivity:`` section of the config."""

    zone_column: str | None = _DEFAULTS["zone_column"]
    alpha: float = _DEFAULTS["alpha"]
    correction: str = _DEFAULTS["correction"]
    permutations: int = _DEFAULTS["permutations"]
    bootstrap_resamples: int = _DEFAULTS["bootstrap_resamples"]
    seed: int = _DEFAULTS["seed"]

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, stats_zone: str = "zone"
                    ) -> SensitivitySettings:  # fmt: skip
        """From config ``sensitivity:``; a null ``zone_column`` takes ``stats.zone_column``."""
        section = dict(section or {})
        settings = cls(**{k: v for k, v in section.items() if k in cls.__dataclass_fields__})
        if settings.zone_column is None:
            settings = cls(**{**settings.__dict__, "zone_column": stats_zone})
        if settings.correction not in CORRECTIONS:
            raise SensitivityError(
                f"config sensitivity.correction: expected one of {CORRECTIONS}, got "
                f"{settings.correction!r}"
            )
        if not 0 < settings.alpha < 1:
            raise SensitivityError(f"config sensitivity.alpha: {settings.alpha} is not in (0, 1)")
        return settings


# ----------------------------------------------------------------------------- profiles


def _scales(questions: pd.DataFrame) -> dict[str, tuple[int, int, str]]:
    return {str(q.question_id): (int(q.scale_min), int(q.scale_max), str(q.scale_type))
            for q in questions.itertuples(index=False)}  # fmt: skip


def _ordinal_profile(shares: np.ndarray) -> np.ndarray:
    positions = np.arange(len(shares), dtype=float) / (len(shares) - 1)
    return np.array([float(np.dot(positions, shares))])


def human_profiles(
    human: pd.DataFrame, questions: pd.DataFrame, countries: Sequence[str]
) -> tuple[Profiles, Profiles]:
    """``(profiles, shares)`` of the people over ``countries``."""
    scales = _scales(questions)
    profiles: Profiles = {}
    shares: Profiles = {}
    wanted = set(countries)
    for (qid, country), vector in human_vectors(human, questions).items():
        if country not in wanted or qid not in scales:
            continue
        stype = scales[qid][2]
        profile = _ordinal_profile(vector) if stype == "ordinal" else vector
        profiles.setdefault(qid, {})[country] = profile
        shares.setdefault(qid, {})[country] = vector
    return profiles, shares


def model_profiles(items: pd.DataFrame) -> dict[tuple[str, ...], Profiles]:
    """Per cell ``(model, language, framing, reasoning)``: the model's profiles.

    ``items`` is :func:`culturalign.analysis.survey.metrics.item_table`'s frame (with ``_probs``).
    """
    out: dict[tuple[str, ...], Profiles] = {}
    data = original_only(items)
    data = data[data["framing"].isin(TRIAGE_FRAMINGS)]
    for row in data.itertuples(index=False):
        lo, hi = int(row.scale_min), int(row.scale_max)
        probs = row._asdict().get("_probs")
        answer = None if pd.isna(row.answer) else int(row.answer)
        if row.scale_type == "ordinal":
            if row.expected is not None and not pd.isna(row.expected):
                value = (float(row.expected) - lo) / (hi - lo)
            elif answer is not None:
                value = (answer - lo) / (hi - lo)
            else:
                continue
            profile = np.array([value])
        else:
            if probs is not None and not (isinstance(probs, float) and math.isnan(probs)):
                profile = np.asarray(probs, dtype=float)
            elif answer is not None:
                profile = np.eye(hi - lo + 1)[answer - lo]
            else:
                continue
        cell = tuple(str(getattr(row, k)) for k in CELL_KEYS)
        out.setdefault(cell, {}).setdefault(str(row.question_id), {})[str(row.country)] = profile
    return out


# ----------------------------------------------------------------------------- statistics


@dataclass
class Group:
    """Items that share one set of populations: stacked profiles and zone labels."""

    countries: tuple[str, ...]
    labels: np.ndarray  # zone code per population
    n_zones: int
    question_ids: list[str]
    profiles: np.ndarray  # (items, populations, dims), zero-padded dims
    permutations: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=int))

    @property
    def key(self) -> str:
        return "|".join(self.countries)


def _group_seed(seed: int, key: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8")), *extra])


def build_groups(
    profiles: Profiles, zone_of: Mapping[str, str], settings: SensitivitySettings
) -> tuple[list[Group], dict[str, str]]:
    """Stack items by population set and profile length (no padding of ordinal profiles to
    a nominal item's options); ``(groups, {question_id: reason not testable})``. Groups with
    the same populations share their permutations and bootstrap draws."""
    by_set: dict[tuple[tuple[str, ...], int], list[str]] = {}
    untestable: dict[str, str] = {}
    for qid in sorted(profiles):
        countries = tuple(sorted(c for c in profiles[qid] if zone_of.get(c)))
        zones = {zone_of[c] for c in countries}
        if len(zones) < 2:
            untestable[qid] = f"{len(zones)} zone(s) among its populations"
        elif len(countries) <= len(zones):
            untestable[qid] = "no zone has two populations (no within-zone variation)"
        else:
            dims = len(profiles[qid][countries[0]])
            by_set.setdefault((countries, dims), []).append(qid)
    groups = []
    for (countries, dims), qids in sorted(by_set.items()):
        zone_names = sorted({zone_of[c] for c in countries})
        labels = np.array([zone_names.index(zone_of[c]) for c in countries])
        stack = np.zeros((len(qids), len(countries), dims))
        for i, qid in enumerate(qids):
            for j, country in enumerate(countries):
                vector = profiles[qid][country]
                stack[i, j, : len(vector)] = vector
        group = Group(countries, labels, len(zone_names), qids, stack)
        rng = _group_seed(settings.seed, group.key)
        group.permutations = rng.permuted(np.tile(labels, (settings.permutations, 1)), axis=1)
        groups.append(group)
    return groups, untestable


def zone_f(profiles: np.ndarray, labels: np.ndarray, n_zones: int) -> dict[str, np.ndarray]:
    """SS_total, SS_between, eta2 and F per item for one labelling of the populations.

    ``profiles``: (items, populations, dims); ``labels``: (populations,) zone codes.
    """
    n = profiles.shape[1]
    mean = profiles.mean(axis=1, keepdims=True)
    ss_total = ((profiles - mean) ** 2).sum(axis=(1, 2))
    ss_total = np.where(ss_total <= FLAT, 0.0, ss_total)  # float noise of identical profiles
    onehot = np.eye(n_zones)[labels]  # (populations, zones)
    counts = onehot.sum(axis=0)
    sums = np.einsum("ind,nz->izd", profiles, onehot)
    ss_between = ((sums**2).sum(axis=2) / counts).sum(axis=1) - n * (mean[:, 0, :] ** 2).sum(1)
    ss_between = np.clip(ss_between, 0.0, None)
    return {"ss_total": ss_total, "ss_between": ss_between,
            **_f_from_ss(ss_total, ss_between, n, n_zones)}  # fmt: skip


def _f_from_ss(ss_total: np.ndarray, ss_between: np.ndarray, n: int, g: int
               ) -> dict[str, np.ndarray]:  # fmt: skip
    tol = FLAT
    ss_within = np.clip(ss_total - ss_between, 0.0, None)
    flat = ss_total <= tol
    with np.errstate(divide="ignore", invalid="ignore"):
        eta2 = np.where(flat, 0.0, ss_between / np.where(flat, 1.0, ss_total))
        f_stat = (ss_between / (g - 1)) / (ss_within / (n - g))
    f_stat = np.where(flat, 0.0, np.where(ss_within <= tol * np.maximum(ss_total, 1.0),
                                          np.inf, f_stat))  # fmt: skip
    return {"eta2": eta2, "f_stat": f_stat}


def permutation_null(group: Group, chunk: int = 64) -> np.ndarray:
    """F of every item under every permutation: (items, permutations)."""
    x = group.profiles
    items, n, dims = x.shape
    mean = x.mean(axis=1)
    ss_total = ((x - mean[:, None, :]) ** 2).sum(axis=(1, 2))
    flat = x.transpose(1, 0, 2).reshape(n, items * dims)  # (populations, items*dims)
    counts = np.bincount(group.labels, minlength=group.n_zones).astype(float)
    grand = n * (mean**2).sum(axis=1)
    out = np.empty((items, len(group.permutations)))
    for start in range(0, len(group.permutations), chunk):
        perms = group.permutations[start : start + chunk]
        onehot = np.eye(group.n_zones)[perms]  # (b, populations, zones)
        stacked = onehot.transpose(0, 2, 1).reshape(-1, n)  # (b * zones, populations): BLAS
        zone_sums = (stacked @ flat).reshape(len(perms), group.n_zones, items, dims)
        ss_between = ((zone_sums**2).sum(axis=3) / counts[None, :, None]).sum(axis=1) - grand
        ss_between = np.clip(ss_between, 0.0, None)
        f = _f_from_ss(ss_total[None, :], ss_between, n, group.n_zones)["f_stat"]
        out[:, start : start + len(perms)] = f.T
    return out


def permutation_p(f_stat: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(1 + #{null >= F}) / (1 + B)`` per item (``null``: (items, B); ties within a
    relative 1e-9 count as >=, so that float noise cannot hide the identity permutation)."""
    b = null.shape[1]
    threshold = np.where(np.isfinite(f_stat), f_stat * (1 - 1e-9) - 1e-12, f_stat)
    return (1.0 + (null >= threshold[:, None]).sum(axis=1)) / (1.0 + b)


def adjust(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Benjamini-Hochberg q values (``fdr_bh``) or the raw p values (``none``)."""
    p_values = np.asarray(p_values, dtype=float)
    if correction == "none" or len(p_values) == 0:
        return p_values
    return multipletests(p_values, method="fdr_bh")[1]


@dataclass
class Analysis:
    """One respondent's zone statistics over its testable items."""

    groups: list[Group]
    nulls: list[np.ndarray]
    untestable: dict[str, str]
    table: pd.DataFrame  # question_id, n_countries, n_zones, spread, eta2, f_stat, p, q, flag

    @property
    def order(self) -> list[str]:
        """The testable items in group order (the order of :func:`bootstrap_statistics`)."""
        return [qid for group in self.groups for qid in group.question_ids]


def analyse(profiles: Profiles, zone_of: Mapping[str, str], settings: SensitivitySettings
            ) -> Analysis:  # fmt: skip
    """Zone statistics, permutation p values and flags of one respondent's profiles."""
    groups, untestable = build_groups(profiles, zone_of, settings)
    nulls, frames = [], []
    for group in groups:
        stats = zone_f(group.profiles, group.labels, group.n_zones)
        null = permutation_null(group)
        nulls.append(null)
        frames.append(pd.DataFrame({
            "question_id": group.question_ids,
            "n_countries": len(group.countries),
            "n_zones": group.n_zones,
            "spread": stats["ss_total"] / len(group.countries),
            "eta2": stats["eta2"],
            "f_stat": stats["f_stat"],
            "p_value": permutation_p(stats["f_stat"], null),
        }))  # fmt: skip
    columns = ["question_id", "n_countries", "n_zones", "spread", "eta2", "f_stat", "p_value"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    table["q_value"] = adjust(table["p_value"].to_numpy(float), settings.correction)
    table["flag"] = table["q_value"] < settings.alpha
    return Analysis(groups, nulls, untestable, table.sort_values("question_id", ignore_index=True))


def resample_indices(group: Group, rng: np.random.Generator) -> np.ndarray:
    """Population indices drawn with replacement within each zone (zone sizes kept)."""
    idx = np.empty(len(group.labels), dtype=int)
    for zone in range(group.n_zones):
        members = np.flatnonzero(group.labels == zone)
        idx[members] = rng.choice(members, size=len(members), replace=True)
    return idx


def bootstrap_statistics(analysis: Analysis, settings: SensitivitySettings, replicate: int
                         ) -> dict[str, np.ndarray]:  # fmt: skip
    """One resample of the populations: every testable item's spread, F, p (against its
    full-data null) and flag (p adjusted over the items), in ``analysis.order``."""
    spread, f_stat, p_value = [], [], []
    for group, null in zip(analysis.groups, analysis.nulls, strict=True):
        rng = _group_seed(settings.seed, group.key, 1, replicate)
        idx = resample_indices(group, rng)
        stats = zone_f(group.profiles[:, idx, :], group.labels, group.n_zones)
        spread.append(stats["ss_total"] / len(idx))
        f_stat.append(stats["f_stat"])
        p_value.append(permutation_p(stats["f_stat"], null))
    if not spread:
        empty = np.empty(0)
        return {"spread": empty, "f_stat": empty, "p_value": empty, "flag": empty.astype(bool)}
    p = np.concatenate(p_value)
    return {"spread": np.concatenate(spread), "f_stat": np.concatenate(f_stat), "p_value": p,
            "flag": adjust(p, settings.correction) < settings.alpha}  # fmt: skip


# ----------------------------------------------------------------------------- human side


def majority_differs(
    shares: Profiles, zone_of: Mapping[str, str], groups: Sequence[Group],
    settings: SensitivitySettings,
) -> dict[str, float]:  # fmt: skip
    """Per item: bootstrap probability that some zone's majority answer differs from all
    other zones' (populations resampled within zones)."""
    out: dict[str, float] = {}
    for group in groups:
        k = max(len(shares[q][group.countries[0]]) for q in group.question_ids)
        stack = np.zeros((len(group.question_ids), len(group.countries), k))
        for i, qid in enumerate(group.question_ids):
            for j, country in enumerate(group.countries):
                vector = shares[qid][country]
                stack[i, j, : len(vector)] = vector
        onehot = np.eye(group.n_zones)[group.labels]
        hits = np.zeros(len(group.question_ids))
        rng = _group_seed(settings.seed, group.key, 2)
        for _ in range(settings.bootstrap_resamples):
            idx = resample_indices(group, rng)
            zone_shares = np.einsum("ink,nz->izk", stack[:, idx, :], onehot)
            majority = zone_shares.argmax(axis=2)  # (items, zones)
            same = majority[:, :, None] == majority[:, None, :]
            same[:, np.arange(group.n_zones), np.arange(group.n_zones)] = False
            hits += (~same.any(axis=2)).any(axis=1)
        out.update(zip(group.question_ids, hits / settings.bootstrap_resamples, strict=True))
    return out


HUMAN_COLUMNS = [
    "question_id", "source", "category", "subcategory", "scale_type", "n_countries",
    "n_zones", "spread", "eta2", "f_stat", "p_value", "q_value", "sensitive",
    "majority_differs", "zone_means", "zone_majority", "testable", "note",
]  # fmt: skip


def human_sensitivity(
    human: pd.DataFrame,
    questions: pd.DataFrame,
    populations: pd.DataFrame,
    countries: Sequence[str],
    settings: SensitivitySettings,
) -> tuple[pd.DataFrame, Analysis, dict[str, str]]:
    """Per question: the people's zone statistics and the sensitive flag.

    Returns ``(table, analysis, zone_of)``.
    """
    zone_of = zone_mapping(populations, settings.zone_column)
    profiles, shares = human_profiles(human, questions, countries)
    analysis = analyse(profiles, zone_of, settings)
    majority = majority_differs(shares, zone_of, analysis.groups, settings)
    stats = analysis.table.set_index("question_id")
    scales = _scales(questions)
    meta = questions.set_index("question_id")
    rows = []
    for qid in sorted(profiles):
        lo, hi, stype = scales[qid]
        by_zone: dict[str, list[str]] = {}
        for country in sorted(profiles[qid]):
            if zone_of.get(country):
                by_zone.setdefault(zone_of[country], []).append(country)
        means = {z: float(np.mean([lo + (hi - lo) * profiles[qid][c][0] for c in cs]))
                 for z, cs in by_zone.items()} if stype == "ordinal" else {}  # fmt: skip
        majors = {z: int(lo + np.argmax(np.mean([shares[qid][c] for c in cs], axis=0)))
                  for z, cs in by_zone.items()}  # fmt: skip
        row = {"question_id": qid, "scale_type": stype, "zone_means": json.dumps(means),
               "zone_majority": json.dumps(majors)}  # fmt: skip
        for column in ("source", "category", "subcategory"):
            row[column] = meta.loc[qid, column] if column in meta.columns else None
        if qid in stats.index:
            s = stats.loc[qid]
            row.update(n_countries=int(s["n_countries"]), n_zones=int(s["n_zones"]),
                       spread=float(s["spread"]), eta2=float(s["eta2"]),
                       f_stat=float(s["f_stat"]), p_value=float(s["p_value"]),
                       q_value=float(s["q_value"]), sensitive=bool(s["flag"]),
                       majority_differs=majority.get(qid), testable=True, note="")  # fmt: skip
        else:
            row.update(n_countries=sum(len(v) for v in by_zone.values()),
                       n_zones=len(by_zone), sensitive=False, testable=False,
                       note=analysis.untestable.get(qid, ""))  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows, columns=HUMAN_COLUMNS)
    for column in ("spread", "eta2", "f_stat", "p_value", "q_value", "majority_differs"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    table["sensitive"] = table["sensitive"].astype(bool)
    table["testable"] = table["testable"].astype(bool)
    return table, analysis, zone_of


def zone_columns(populations: pd.DataFrame) -> list[str]:
    """The populations table's zone columns (every column but country, iso3, languages)."""
    return [c for c in populations.columns if c not in ("country", "iso3", "languages")]


def empty_outputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(human items, triage items, triage summary)`` of a benchmark without zones."""
    triage_columns = [*CELL_KEYS, "question_id", "n_countries", "n_zones", "spread", "eta2",
                      "f_stat", "p_value", "q_value", "flagged", "human_sensitive"]  # fmt: skip
    human = pd.DataFrame(columns=HUMAN_COLUMNS).astype({"testable": bool, "sensitive": bool})
    return human, pd.DataFrame(columns=triage_columns), pd.DataFrame(columns=list(CELL_KEYS))


def zone_mapping(populations: pd.DataFrame, zone_column: str) -> dict[str, str]:
    """population -> zone (empty zones left out)."""
    if zone_column not in populations.columns:
        raise SensitivityError(
            f"config key sensitivity.zone_column: {zone_column!r} is not a column of the "
            f"populations table (zone columns: {', '.join(zone_columns(populations)) or 'none'})"
        )
    out = {}
    for country, zone in zip(populations["country"], populations[zone_column], strict=True):
        if isinstance(zone, str) and zone.strip():
            out[str(country)] = zone.strip()
    return out


# ----------------------------------------------------------------------------- triage


def _classification(truth: np.ndarray, flagged: np.ndarray, weights: np.ndarray
                    ) -> dict[str, float]:  # fmt: skip
    tp = float(np.sum(weights * (truth & flagged)))
    fp = float(np.sum(weights * (~truth & flagged)))
    fn = float(np.sum(weights * (truth & ~flagged)))
    total = float(np.sum(weights))
    prevalence = (tp + fn) / total if total else math.nan
    rate = (tp + fp) / total if total else math.nan
    out = {
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else math.nan,
        "prevalence": prevalence,
        "flag_rate": rate,
    }
    out["always_f1"] = 2 * prevalence / (1 + prevalence) if prevalence == prevalence else math.nan
    denominator = prevalence + rate
    out["random_f1"] = 2 * prevalence * rate / denominator if denominator else math.nan
    return out


def weighted_auroc(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> float:
    """AUROC with integer-like item weights (bootstrap counts): the weighted probability that
    a positive scores above a negative, ties counting one half (the Mann-Whitney form, as
    ``sklearn.metrics.roc_auc_score`` with ``sample_weight``; vectorised here because the
    bootstrap calls it thousands of times). NaN without both classes."""
    keep = weights > 0
    truth, weights = truth[keep].astype(bool), weights[keep].astype(float)
    score = np.where(np.isfinite(score[keep]), score[keep], np.finfo(float).max)
    if truth.all() or not truth.any():
        return math.nan
    order = np.argsort(score, kind="mergesort")
    score, truth, weights = score[order], truth[order], weights[order]
    _, starts = np.unique(score, return_index=True)
    positive = np.add.reduceat(weights * truth, starts)
    negative = np.add.reduceat(weights * ~truth, starts)
    below = np.cumsum(negative) - negative
    pairs = positive.sum() * negative.sum()
    return float((np.sum(positive * below) + 0.5 * np.sum(positive * negative)) / pairs)


def triage_scores(truth: np.ndarray, flagged: np.ndarray, spread: np.ndarray,
                  f_stat: np.ndarray, weights: np.ndarray) -> dict[str, float]:  # fmt: skip
    """Precision, recall, F1, AUROCs and baselines of one (weighted) set of items."""
    out = _classification(truth, flagged, weights)
    out["auroc_spread"] = weighted_auroc(truth, spread, weights)
    out["auroc_zone"] = weighted_auroc(truth, f_stat, weights)
    return out


TRIAGE_METRICS = ("precision", "recall", "f1", "auroc_spread", "auroc_zone", "prevalence",
                  "flag_rate", "always_f1", "random_f1")  # fmt: skip


def interval_if_defined(point: float, values: Sequence[float]) -> tuple[float, float]:
    """The 95% percentile interval of ``values``, or none where the estimate itself is
    undefined (e.g. precision when nothing is flagged): resamples that happen to define it
    would otherwise print an interval around an empty estimate."""
    if point is None or not np.isfinite(point):
        return (math.nan, math.nan)
    return _interval(values)


def _interval(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (math.nan, math.nan)
    low, high = np.quantile(values, [0.025, 0.975])
    return (float(low), float(high))


def triage(
    human: Analysis,
    cells: Mapping[tuple[str, ...], Profiles],
    zone_of: Mapping[str, str],
    settings: SensitivitySettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per-item table, per-cell summary)`` of every model cell as a triage of the
    human zone-variable items."""
    item_frames, rows = [], []
    human_boot = [bootstrap_statistics(human, settings, r)
                  for r in range(settings.bootstrap_resamples)]  # fmt: skip
    truth_table = human.table.set_index("question_id")
    for cell in sorted(cells):
        model = analyse(cells[cell], zone_of, settings)
        table = model.table.rename(columns={"flag": "flagged"})
        table = table[table["question_id"].isin(truth_table.index)].copy()
        table["human_sensitive"] = truth_table.loc[table["question_id"], "flag"].to_numpy(bool)
        for key, value in zip(CELL_KEYS, cell, strict=True):
            table[key] = value
        item_frames.append(table)
        row: dict[str, Any] = dict(zip(CELL_KEYS, cell, strict=True))
        row["n_items"] = len(table)
        row["n_sensitive"] = int(table["human_sensitive"].sum())
        row["n_flagged"] = int(table["flagged"].sum())
        if table.empty:
            rows.append(row)
            continue
        point = triage_scores(table["human_sensitive"].to_numpy(bool),
                              table["flagged"].to_numpy(bool), table["spread"].to_numpy(float),
                              table["f_stat"].to_numpy(float), np.ones(len(table)))  # fmt: skip
        samples: dict[str, list[float]] = {m: [] for m in TRIAGE_METRICS}
        item_rng = np.random.default_rng([settings.seed, 3])
        in_model = {q: i for i, q in enumerate(model.order)}
        in_human = {q: i for i, q in enumerate(human.order)}
        common = [q for q in table["question_id"] if q in in_model and q in in_human]
        at_model = np.array([in_model[q] for q in common], dtype=int)
        at_human = np.array([in_human[q] for q in common], dtype=int)
        for replicate in range(settings.bootstrap_resamples):
            model_b = bootstrap_statistics(model, settings, replicate)
            human_b = human_boot[replicate]
            draws = item_rng.integers(0, len(common), size=len(common))
            weights = np.bincount(draws, minlength=len(common)).astype(float)
            scores = triage_scores(
                human_b["flag"][at_human], model_b["flag"][at_model],
                model_b["spread"][at_model], model_b["f_stat"][at_model], weights,
            )  # fmt: skip
            for metric in TRIAGE_METRICS:
                samples[metric].append(scores[metric])
        for metric in TRIAGE_METRICS:
            row[metric] = point[metric]
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = interval_if_defined(
                point[metric], samples[metric]
            )
        rows.append(row)
    items = pd.concat(item_frames, ignore_index=True) if item_frames else pd.DataFrame()
    order = [*CELL_KEYS, "question_id", "n_countries", "n_zones", "spread", "eta2", "f_stat",
             "p_value", "q_value", "flagged", "human_sensitive"]  # fmt: skip
    items = items[order] if not items.empty else pd.DataFrame(columns=order)
    return items, pd.DataFrame(rows)


# ----------------------------------------------------------------------------- surrogate


def persona_gain(items: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """NVAS(persona) - NVAS(neutral) per model, language, reasoning and population (and
    ``all``), paired on questions, with question-bootstrap intervals."""
    data = original_only(items)
    keys = ["model", "language", "reasoning", "question_id", "country"]
    persona = data.loc[data["framing"] == "persona", [*keys, "nvas"]].dropna(subset=["nvas"])
    neutral = data.loc[data["framing"] == "neutral", [*keys, "nvas"]].dropna(subset=["nvas"])
    pairs = persona.merge(neutral, on=keys, suffixes=("_persona", "_neutral"))
    pairs["gain"] = pairs["nvas_persona"] - pairs["nvas_neutral"]
    rows = []
    for (model, language, reasoning), group in pairs.groupby(
        ["model", "language", "reasoning"], sort=True
    ):
        strata = [("all", group), *group.groupby("country", sort=True)]
        for country, subset in strata:
            mean, low, high, k = cluster_bootstrap(
                subset["gain"], subset["question_id"], settings.bootstrap_resamples, settings.seed
            )
            rows.append({"model": model, "language": language, "reasoning": reasoning,
                         "country": country, "n_pairs": len(subset), "n_questions": k,
                         "nvas_persona": float(subset["nvas_persona"].mean()),
                         "nvas_neutral": float(subset["nvas_neutral"].mean()),
                         "gain": mean, "ci_low": low, "ci_high": high})  # fmt: skip
    columns = ["model", "language", "reasoning", "country", "n_pairs", "n_questions",
               "nvas_persona", "nvas_neutral", "gain", "ci_low", "ci_high"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


SURROGATE_ITEM_COLUMNS = [*CELL_KEYS, "question_id", "n_countries", "pearson_r", "p_value"]


def surrogate_items(items: pd.DataFrame) -> pd.DataFrame:
    """Per cell and ordinal question: Pearson r over populations between the model's answer
    (expected answer; the text answer where it has none) and the human mean."""
    data = original_only(items)
    data = data[data["framing"].isin(TRIAGE_FRAMINGS) & (data["scale_type"] == "ordinal")]
    data = data.assign(
        value=pd.to_numeric(data["expected"], errors="coerce").fillna(
            pd.to_numeric(data["answer"], errors="coerce")
        )
    )
    data = data.dropna(subset=["value", "human_mean"])
    rows = []
    for key, group in data.groupby([*CELL_KEYS, "question_id"], sort=True):
        row = dict(zip([*CELL_KEYS, "question_id"], key, strict=True))
        row["n_countries"] = len(group)
        r = p = math.nan
        if len(group) >= 3 and group["value"].nunique() > 1 and group["human_mean"].nunique() > 1:
            result = sps.pearsonr(group["value"], group["human_mean"])
            r, p = float(result.statistic), float(result.pvalue)
        row["pearson_r"], row["p_value"] = r, p
        rows.append(row)
    return pd.DataFrame(rows, columns=SURROGATE_ITEM_COLUMNS)


def surrogate_summary(per_item: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """Per cell: mean Pearson r over questions with a 95% bootstrap interval."""
    rows = []
    for key, group in per_item.groupby(list(CELL_KEYS), sort=True):
        mean, low, high, k = cluster_bootstrap(
            group["pearson_r"], group["question_id"], settings.bootstrap_resamples, settings.seed
        )
        valid = group["pearson_r"].dropna()
        rows.append({**dict(zip(CELL_KEYS, key, strict=True)), "n_questions": k,
                     "mean_r": mean, "ci_low": low, "ci_high": high,
                     "share_positive": float((valid > 0).mean()) if len(valid) else math.nan,
                     "n_undefined": int(group["pearson_r"].isna().sum())})  # fmt: skip
    columns = [*CELL_KEYS, "n_questions", "mean_r", "ci_low", "ci_high", "share_positive",
               "n_undefined"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
