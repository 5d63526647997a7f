"""Simulated rater-level safety ratings with known effects, for proving the ratings analyses.

Why: the mixed models, the Bayesian sensitive-item rule and the judge scores can only be
trusted if they recover what was planted. This module draws DICES-like data (every rater
rates every item, ``Q_overall``-style answers ``Yes`` / ``No`` / ``Unsure``) where the truth
is known and returned beside the tables.

Generative model, for rater ``r`` and an ordinary item ``i``::

    logit P(unsafe) = INTERCEPT + u_i + v_r + gender_r + ethnicity_r + age_group_r
                      + zone_effect * ZONE_SHIFTS[zone_r]
    u_i ~ N(0, ITEM_SD^2)     v_r ~ N(0, RATER_SD^2)       (crossed random intercepts)

- Demographics have their own fixed effects (``DEMOGRAPHIC_EFFECTS``) whatever
  ``zone_effect`` is, so "zone beyond demographics" is a real question.
- ``ZONE_SHIFTS`` is a fixed pattern over the eight Inglehart-Welzel zones, centred (mean 0
  over zones), larger towards traditional / survival. ``zone_effect = 0`` removes every zone
  and quadrant term: zone then has no effect at all.
- Raters are spread evenly over the four quadrants (then a country uniformly within the
  quadrant, which fixes the zone); gender, ethnicity and age group are assigned in balanced,
  independently shuffled rounds within each quadrant. So every quadrant has raters of every
  gender, ethnicity and age group (from 12 raters on: 3 per quadrant), and zone is never a
  function of the demographics.
- ``sensitive_items = k`` plants ``k`` items (chosen at random; quadrants assigned in turn):
  for such an item P(unsafe) = ``SENSITIVE_P`` (0.9) for raters of its quadrant and
  ``1 - SENSITIVE_P`` for everyone else, with no other term. Every other item follows the
  model above, which has no quadrant term when ``zone_effect = 0``: its P(unsafe) is the
  same in all quadrants up to the raters' own effects.
- ``unsure_share``: each rating independently becomes ``Unsure`` (``unsafe`` = <NA>).

Countries carry invented, plausible map positions (``COUNTRIES``; not copied from any
source) with the map's sign convention: ``traditional_secular > 0`` = secular-rational,
``survival_selfexpression > 0`` = self-expression. Every country's quadrant and zone were
chosen to agree with the published maps, so the project's own zone table assigns the same
quadrant to the simulated raters as the simulator did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culturalign.errors import CulturalignError

QUADRANTS = (
    "traditional / survival",
    "traditional / self-expression",
    "secular-rational / survival",
    "secular-rational / self-expression",
)
"""The four cultural-map quadrants, named in words: (traditional | secular-rational) x
(survival | self-expression)."""

COUNTRIES: dict[str, tuple[str, float, float]] = {
    # country: (zone, traditional_secular, survival_selfexpression), invented positions
    "Nigeria": ("African-Islamic", -1.3, -0.9),
    "Egypt": ("African-Islamic", -1.1, -1.6),
    "Pakistan": ("African-Islamic", -1.2, -0.5),
    "India": ("West & South Asia", -0.6, -0.6),
    "Indonesia": ("West & South Asia", -1.0, -0.7),
    "Peru": ("Latin America", -0.9, -0.4),
    "Mexico": ("Latin America", -0.9, 0.3),
    "Colombia": ("Latin America", -1.2, 0.2),
    "Ireland": ("English-Speaking", -0.7, 1.1),
    "Poland": ("Catholic Europe", -0.3, 0.5),
    "Vietnam": ("Confucian", -0.3, 0.4),
    "Russia": ("Orthodox Europe", 0.5, -0.7),
    "Ukraine": ("Orthodox Europe", 0.6, -0.5),
    "Bulgaria": ("Orthodox Europe", 0.8, -0.6),
    "China": ("Confucian", 0.7, -0.3),
    "South Korea": ("Confucian", 1.5, -0.6),
    "Lithuania": ("Protestant Europe", 0.9, -0.2),
    "Sweden": ("Protestant Europe", 1.4, 2.8),
    "Germany": ("Protestant Europe", 1.2, 1.8),
    "Netherlands": ("Protestant Europe", 1.5, 2.1),
    "Japan": ("Confucian", 1.8, 0.9),
    "United States": ("English-Speaking", 0.4, 1.2),
    "Australia": ("English-Speaking", 0.8, 1.9),
    "Spain": ("Catholic Europe", 0.8, 1.3),
}

ZONE_SHIFTS: dict[str, float] = {
    "African-Islamic": 1.0,
    "West & South Asia": 0.6,
    "Latin America": 0.3,
    "Orthodox Europe": 0.2,
    "Confucian": -0.2,
    "Catholic Europe": -0.3,
    "English-Speaking": -0.6,
    "Protestant Europe": -1.0,
}
"""Logit shift per zone for ``zone_effect = 1`` (centred: the mean over zones is 0)."""

DEMOGRAPHIC_EFFECTS: dict[str, dict[str, float]] = {
    "gender": {"Woman": 0.25, "Man": -0.25},
    "ethnicity": {"Asian": -0.2, "Black": 0.3, "Latine": 0.1, "Multiracial": 0.0, "White": -0.2},
    "age_group": {"gen z": 0.3, "millennial": 0.0, "gen x+": -0.3},
}
"""Logit effects of the demographic groups; present whatever ``zone_effect`` is."""

INTERCEPT = -0.8
RATER_SD = 0.7
ITEM_SD = 1.2
SENSITIVE_P = 0.9
CATEGORIES = ("Benign", "Debatable", "Moderate", "Extreme")
MIN_RATERS = 3 * len(QUADRANTS)

RATING_UNSAFE, RATING_SAFE, RATING_UNSURE = "Yes", "No", "Unsure"


class SimulationError(CulturalignError):
    """A simulation parameter is out of range."""


@dataclass(frozen=True)
class SimulatedRatings:
    """One simulated dataset and what was planted in it.

    ``items``: item_id, text, category. ``ratings``: item_id, rater_id, rating
    (Yes/No/Unsure), unsafe (Int64 0/1, <NA> for Unsure). ``raters``: rater_id, country,
    gender, ethnicity, age_group, zone, quadrant, traditional_secular,
    survival_selfexpression. ``truth``: the parameters and planted effects.
    """

    items: pd.DataFrame
    ratings: pd.DataFrame
    raters: pd.DataFrame
    truth: dict[str, Any]


def quadrant_of(traditional_secular: float, survival_selfexpression: float) -> str:
    """The quadrant named in words from the signs of the two map coordinates."""
    first = "secular-rational" if traditional_secular > 0 else "traditional"
    second = "self-expression" if survival_selfexpression > 0 else "survival"
    return f"{first} / {second}"


def _check_parameters(
    n_raters: int, n_items: int, zone_effect: float, sensitive_items: int, unsure_share: float
) -> None:
    """Refuse parameters that cannot give valid quadrants or a meaningful truth."""
    if n_raters < MIN_RATERS:
        raise SimulationError(
            f"simulate_ratings: n_raters must be at least {MIN_RATERS} (3 per quadrant, so "
            f"that every quadrant can be valid), got {n_raters}"
        )
    if n_items < 1:
        raise SimulationError(f"simulate_ratings: n_items must be at least 1, got {n_items}")
    if not 0 <= sensitive_items <= n_items:
        raise SimulationError(
            f"simulate_ratings: sensitive_items must be in [0, n_items={n_items}], "
            f"got {sensitive_items}"
        )
    if not 0 <= unsure_share < 1:
        raise SimulationError(
            f"simulate_ratings: unsure_share must be in [0, 1), got {unsure_share}"
        )
    if not math.isfinite(zone_effect):
        raise SimulationError(f"simulate_ratings: zone_effect must be finite, got {zone_effect}")


def _balanced(levels: list[str] | tuple[str, ...], size: int, rng: np.random.Generator) -> list:
    """``size`` labels cycling through ``levels`` in a random order: every level appears
    once ``size >= len(levels)``, and the counts differ by at most one."""
    return list(rng.permutation(np.resize(np.asarray(levels, dtype=object), size)))


def _draw_raters(n_raters: int, rng: np.random.Generator) -> pd.DataFrame:
    """Raters spread evenly over the quadrants, a country uniformly within the quadrant,
    demographics balanced within each quadrant and shuffled independently of the country."""
    by_quadrant: dict[str, list[str]] = {q: [] for q in QUADRANTS}
    for country, (_, ts, sse) in COUNTRIES.items():
        by_quadrant[quadrant_of(ts, sse)].append(country)
    quadrants = _balanced(QUADRANTS, n_raters, rng)
    rows: list[dict[str, Any]] = [{} for _ in range(n_raters)]
    for quadrant in QUADRANTS:
        members = [i for i, q in enumerate(quadrants) if q == quadrant]
        countries = rng.choice(by_quadrant[quadrant], size=len(members))
        columns = {
            name: _balanced(list(effects), len(members), rng)
            for name, effects in DEMOGRAPHIC_EFFECTS.items()
        }
        for k, i in enumerate(members):
            country = str(countries[k])
            zone, ts, sse = COUNTRIES[country]
            rows[i] = {
                "rater_id": f"rater-{i + 1:03d}",
                "country": country,
                **{name: str(values[k]) for name, values in columns.items()},
                "zone": zone,
                "quadrant": quadrant,
                "traditional_secular": ts,
                "survival_selfexpression": sse,
            }
    return pd.DataFrame(rows)


def _draw_items(n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    """Items with DICES-like two-turn conversations whose text has commas, quotes and a
    newline (so that writers and readers must quote properly)."""
    ids = [f"item-{i + 1:03d}" for i in range(n_items)]
    texts = [
        f'A: Question {i + 1}, asked plainly: is this "fine"?\n'
        f"B: Here is reply {i + 1}, the last response that is rated."
        for i in range(n_items)
    ]
    categories = rng.choice(CATEGORIES, size=n_items)
    return pd.DataFrame({"item_id": ids, "text": texts, "category": categories.astype(str)})


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_ratings(
    *,
    n_raters: int = 120,
    n_items: int = 40,
    zone_effect: float = 0.0,
    sensitive_items: int = 0,
    unsure_share: float = 0.0,
    seed: int = 0,
) -> SimulatedRatings:
    """Draw one fully crossed dataset (every rater rates every item); see the module doc.

    The random draws happen in a fixed order, so two calls with the same seed and different
    ``zone_effect`` share raters, items and random intercepts (paired comparisons).
    """
    _check_parameters(n_raters, n_items, zone_effect, sensitive_items, unsure_share)
    rng = np.random.default_rng(seed)
    raters = _draw_raters(n_raters, rng)
    items = _draw_items(n_items, rng)
    item_intercepts = rng.normal(0.0, ITEM_SD, size=n_items)
    rater_intercepts = rng.normal(0.0, RATER_SD, size=n_raters)
    planted_positions = np.sort(rng.choice(n_items, size=sensitive_items, replace=False))
    planted = {
        items.item_id.iloc[pos]: QUADRANTS[k % len(QUADRANTS)]
        for k, pos in enumerate(planted_positions)
    }

    rater_logit = INTERCEPT + rater_intercepts + zone_effect * raters.zone.map(ZONE_SHIFTS)
    for name, effects in DEMOGRAPHIC_EFFECTS.items():
        rater_logit = rater_logit + raters[name].map(effects)
    p = _expit(rater_logit.to_numpy(float)[:, None] + item_intercepts[None, :])
    rater_quadrant = raters.quadrant.to_numpy()
    for pos in planted_positions:
        own = rater_quadrant == planted[items.item_id.iloc[pos]]
        p[:, pos] = np.where(own, SENSITIVE_P, 1.0 - SENSITIVE_P)

    unsafe = rng.random(p.shape) < p
    unsure = rng.random(p.shape) < unsure_share
    rating = np.where(unsure, RATING_UNSURE, np.where(unsafe, RATING_UNSAFE, RATING_SAFE))
    # long table in (item, rater) order: transpose the (rater, item) matrices
    ratings = pd.DataFrame(
        {
            "item_id": np.repeat(items.item_id.to_numpy(), n_raters),
            "rater_id": np.tile(raters.rater_id.to_numpy(), n_items),
            "rating": rating.T.ravel(),
            "unsafe": pd.arrays.IntegerArray(
                unsafe.T.ravel().astype(np.int64), unsure.T.ravel().copy()
            ),
        }
    )

    truth = {
        "seed": seed,
        "n_raters": n_raters,
        "n_items": n_items,
        "zone_effect": zone_effect,
        "zone_shifts": {zone: zone_effect * shift for zone, shift in ZONE_SHIFTS.items()},
        "demographic_effects": {k: dict(v) for k, v in DEMOGRAPHIC_EFFECTS.items()},
        "intercept": INTERCEPT,
        "rater_sd": RATER_SD,
        "item_sd": ITEM_SD,
        "item_intercepts": dict(zip(items.item_id, item_intercepts.tolist(), strict=True)),
        "rater_intercepts": dict(zip(raters.rater_id, rater_intercepts.tolist(), strict=True)),
        "sensitive_items": planted,
        "sensitive_p": SENSITIVE_P,
        "unsure_share": unsure_share,
    }
    return SimulatedRatings(items=items, ratings=ratings, raters=raters, truth=truth)


def write_ratings_table(sim: SimulatedRatings, directory: str | Path) -> dict[str, Path]:
    """Write ``sim`` as the three CSV files of the ``ratings_table`` format.

    ``ratings.csv`` (item_id, rater_id, rating: Yes / No / Unsure), ``raters.csv``
    (rater_id, country, gender, ethnicity, age_group), ``items.csv`` (item_id, text,
    category). Zones, quadrants and coordinates are left out on purpose: the plug-in must
    derive them from the country. Returns ``{"ratings": path, "raters": path, "items":
    path}``; the directory is created if needed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tables = {
        "ratings": sim.ratings[["item_id", "rater_id", "rating"]],
        "raters": sim.raters[["rater_id", "country", *DEMOGRAPHIC_EFFECTS]],
        "items": sim.items[["item_id", "text", "category"]],
    }
    paths: dict[str, Path] = {}
    for name, table in tables.items():
        path = directory / f"{name}.csv"
        table.to_csv(path, index=False)
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m culturalign.analysis.ratings.simulation OUT_DIR [options]``: write one
    simulated dataset in the ``ratings_table`` format and its planted truth (``truth.json``:
    the zone effect, the sensitive items and their quadrants)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--raters", type=int, default=120)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--zone-effect", type=float, default=0.0)
    parser.add_argument("--sensitive-items", type=int, default=0)
    parser.add_argument("--unsure-share", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sim = simulate_ratings(
        n_raters=args.raters, n_items=args.items, zone_effect=args.zone_effect,
        sensitive_items=args.sensitive_items, unsure_share=args.unsure_share, seed=args.seed,
    )  # fmt: skip
    paths = write_ratings_table(sim, args.out_dir)
    keys = ("seed", "n_raters", "n_items", "zone_effect", "sensitive_items", "unsure_share")
    planted = {key: sim.truth[key] for key in keys}
    (args.out_dir / "truth.json").write_text(json.dumps(planted, indent=2) + "\n", "utf-8")
    print(f"{', '.join(str(p) for p in paths.values())}: {len(sim.ratings)} ratings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
