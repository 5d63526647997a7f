"""Level and power of the ratings kind's likelihood-ratio tests for the rater's zone.

Why: a test that rejects "zone explains nothing" more often than its alpha when zone truly
explains nothing would manufacture the paper's headline. LRTs of fixed effects in mixed
models are known to run somewhat liberal in small samples (the chi-square reference
ignores that the variance components are estimated), so the level is measured, not assumed.

What: ``--null`` datasets simulated with ``zone_effect = 0`` (demographic effects present,
zone none) and ``--power`` datasets for each planted zone effect in ``--effects`` (logit
scale, the simulator's zone pattern: +1 African-Islamic ... -1 Protestant Europe at 1.0),
each ``--raters`` x ``--items``, fully crossed. All of them go
through workflow/scripts/ratings_mixed_models.R in ONE Rscript call (the script loops over
the ``dataset`` column), models base, D, CZ, D+CZ (DxCZ is not needed here). Reported per
test (CZ vs base, D+CZ vs D) and family: rejections at alpha = 0.05 (raw p, one test per
dataset, so no multiplicity adjustment), the rate with its Clopper-Pearson 95% interval, the
mean chi-square against its df (a liberal test shows a mean above df), and how many fits did
not converge (counted in the rate as they are: the decision the workflow would report).

Usage::

    python bench/ratings_lrt_level.py                  # lmer: 300 null, 100 per effect
    python bench/ratings_lrt_level.py --families binomial --null 50 --power 20 \
        --out bench/results/ratings_lrt_level_glmer.json

Writes ``bench/results/ratings_lrt_level.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from scipy import stats as sps

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "workflow" / "scripts" / "ratings_mixed_models.R"
sys.path.insert(0, str(REPO / "src"))

from culturalign.analysis.ratings.mixed_models import (  # noqa: E402
    model_input,
    read_results,
    write_model_input,
)
from culturalign.analysis.ratings.simulation import simulate_ratings  # noqa: E402

ALPHA = 0.05
TESTS = ("CZ vs base", "D+CZ vs D")
NULL_SEED, POWER_SEED = 10_000, 20_000


def simulate(args: argparse.Namespace) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """Every dataset's model input, and whether it is a null or a planted one."""
    frames, kind = [], {}
    plan = [("null", NULL_SEED + k, 0.0) for k in range(args.null)]
    for j, effect in enumerate(args.effects):
        seeds = range(POWER_SEED + 1000 * j, POWER_SEED + 1000 * j + args.power)
        plan += [(f"power@{effect:g}", seed, effect) for seed in seeds]
    for label, seed, effect in plan:
        sim = simulate_ratings(
            n_raters=args.raters, n_items=args.items, zone_effect=effect, seed=seed
        )
        name = f"{label}-{seed}"
        frames.append(model_input(sim.ratings, sim.raters, name))
        kind[name] = label
    return frames, kind


def fit_all(frames: list[pd.DataFrame], families: list[str], work: Path) -> float:
    """One Rscript call over all datasets; returns its wall time in seconds."""
    tsv = write_model_input(frames, work / "input.tsv")
    spec = {
        "input": {"ratings": str(tsv)},
        "output": {name: str(work / f"{name}.tsv")
                   for name in ("models", "comparisons", "fixed_effects")},
        "params": {"families": families, "models": ["base", "D", "CZ", "D+CZ"]},
        "log": [str(work / "log.txt")],
    }  # fmt: skip
    (work / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    started = time.perf_counter()
    process = subprocess.run(
        ["Rscript", "--vanilla", str(SCRIPT), str(work / "spec.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if process.returncode != 0:
        raise SystemExit(f"the R script failed:\n{process.stderr[-4000:]}")
    return time.perf_counter() - started


def rate(rejections: int, n: int) -> dict:
    """A rejection rate with its exact (Clopper-Pearson) binomial 95% interval."""
    interval = sps.binomtest(rejections, n).proportion_ci(0.95, method="exact")
    return {
        "rejections": rejections,
        "n": n,
        "rate": rejections / n,
        "ci95": [round(interval.low, 4), round(interval.high, 4)],
    }


def summarise(comparisons: pd.DataFrame, kind: dict[str, str]) -> dict:
    """Per family, per null/power, per test: rate, interval, chi-square mean, convergence."""
    comparisons = comparisons.assign(kind=comparisons.dataset.map(kind))
    out: dict = {}
    for (family, label, test), group in comparisons.groupby(["family", "kind", "comparison"]):
        if test not in TESTS:
            continue
        p = group.p_value.astype(float)
        entry = rate(int((p < ALPHA).sum()), len(group))
        entry["not_compared"] = int(p.isna().sum())
        entry["not_converged"] = int((~group.converged.fillna(False)).sum())
        converged = group[group.converged.fillna(False)]
        if len(converged):
            entry["rate_converged_only"] = float((converged.p_value < ALPHA).mean())
        entry["chi2_mean"] = round(float(group.chi2.mean()), 3)
        entry["df"] = int(group.df.dropna().iloc[0])
        if label == "null":
            # under the null the p-values should be uniform
            ks = sps.kstest(p.dropna(), "uniform")
            entry["p_uniform_ks"] = {"statistic": round(float(ks.statistic), 4),
                                     "p_value": round(float(ks.pvalue), 4)}  # fmt: skip
        if label == "null":
            out.setdefault(family, {}).setdefault("level", {})[test] = entry
        else:
            effect = label.removeprefix("power@")
            power = out.setdefault(family, {}).setdefault("power", {})
            power.setdefault(f"zone_effect={effect}", {})[test] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--null", type=int, default=300, help="null datasets (>= 50)")
    parser.add_argument("--power", type=int, default=100, help="datasets per planted effect")
    parser.add_argument("--effects", type=float, nargs="*", default=[0.5, 1.0],
                        help="planted zone_effect values (logit scale)")  # fmt: skip
    parser.add_argument("--raters", type=int, default=80)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument("--families", nargs="+", default=["gaussian"])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/ratings_lrt_level.json")
    args = parser.parse_args()
    if args.null < 50:
        parser.error("--null: at least 50 null datasets, or the level is not measured")
    if shutil.which("Rscript") is None:
        raise SystemExit("Rscript not found: install r-base and r-cran-lme4")

    frames, kind = simulate(args)
    with tempfile.TemporaryDirectory(prefix="ratings-lrt-") as tmp:
        work = Path(tmp)
        seconds = fit_all(frames, args.families, work)
        results = read_results(
            work / "models.tsv", work / "comparisons.tsv", work / "fixed_effects.tsv"
        )
        version = "cat('lme4', as.character(packageVersion('lme4')), R.version$version.string)"
        lme4 = subprocess.run(
            ["Rscript", "-e", version], capture_output=True, text=True, check=False
        ).stdout.strip()
    models = results.models
    report = {
        "description": (
            "False-positive rate (level) and power of the zone likelihood-ratio tests at "
            f"alpha = {ALPHA} on simulated rater-level data; one test per dataset, raw p."
        ),
        "design": {
            "null_datasets": args.null,
            "power_datasets": args.power,
            "planted_zone_effects": args.effects,
            "raters": args.raters,
            "items": args.items,
            "ratings_per_dataset": args.raters * args.items,
            "families": args.families,
            "models": ["base", "D", "CZ", "D+CZ"],
            "seeds": {
                "null": [NULL_SEED, NULL_SEED + args.null - 1],
                "power": {
                    f"zone_effect={effect:g}": [
                        POWER_SEED + 1000 * j,
                        POWER_SEED + 1000 * j + args.power - 1,
                    ]
                    for j, effect in enumerate(args.effects)
                },
            },
            "interval": "Clopper-Pearson exact binomial 95%",
        },
        "results": summarise(results.comparisons, kind),
        "models_not_converged": int((~models.converged.fillna(False)).sum()),
        "models_fitted": len(models),
        "r_seconds": round(seconds, 1),
        "software": {"lme4_R": lme4, "python": platform.python_version()},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["results"], indent=2))
    print(f"R: {seconds:.0f} s for {len(models)} models; written to {args.out}")


if __name__ == "__main__":
    main()
