"""Countries as points in answer space: humans and models in one PCA projection.

Answer space: one axis per ordinal question, the value being a country's answer on that
question's scale — the human mean for people, the model's answer for a model asked to
speak as an average person from that country (framing ``persona`` by default). Where the
text gave no answer (refusal, unparsable) the probability-weighted ``expected`` answer is
used instead; where neither exists the cell is imputed with the human mean across
countries (standardised value 0) and counted in ``n_imputed``.

Nominal questions are left out: the mean of unordered option codes has no geometry.

Standardisation per question, for humans and models alike (so both live in the same
coordinates): subtract the *human* mean across countries, then divide by the question's
scale range (``scaling="range"``, the default: one unit = the whole answer scale, so every
question weighs the same and a 1-10 item does not outweigh a yes/no item) or by the human
standard deviation across countries (``scaling="zscore"``: classic z-scores; a question on
which people nearly agree then magnifies any model deviation, which can blow the collapse
index far above 1). Questions on which all countries' people agree exactly (sd 0) carry no
human spread and are dropped. The
principal axes are fitted on the human points only and the model points are projected onto
them: the map then shows the models in the space of human variation (fitting on the union
would let a model's own quirks define the axes).

Collapse index = mean pairwise Euclidean distance between the model's country points ÷ the
same for the humans, computed in the full standardised space (all retained questions, not
only the two plotted components). 1: the model's countries differ as much as the people
do; → 0: the model answers the same for every country (one monolith); > 1: it exaggerates
the differences. With fewer than 3 countries or questions the ratio rests on one or two
distances and is flagged in ``note``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LOG = logging.getLogger("culturalign.analysis.survey.pca")

COORDINATE_COLUMNS: tuple[str, ...] = (
    "source",
    "model",
    "language",
    "framing",
    "reasoning",
    "country",
    "pc1",
    "pc2",
    "n_questions",
    "n_imputed",
)
COLLAPSE_COLUMNS: tuple[str, ...] = (
    "model",
    "language",
    "framing",
    "reasoning",
    "collapse_index",
    "model_spread",
    "human_spread",
    "n_countries",
    "n_questions",
    "n_imputed",
    "explained_pc1",
    "explained_pc2",
    "note",
)


def mean_pairwise_distance(points: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows (nan with fewer than 2 rows)."""
    points = np.asarray(points, dtype=float)
    if len(points) < 2:
        return float("nan")
    distances = [
        float(np.linalg.norm(points[i] - points[j]))
        for i, j in itertools.combinations(range(len(points)), 2)
    ]
    return float(np.mean(distances))


def collapse_index(model_points: np.ndarray, human_points: np.ndarray) -> float:
    """Mean pairwise distance of the model's countries ÷ the humans' (same coordinates)."""
    human = mean_pairwise_distance(human_points)
    if not np.isfinite(human) or human == 0:
        return float("nan")
    return mean_pairwise_distance(model_points) / human


def small_note(n_countries: int, n_questions: int) -> str:
    """Why a collapse index is not meaningful (empty when it is)."""
    notes = []
    if n_countries < 3:
        notes.append(f"only {n_countries} countries")
    if n_questions < 3:
        notes.append(f"only {n_questions} questions")
    return "; ".join(notes) + (": collapse index not meaningful" if notes else "")


def human_matrix(
    human: pd.DataFrame,
    questions: pd.DataFrame,
    question_ids: Sequence[str] | None = None,
    countries: Sequence[str] | None = None,
) -> pd.DataFrame:
    """countries × ordinal questions: the human mean answer (sum of option × share).

    Only questions with data for every selected country are kept.
    """
    ordinal = questions.loc[questions["scale_type"] == "ordinal", "question_id"]
    keep = set(ordinal) if question_ids is None else set(ordinal) & set(question_ids)
    rows = human[human["question_id"].isin(keep)]
    if countries is not None:
        rows = rows[rows["country"].isin(countries)]
    means = (
        rows.assign(weighted=rows["option"] * rows["share"])
        .groupby(["country", "question_id"])["weighted"]
        .sum()
        .unstack("question_id")
    )
    if countries is not None:
        means = means.reindex([c for c in countries if c in means.index])
    complete = means.dropna(axis=1)
    dropped = sorted(set(means.columns) - set(complete.columns))
    if dropped:
        LOG.info("PCA: dropped %d question(s) lacking human data for some country", len(dropped))
    return complete.sort_index(axis=0).sort_index(axis=1)


def model_matrices(
    items: pd.DataFrame, framing: str = "persona"
) -> dict[tuple[str, str, str], pd.DataFrame]:
    """(model, language, reasoning) -> countries × questions of the model's answer
    (``answer``, or ``expected`` where the text gave none)."""
    rows = items[items["framing"] == framing].copy()
    rows["value"] = rows["answer"].astype("Float64").fillna(rows["expected"].astype("Float64"))
    rows["value"] = rows["value"].astype(float)
    out = {}
    for key, group in rows.groupby(["model", "language", "reasoning"], sort=True):
        out[key] = group.pivot_table(
            index="country", columns="question_id", values="value", aggfunc="mean", dropna=False
        )
    return out


@dataclass
class PcaResult:
    """The projection's outputs."""

    coordinates: pd.DataFrame
    collapse: pd.DataFrame
    explained: tuple[float, float]


def run_pca(
    items: pd.DataFrame,
    human: pd.DataFrame,
    questions: pd.DataFrame,
    framing: str = "persona",
    question_ids: Sequence[str] | None = None,
    countries: Sequence[str] | None = None,
    scaling: str = "range",
) -> PcaResult:
    """Fit the PCA on the humans, project every (model, language, reasoning), compute
    collapse indices. See the module docstring for every choice."""
    from sklearn.decomposition import PCA

    matrices = model_matrices(items, framing)
    if countries is None:
        countries = sorted(set(items.loc[items["framing"] == framing, "country"].dropna()))
    if question_ids is None:
        question_ids = sorted(set(items["question_id"]))
    human_means = human_matrix(human, questions, question_ids, countries)
    centre = human_means.mean(axis=0)
    spread = human_means.std(axis=0, ddof=0)
    varying = spread[spread > 0].index
    human_means = human_means[varying]
    centre, spread = centre[varying], spread[varying]
    if scaling == "range":
        bounds = questions.set_index("question_id").loc[list(varying)]
        spread = (bounds["scale_max"] - bounds["scale_min"]).astype(float)
    elif scaling != "zscore":
        raise ValueError(f"PCA scaling must be 'range' or 'zscore', not {scaling!r}")
    human_z = ((human_means - centre) / spread).to_numpy()
    n_countries, n_questions = human_z.shape
    components = min(2, n_countries, n_questions)
    coordinates: list[dict] = []
    collapse: list[dict] = []
    explained = (float("nan"), float("nan"))
    if components == 0:
        LOG.warning("PCA: no countries or varying ordinal questions; nothing to project")
        return PcaResult(
            pd.DataFrame(columns=list(COORDINATE_COLUMNS)),
            pd.DataFrame(columns=list(COLLAPSE_COLUMNS)),
            explained,
        )
    pca = PCA(n_components=components).fit(human_z)
    ratios = list(pca.explained_variance_ratio_) + [float("nan")] * (2 - components)
    explained = (float(ratios[0]), float(ratios[1]))

    def project(z: np.ndarray) -> np.ndarray:
        projected = pca.transform(z)
        if projected.shape[1] < 2:
            projected = np.column_stack([projected, np.zeros(len(projected))])
        return projected

    for country, (pc1, pc2) in zip(human_means.index, project(human_z), strict=True):
        coordinates.append(
            {
                "source": "human",
                "model": None,
                "language": None,
                "framing": None,
                "reasoning": None,
                "country": country,
                "pc1": float(pc1),
                "pc2": float(pc2),
                "n_questions": n_questions,
                "n_imputed": 0,
            }  # fmt: skip
        )
    human_spread = mean_pairwise_distance(human_z)
    note = small_note(n_countries, n_questions)
    for (model, language, reasoning), matrix in matrices.items():
        matrix = matrix.reindex(index=human_means.index, columns=human_means.columns)
        z = ((matrix - centre) / spread).to_numpy(dtype=float, copy=True)
        missing = np.isnan(z)
        z[missing] = 0.0
        per_country_imputed = missing.sum(axis=1)
        for country, (pc1, pc2), imputed in zip(
            human_means.index, project(z), per_country_imputed, strict=True
        ):
            coordinates.append(
                {"source": "model", "model": model, "language": language, "framing": framing,
                 "reasoning": reasoning, "country": country, "pc1": float(pc1),
                 "pc2": float(pc2), "n_questions": n_questions, "n_imputed": int(imputed)}
            )  # fmt: skip
        model_spread = mean_pairwise_distance(z)
        index = model_spread / human_spread if human_spread > 0 else float("nan")
        row_note = note
        if missing.any():
            share = missing.mean()
            extra = f"{int(missing.sum())} of {missing.size} cells imputed ({share:.0%})"
            row_note = f"{row_note}; {extra}" if row_note else extra
        collapse.append(
            {"model": model, "language": language, "framing": framing, "reasoning": reasoning,
             "collapse_index": index, "model_spread": model_spread,
             "human_spread": human_spread, "n_countries": n_countries,
             "n_questions": n_questions, "n_imputed": int(missing.sum()),
             "explained_pc1": explained[0], "explained_pc2": explained[1], "note": row_note}
        )  # fmt: skip
    return PcaResult(
        pd.DataFrame(coordinates, columns=list(COORDINATE_COLUMNS)),
        pd.DataFrame(collapse, columns=list(COLLAPSE_COLUMNS)),
        explained,
    )
