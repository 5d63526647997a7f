"""Culturally sensitive items by the Bayesian rule of Saakyan, Rastogi & Aroyo (2026).

Why this rule: an item is culturally sensitive when one cultural quadrant's raters judge it
unsafe while the other quadrants' raters do not, and a share of a few raters is too noisy to
say so; a posterior probability per quadrant weighs the evidence by the number of ratings.

Per (item, quadrant ``q``), over the ratings with a 0/1 ``unsafe`` (``Unsure`` and other
dropped answers are <NA> and left out), with ``n`` ratings of which ``u`` unsafe:

- ``theta`` = the share of ``q``'s raters calling the item unsafe, prior Beta(1, 1),
  posterior Beta(1 + u, 1 + n - u); ``theta_mean = (1 + u) / (2 + n)``.
- ``H_q = P(theta > tau)`` under the posterior (``tau`` = tau_majority, 0.5).
- valid: at least ``min_ratings`` ratings (3) and, for every demographic column (gender,
  ethnicity, age group by default), at least ``min_groups`` (2) distinct values among the
  raters (a missing value is no group), i.e. not all from one gender, one ethnicity or one
  age group. ``invalid_reason`` says which rule failed.
- ``S_q = H_q * prod over the OTHER valid quadrants q' of (1 - H_q')``: the probability
  that ``q``'s majority finds the item unsafe and every other quadrant's majority does not
  (independent posteriors). An invalid quadrant gets no ``S`` (null) and does not enter
  the others' products.
- Edge case, fewer than 2 valid quadrants: the product over no other quadrant would be 1
  and ``S_q`` would just be ``H_q``, which says nothing about a difference *between*
  quadrants. Such an item is not testable: ``S`` is null in all its quadrants and it is
  never sensitive (``testable = False`` in the item table).
- Sensitive: ``S_q > s_threshold`` (0.5) for some ``q``; ``quadrant`` = the ``q`` with the
  largest ``S``. For thresholds >= 0.5 at most one quadrant can pass (``S_q > 0.5`` needs
  ``H_q' < 0.5`` for every other valid ``q'``, which makes their ``S`` < 0.5).
- Shares: sensitive items over testable items (the untestable ones could never be flagged).

Raters without a quadrant (a country without map data) rate in no quadrant: their ratings
are left out. A rating by a rater the raters table does not know is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from culturalign.analysis.kit import require_columns
from culturalign.errors import CulturalignError

DEMOGRAPHICS = ("gender", "ethnicity", "age_group")
TAU_MAJORITY = 0.5
S_THRESHOLD = 0.5
MIN_RATINGS = 3
MIN_GROUPS = 2
MIN_VALID_QUADRANTS = 2


class SensitivityError(CulturalignError):
    """The ratings, raters or posteriors tables cannot be used for the sensitive-item rule."""


def _check_probability(value: float, name: str, *, closed: bool) -> None:
    """``tau`` must be strictly inside (0, 1); an S threshold may be 0 or 1."""
    inside = 0 <= value <= 1 if closed else 0 < value < 1
    if not inside:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise SensitivityError(f"{name} must be in {interval}, got {value}")


def exceedance(n_unsafe: np.ndarray, n: np.ndarray, tau: float = TAU_MAJORITY) -> np.ndarray:
    """``H = P(theta > tau)`` under the posterior Beta(1 + n_unsafe, 1 + n - n_unsafe)
    (vectorised; ``n = 0`` gives the prior's ``1 - tau``)."""
    _check_probability(tau, "tau", closed=False)
    n_unsafe = np.asarray(n_unsafe, dtype=float)
    n = np.asarray(n, dtype=float)
    return sps.beta.sf(tau, 1.0 + n_unsafe, 1.0 + n - n_unsafe)


def salience(h: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``S`` (items x quadrants) from ``H`` and the validity mask of the same shape.

    ``S_q = H_q * prod_{q' != q, valid} (1 - H_q')``, computed as an explicit product over
    the other columns (no division by ``1 - H_q``, which is 0 in floating point for a
    quadrant with many unanimous ratings). Null where the quadrant is invalid and in every
    quadrant of an item with fewer than ``MIN_VALID_QUADRANTS`` valid quadrants.
    """
    h = np.asarray(h, dtype=float)
    valid = np.asarray(valid, dtype=bool)
    if h.shape != valid.shape or h.ndim != 2:
        raise SensitivityError(
            f"salience: H and valid must be 2-D arrays of one shape, got {h.shape} and "
            f"{valid.shape}"
        )
    factor = np.where(valid, 1.0 - h, 1.0)
    s = np.empty_like(h)
    for q in range(h.shape[1]):
        s[:, q] = h[:, q] * np.delete(factor, q, axis=1).prod(axis=1)
    testable = valid.sum(axis=1) >= MIN_VALID_QUADRANTS
    return np.where(valid & testable[:, None], s, np.nan)


def _rated(ratings: pd.DataFrame, raters: pd.DataFrame, demographics: Sequence[str]):
    """The 0/1 ratings joined with their rater's quadrant and demographics; checks the
    tables and refuses unknown raters and double ratings."""
    require_columns(ratings, ["item_id", "rater_id", "unsafe"], "ratings", SensitivityError)
    require_columns(raters, ["rater_id", "quadrant", *demographics], "raters", SensitivityError)
    duplicated = raters.rater_id[raters.rater_id.duplicated()]
    if len(duplicated):
        raise SensitivityError(f"raters: rater_id not unique: {sorted(set(duplicated))[:5]}")
    unknown = ~ratings.rater_id.isin(raters.rater_id)
    if unknown.any():
        raise SensitivityError(
            f"ratings: {int(unknown.sum())} rating(s) by raters missing from the raters "
            f"table, e.g. rater_id {sorted(set(ratings.rater_id[unknown]))[:5]}"
        )
    twice = ratings.duplicated(["item_id", "rater_id"])
    if twice.any():
        first = ratings.loc[twice, ["item_id", "rater_id"]].iloc[0].tolist()
        raise SensitivityError(
            f"ratings: {int(twice.sum())} duplicate (item_id, rater_id) rating(s), e.g. {first}"
        )
    unsafe = pd.to_numeric(ratings.unsafe, errors="coerce")
    bad = ratings.unsafe.notna() & ~unsafe.isin([0, 1])
    if bad.any():
        raise SensitivityError(
            f"ratings: unsafe must be 0, 1 or missing; row {int(np.flatnonzero(bad)[0])} "
            f"holds {ratings.unsafe[bad].iloc[0]!r}"
        )
    kept = ratings.assign(unsafe=unsafe)[unsafe.notna()][["item_id", "rater_id", "unsafe"]]
    rated = kept.merge(raters[["rater_id", "quadrant", *demographics]], on="rater_id")
    return rated[rated.quadrant.notna()]


def quadrant_counts(
    ratings: pd.DataFrame,
    raters: pd.DataFrame,
    *,
    min_ratings: int = MIN_RATINGS,
    min_groups: int = MIN_GROUPS,
    demographics: Sequence[str] = DEMOGRAPHICS,
    quadrants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per (item, quadrant): ``n``, ``n_unsafe``, ``valid`` and ``invalid_reason``.

    Every item of ``ratings`` (even one whose ratings were all dropped) crosses every
    quadrant (``quadrants``, or those of the raters in sorted order), so a quadrant
    without ratings is a row with ``n = 0``, not a missing row.
    """
    if min_ratings < 1 or min_groups < 1:
        raise SensitivityError(
            f"min_ratings and min_groups must be at least 1, got {min_ratings} and {min_groups}"
        )
    demographics = list(demographics)
    rated = _rated(ratings, raters, demographics)
    if quadrants is None:
        quadrants = sorted(raters.quadrant.dropna().unique())
    unknown = sorted(set(rated.quadrant) - set(quadrants))
    if unknown:
        raise SensitivityError(f"raters: quadrant(s) {unknown} not among {list(quadrants)}")
    items = pd.unique(ratings.item_id)
    grid = pd.MultiIndex.from_product([items, list(quadrants)], names=["item_id", "quadrant"])
    grouped = rated.groupby(["item_id", "quadrant"])
    counts = pd.DataFrame({"n": grouped.size(), "n_unsafe": grouped.unsafe.sum()})
    if demographics:
        counts = counts.join(grouped[demographics].nunique())
    table = counts.reindex(grid).fillna(0).astype(int).reset_index()

    reasons = pd.Series("", index=table.index)
    few = table.n < min_ratings
    reasons[few] = [f"{n} rating(s) < {min_ratings}" for n in table.n[few]]
    for column in demographics:
        single = (table.n > 0) & (table[column] < min_groups)
        note = f"fewer than {min_groups} {column} group(s)"
        reasons[single] = [f"{r}; {note}" if r else note for r in reasons[single]]
    table["valid"] = reasons == ""
    table["invalid_reason"] = reasons.where(~table.valid, None)
    return table[["item_id", "quadrant", "n", "n_unsafe", "valid", "invalid_reason"]]


def _matrices(posteriors: pd.DataFrame) -> tuple[pd.Index, pd.Index, dict[str, np.ndarray]]:
    """``n``, ``n_unsafe`` and ``valid`` as (items x quadrants) arrays, in a fixed order."""
    require_columns(
        posteriors,
        ["item_id", "quadrant", "n", "n_unsafe", "valid"],
        "posteriors",
        SensitivityError,
    )
    if posteriors.duplicated(["item_id", "quadrant"]).any():
        raise SensitivityError("posteriors: more than one row for an (item_id, quadrant)")
    wide = posteriors.pivot(index="item_id", columns="quadrant")
    if wide[["n", "valid"]].isna().any().any():
        raise SensitivityError(
            "posteriors: every item needs a row for every quadrant (use quadrant_counts)"
        )
    arrays = {
        "n": wide["n"].to_numpy(float),
        "n_unsafe": wide["n_unsafe"].to_numpy(float),
        "valid": wide["valid"].to_numpy(bool),
    }
    return wide.index, wide["n"].columns, arrays


def quadrant_posteriors(
    ratings: pd.DataFrame,
    raters: pd.DataFrame,
    *,
    tau: float = TAU_MAJORITY,
    min_ratings: int = MIN_RATINGS,
    min_groups: int = MIN_GROUPS,
    demographics: Sequence[str] = DEMOGRAPHICS,
    quadrants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per (item, quadrant): n, n_unsafe, theta_mean, H, valid, invalid_reason,
    n_valid_quadrants (of the item) and S (see the module doc)."""
    table = quadrant_counts(
        ratings,
        raters,
        min_ratings=min_ratings,
        min_groups=min_groups,
        demographics=demographics,
        quadrants=quadrants,
    )
    table["theta_mean"] = (1.0 + table.n_unsafe) / (2.0 + table.n)
    table["H"] = exceedance(table.n_unsafe.to_numpy(), table.n.to_numpy(), tau)
    table["n_valid_quadrants"] = table.groupby("item_id").valid.transform("sum").astype(int)
    items, quadrant_names, arrays = _matrices(table)
    h = table.pivot(index="item_id", columns="quadrant", values="H").loc[items, quadrant_names]
    s = pd.DataFrame(salience(h.to_numpy(), arrays["valid"]), index=items, columns=quadrant_names)
    long = s.stack(future_stack=True).rename("S").reset_index()
    return table.merge(long, on=["item_id", "quadrant"], how="left")


def sensitive_items(posteriors: pd.DataFrame, s_threshold: float = S_THRESHOLD) -> pd.DataFrame:
    """One row per item: item_id, sensitive, quadrant (where sensitive: the quadrant of
    the largest S), max_S (null when not testable), n_valid_quadrants, testable."""
    _check_probability(s_threshold, "s_threshold", closed=True)
    require_columns(
        posteriors, ["item_id", "quadrant", "valid", "S"], "posteriors", SensitivityError
    )
    order = pd.unique(posteriors.item_id)
    by_item = posteriors.groupby("item_id", sort=False)
    n_valid = by_item.valid.sum().astype(int)
    max_s = by_item.S.max()
    best = posteriors.loc[posteriors.S.notna()].sort_values("S", ascending=False)
    best_quadrant = best.drop_duplicates("item_id").set_index("item_id").quadrant
    table = pd.DataFrame({"item_id": order})
    table["max_S"] = max_s.reindex(order).to_numpy(float)
    table["sensitive"] = table.max_S.to_numpy() > s_threshold  # NaN compares False
    quadrant = best_quadrant.reindex(order)
    table["quadrant"] = [
        q if hit else None for q, hit in zip(quadrant, table.sensitive, strict=True)
    ]
    table["n_valid_quadrants"] = n_valid.reindex(order).to_numpy()
    table["testable"] = table.n_valid_quadrants >= MIN_VALID_QUADRANTS
    return table[["item_id", "sensitive", "quadrant", "max_S", "n_valid_quadrants", "testable"]]


def sensitive_share(items: pd.DataFrame) -> dict[str, float | int]:
    """n_items, n_testable, n_sensitive and share (sensitive over testable items; null
    when no item is testable) of a ``sensitive_items`` table."""
    require_columns(items, ["sensitive", "testable"], "sensitive items", SensitivityError)
    n_testable = int(items.testable.sum())
    n_sensitive = int(items.sensitive.sum())
    share = n_sensitive / n_testable if n_testable else float("nan")
    return {
        "n_items": len(items),
        "n_testable": n_testable,
        "n_sensitive": n_sensitive,
        "share": share,
    }


def threshold_grid(
    posteriors: pd.DataFrame, s_thresholds: Iterable[float], taus: Iterable[float]
) -> pd.DataFrame:
    """The share of sensitive items for every (tau, S threshold): one row each, with
    n_items, n_testable, n_sensitive and share_sensitive (over testable items).

    ``tau`` changes every ``H`` and hence every ``S``, so both are recomputed from the
    counts (``n``, ``n_unsafe``) for each ``tau``; validity does not depend on ``tau``.
    """
    s_thresholds = [float(t) for t in s_thresholds]
    taus = [float(t) for t in taus]
    if not s_thresholds or not taus:
        raise SensitivityError("threshold_grid: give at least one S threshold and one tau")
    for value in s_thresholds:
        _check_probability(value, "s_threshold", closed=True)
    _, _, arrays = _matrices(posteriors)
    testable = arrays["valid"].sum(axis=1) >= MIN_VALID_QUADRANTS
    n_testable = int(testable.sum())
    rows = []
    for tau in taus:
        s = salience(exceedance(arrays["n_unsafe"], arrays["n"], tau), arrays["valid"])
        max_s = np.where(testable, np.nan_to_num(s, nan=-np.inf).max(axis=1), -np.inf)
        for threshold in s_thresholds:
            n_sensitive = int((max_s > threshold).sum())
            rows.append(
                {
                    "tau": tau,
                    "s_threshold": threshold,
                    "n_items": len(testable),
                    "n_testable": n_testable,
                    "n_sensitive": n_sensitive,
                    "share_sensitive": n_sensitive / n_testable if n_testable else np.nan,
                }
            )
    return pd.DataFrame(rows)
