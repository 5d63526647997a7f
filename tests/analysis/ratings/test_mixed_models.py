"""The rater-level mixed models through real R and lme4 (workflow/scripts/ratings_mixed_models.R):
a planted zone effect is found by both families; the tables equal an independent computation
(the LRT arithmetic by scipy, lme4 refits of our own, and a maximum-likelihood fit in numpy);
singular, failed and reduced models are reported, never silent; the script runs as Snakemake
runs it, standalone and through a real `script:` rule; and the Python side (input, BH,
headline, forest plot) does what it says.

R is needed: without Rscript or lme4 these tests skip, except with CI=true (CI installs
r-cran-lme4), where a missing R fails them.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps

from culturalign.analysis.ratings import mixed_models as mm
from culturalign.analysis.ratings.mixed_models import (
    MixedModelResults,
    MixedModelsError,
    adjust_bh,
    forest_plot,
    headline,
    model_input,
    read_results,
    write_model_input,
)
from culturalign.analysis.ratings.simulation import simulate_ratings

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "workflow" / "scripts" / "ratings_mixed_models.R"
DEMOGRAPHICS = ["gender", "ethnicity", "age_group"]
PAIRS = {"D vs base": ("D", "base"), "CZ vs base": ("CZ", "base"),
         "D+CZ vs D": ("D+CZ", "D"), "DxCZ vs D+CZ": ("DxCZ", "D+CZ")}  # fmt: skip


# ---------------------------------------------------------------------------------------
# Running the R script


@pytest.fixture(scope="module")
def rscript() -> str:
    """Rscript with lme4 and jsonlite, or a skip (a failure with CI=true)."""
    path = shutil.which("Rscript")
    problem = None
    if path is None:
        problem = "Rscript is not on PATH (install r-base and r-cran-lme4)"
    else:
        probe = subprocess.run(
            [path, "-e", "library(lme4); library(jsonlite)"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            problem = f"R lacks lme4 or jsonlite: {probe.stderr.strip()[-300:]}"
    if problem:
        from ci_policy import strict

        if strict():
            pytest.fail(f"CI=true and the mixed-model tests cannot run: {problem}")
        pytest.skip(problem)
    return path


def r_literal(value) -> str:
    """A Python value as R source: str -> "..." (JSON escapes are R escapes), sequences ->
    c(...), dicts -> list(name = ...)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "c(" + ", ".join(r_literal(v) for v in value) + ")"
    if isinstance(value, dict):
        return "list(" + ", ".join(f"`{k}` = {r_literal(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"no R literal for {value!r}")


def outputs(directory: Path) -> dict[str, str]:
    return {name: str(directory / f"{name}.tsv") for name in ("models", "comparisons",
                                                               "fixed_effects")}  # fmt: skip


def run_source_shim(rscript: str, tsv: Path, directory: Path, params: dict):
    """Run the script as Snakemake does: an S4 object `snakemake` with slots input, output,
    params and log defined first, then the script's source (Snakemake prepends such a
    preamble to the script's text)."""
    directory.mkdir(parents=True, exist_ok=True)
    shim = textwrap.dedent(f"""
        library(methods)
        setClass("Snakemake", representation(input = "list", output = "list",
                                             params = "list", log = "list"))
        snakemake <- new("Snakemake",
          input = {r_literal({"ratings": str(tsv)})},
          output = {r_literal(outputs(directory))},
          params = {r_literal(params)},
          log = list({r_literal(str(directory / "log.txt"))}))
        source({r_literal(str(SCRIPT))})
    """)
    return subprocess.run(
        [rscript, "--vanilla", "-e", shim], capture_output=True, text=True, timeout=900
    )


def results_of(directory: Path) -> MixedModelResults:
    paths = outputs(directory)
    return read_results(paths["models"], paths["comparisons"], paths["fixed_effects"])


def fitted(process: subprocess.CompletedProcess, directory: Path) -> MixedModelResults:
    assert process.returncode == 0, f"R failed:\n{process.stderr[-3000:]}"
    return results_of(directory)


def sim_input(dataset: str, **kwargs) -> pd.DataFrame:
    sim = simulate_ratings(**kwargs)
    return model_input(sim.ratings, sim.raters, dataset, DEMOGRAPHICS, "zone")


def singular_input() -> pd.DataFrame:
    """Every rater calls exactly 10 of 20 items unsafe (a cyclic design on items 0-9, all of
    items 10-14, none of 15-19): the rater means are identical, so the ML estimate of the
    rater variance is zero and every model is singular."""
    rows = []
    for r in range(12):
        for i in range(20):
            unsafe = ((r + i) % 10 < 5) if i < 10 else i < 15
            rows.append({
                "dataset": "singular", "item_id": f"i{i}", "rater_id": f"r{r}",
                "unsafe": int(unsafe), "zone": "A" if r % 2 else "B",
                "gender": "Woman" if (r // 2) % 2 else "Man",
                "ethnicity": ["Asian", "Black", "White"][r % 3],
                "age_group": "young" if (r // 3) % 2 else "old",
            })  # fmt: skip
    return pd.DataFrame(rows)


def failing_input() -> pd.DataFrame:
    """Each rater rates a single item: as many rater levels as observations, which lme4
    refuses to fit (the rater variance is not identifiable from the residual)."""
    rows = []
    for r in range(30):
        rows.append({
            "dataset": "fails", "item_id": f"i{r % 6}", "rater_id": f"r{r}",
            "unsafe": r % 2, "zone": "A" if r % 3 else "B",
            "gender": "Woman" if r % 4 < 2 else "Man",
            "ethnicity": ["Asian", "Black", "White"][r % 3],
            "age_group": "young" if r % 5 < 3 else "old",
        })  # fmt: skip
    return pd.DataFrame(rows)


def one_gender_input() -> pd.DataFrame:
    """Simulated data in which every rater is a woman: gender cannot enter D."""
    frame = sim_input("one-gender", n_raters=24, n_items=8, zone_effect=0.0, seed=9)
    return frame.assign(gender="Woman")


GAUSSIAN_PARAMS = {
    # "education" is absent from every dataset: left out of D, with a note
    "demographics": [*DEMOGRAPHICS, "education"],
    "zone_column": "zone",
    "interaction_with": "ethnicity",
    "families": ["gaussian"],
}


@pytest.fixture(scope="module")
def gaussian_run(rscript, tmp_path_factory):
    """One lmer run over five datasets in one TSV: a planted zone effect, a small one for
    the numpy check, a singular one, one lme4 refuses, and one with a single gender."""
    directory = tmp_path_factory.mktemp("gaussian")
    frames = [
        sim_input("planted", n_raters=96, n_items=30, zone_effect=1.0, seed=3),
        sim_input("small", n_raters=40, n_items=12, zone_effect=0.5, seed=5),
        singular_input(),
        failing_input(),
        one_gender_input(),
    ]
    tsv = write_model_input(frames, directory / "input.tsv")
    process = run_source_shim(rscript, tsv, directory, GAUSSIAN_PARAMS)
    return tsv, directory, fitted(process, directory)


@pytest.fixture(scope="module")
def binomial_run(rscript, tmp_path_factory):
    """glmer on the planted dataset (DxCZ left out: 28 more fixed effects make the logistic
    fit take minutes; its arithmetic is checked on the linear run)."""
    directory = tmp_path_factory.mktemp("binomial")
    frame = sim_input("planted", n_raters=96, n_items=30, zone_effect=1.0, seed=3)
    tsv = write_model_input([frame], directory / "input.tsv")
    params = {
        "demographics": DEMOGRAPHICS,
        "families": ["binomial"],
        "models": ["base", "D", "CZ", "D+CZ"],
    }
    process = run_source_shim(rscript, tsv, directory, params)
    return tsv, directory, fitted(process, directory)


def rows(frame: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy(bool)
    return frame[mask]


def one(frame: pd.DataFrame, **where) -> pd.Series:
    selected = rows(frame, **where)
    assert len(selected) == 1, f"expected one row for {where}, got {len(selected)}"
    return selected.iloc[0]


# ---------------------------------------------------------------------------------------
# (1) A planted zone effect is found


@pytest.mark.parametrize("run", ["gaussian_run", "binomial_run"])
def test_planted_zone_effect_is_detected(run, request):
    _, _, results = request.getfixturevalue(run)
    planted = rows(results.models, dataset="planted")
    assert planted.converged.all(), planted[["model", "convergence_message"]].to_string()
    for comparison in ("CZ vs base", "D+CZ vs D"):
        row = one(results.comparisons, dataset="planted", comparison=comparison)
        assert row.p_value < 0.05, f"{run} {comparison}: p = {row.p_value}"
        assert row.p_adjusted < 0.05
        assert row.delta_aic < 0, f"{run} {comparison}: delta AIC = {row.delta_aic}"
        assert row.df == 7  # eight zones: seven contrasts
    # the zone explains part of the raters' differences: less rater variance with it
    assert (
        one(results.comparisons, dataset="planted", comparison="D+CZ vs D").rater_variance_change
        < 0
    )


def test_planted_zone_effects_have_the_planted_order(binomial_run):
    """The logistic zone contrasts follow the simulator's shifts (+1 African-Islamic ...
    -1 Protestant Europe, against the reference African-Islamic): all below zero and
    Protestant Europe the lowest."""
    _, _, results = binomial_run
    zone = rows(results.fixed_effects, dataset="planted", model="D+CZ", variable="zone")
    assert set(zone.level) == {"Catholic Europe", "Confucian", "English-Speaking",
                               "Latin America", "Orthodox Europe", "Protestant Europe",
                               "West & South Asia"}  # fmt: skip
    assert (zone.estimate < 0).all()
    assert zone.set_index("level").estimate.idxmin() == "Protestant Europe"


# ---------------------------------------------------------------------------------------
# (2) The numbers equal an independent computation


@pytest.mark.parametrize("run", ["gaussian_run", "binomial_run"])
def test_lrt_arithmetic_matches_scipy(run, request):
    _, _, results = request.getfixturevalue(run)
    models = results.models.set_index(["dataset", "family", "model"])
    checked = 0
    for row in results.comparisons.itertuples():
        if pd.isna(row.chi2):
            continue
        big = models.loc[(row.dataset, row.family, PAIRS[row.comparison][0])]
        small = models.loc[(row.dataset, row.family, PAIRS[row.comparison][1])]
        chi2 = 2 * (big.logLik - small.logLik)
        df = int(big.df - small.df)
        assert row.chi2 == pytest.approx(chi2, abs=1e-9)
        assert row.df == df
        assert row.p_value == pytest.approx(sps.chi2.sf(max(chi2, 0.0), df), rel=1e-9, abs=1e-15)
        assert row.delta_aic == pytest.approx(big.AIC - small.AIC, abs=1e-9)
        assert row.delta_bic == pytest.approx(big.BIC - small.BIC, abs=1e-9)
        if small.rater_variance > 0:
            change = (big.rater_variance - small.rater_variance) / small.rater_variance
            assert row.rater_variance_change == pytest.approx(change, rel=1e-12)
        checked += 1
    assert checked >= (4 if run == "gaussian_run" else 3)  # binomial: no DxCZ
    # AIC and BIC by their definitions, with df = fixed effects + variance parameters
    ok = results.models[results.models.status == "fitted"]
    assert ok.AIC.to_numpy() == pytest.approx((-2 * ok.logLik + 2 * ok.df).to_numpy(), abs=1e-8)
    bic = -2 * ok.logLik + ok.df.astype(float) * np.log(ok.n.astype(float))
    assert ok.BIC.to_numpy() == pytest.approx(bic.to_numpy(), abs=1e-8)
    variances = 3 if run == "gaussian_run" else 2  # rater, item (and residual)
    assert (ok.df == ok.n_fixed + variances).all()


def test_tables_equal_our_own_lme4_refit(gaussian_run, binomial_run, rscript):
    """A refit written here (lmer ML with lme4's defaults; glmer with bobyqa as the
    script documents), and anova()'s LRT, give the table's numbers."""
    code = textwrap.dedent(r"""
        suppressPackageStartupMessages(library(lme4))
        args <- commandArgs(TRUE)
        d <- read.delim(args[1], stringsAsFactors = TRUE)
        d <- d[d$dataset == "planted", ]
        re <- "+ (1 | rater_id) + (1 | item_id)"
        f_d <- as.formula(paste("unsafe ~ gender + ethnicity + age_group", re))
        f_dz <- as.formula(paste("unsafe ~ gender + ethnicity + age_group + zone", re))
        if (args[2] == "gaussian") {
          m0 <- lmer(f_d, d, REML = FALSE); m1 <- lmer(f_dz, d, REML = FALSE)
        } else {
          ctl <- glmerControl(optimizer = "bobyqa")
          m0 <- glmer(f_d, d, family = binomial, control = ctl)
          m1 <- glmer(f_dz, d, family = binomial, control = ctl)
        }
        a <- anova(m0, m1)
        cat(sprintf("%.17g %.17g %.17g %d %.17g %.17g\n", logLik(m0), logLik(m1), a$Chisq[2],
                    a$Df[2], a[["Pr(>Chisq)"]][2], VarCorr(m1)$rater_id[1, 1]))
        s <- coef(summary(m1))
        for (k in rownames(s)) cat(sprintf("%s\t%.17g\t%.17g\n", k, s[k, 1], s[k, 2]))
    """)
    for family, (tsv, _, results) in (("gaussian", gaussian_run), ("binomial", binomial_run)):
        process = subprocess.run(
            [rscript, "--vanilla", "-e", code, str(tsv), family],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert process.returncode == 0, process.stderr[-2000:]
        lines = process.stdout.strip().splitlines()
        ll0, ll1, chisq, df, p, rater_var = (float(x) for x in lines[0].split())
        models = rows(results.models, dataset="planted", family=family).set_index("model")
        assert models.loc["D", "logLik"] == pytest.approx(ll0, abs=1e-6)
        assert models.loc["D+CZ", "logLik"] == pytest.approx(ll1, abs=1e-6)
        assert models.loc["D+CZ", "rater_variance"] == pytest.approx(rater_var, rel=1e-5)
        row = one(results.comparisons, dataset="planted", family=family, comparison="D+CZ vs D")
        assert row.chi2 == pytest.approx(chisq, abs=1e-5)
        assert row.df == int(df)
        assert row.p_value == pytest.approx(p, rel=1e-4)
        ours = rows(results.fixed_effects, dataset="planted", family=family, model="D+CZ")
        ours = ours.set_index("term")
        for line in lines[1:]:
            term, estimate, se = line.split("\t")
            assert ours.loc[term, "estimate"] == pytest.approx(float(estimate), abs=1e-5)
            # glmer's standard errors come from a finite-difference Hessian at the optimum,
            # which two fits reach only to ~1e-4 (seen: 1.0e-4 relative between runs)
            se_tolerance = 1e-4 if family == "gaussian" else 1e-3
            assert ours.loc[term, "std_error"] == pytest.approx(float(se), rel=se_tolerance)
            z = ours.loc[term, "estimate"] / ours.loc[term, "std_error"]
            assert ours.loc[term, "conf_low"] == pytest.approx(
                ours.loc[term, "estimate"] - sps.norm.ppf(0.975) * ours.loc[term, "std_error"]
            )
            assert ours.loc[term, "p_value"] == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-9)
        assert len(ours) == len(lines) - 1


def _designs(frame: pd.DataFrame, fixed: list[str]):
    """y, X (treatment dummies, first level in sorted order the reference), Z_rater, Z_item."""
    y = frame.unsafe.to_numpy(float)
    x = pd.get_dummies(frame[fixed], drop_first=True).astype(float) if fixed else pd.DataFrame()
    x = np.column_stack([np.ones(len(frame)), x.to_numpy()]) if fixed else np.ones((len(y), 1))
    z_r = pd.get_dummies(frame.rater_id).to_numpy(float)
    z_i = pd.get_dummies(frame.item_id).to_numpy(float)
    return y, x, z_r, z_i


def _loglik(y, x, z_r, z_i, rater_var, item_var, residual_var) -> float:
    """Gaussian log-likelihood with the fixed effects at their GLS estimate, in numpy."""
    v = residual_var * np.eye(len(y)) + rater_var * z_r @ z_r.T + item_var * z_i @ z_i.T
    chol = np.linalg.cholesky(v)
    xs, ys = np.linalg.solve(chol, x), np.linalg.solve(chol, y)
    beta, *_ = np.linalg.lstsq(xs, ys, rcond=None)
    resid = ys - xs @ beta
    logdet = 2 * np.log(np.diag(chol)).sum()
    return float(-0.5 * (len(y) * np.log(2 * np.pi) + logdet + resid @ resid))


@pytest.mark.parametrize("model,fixed", [("base", []), ("CZ", ["zone"])])
def test_linear_fit_is_the_maximum_likelihood_fit(gaussian_run, model, fixed):
    """Independent of lme4: the table's variances give its logLik in a numpy evaluation,
    and scipy maximising the likelihood from another start finds no higher one (a REML fit
    or a variance reported as a standard deviation would fail both)."""
    tsv, _, results = gaussian_run
    data = pd.read_csv(tsv, sep="\t")
    frame = data[data.dataset == "small"]
    y, x, z_r, z_i = _designs(frame, fixed)
    row = one(results.models, dataset="small", model=model)
    at_table = _loglik(y, x, z_r, z_i, row.rater_variance, row.item_variance,
                       row.residual_variance)  # fmt: skip
    assert at_table == pytest.approx(row.logLik, abs=1e-6)

    def negative(log_vars):
        return -_loglik(y, x, z_r, z_i, *np.exp(log_vars))

    best = optimize.minimize(negative, np.log([0.05, 0.05, 0.2]), method="Nelder-Mead",
                             options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})  # fmt: skip
    assert -best.fun == pytest.approx(row.logLik, abs=1e-4)
    assert -best.fun <= row.logLik + 1e-4
    assert np.exp(best.x) == pytest.approx(
        [row.rater_variance, row.item_variance, row.residual_variance], rel=0.02
    )


# ---------------------------------------------------------------------------------------
# (3) Singular, failed and reduced models are reported


def test_singular_fit_is_reported_not_converged(gaussian_run):
    _, _, results = gaussian_run
    singular = rows(results.models, dataset="singular")
    assert len(singular) == 5
    assert (singular.status == "fitted").all()
    assert not singular.converged.any()
    assert singular.singular.all()
    for message in singular.convergence_message:
        assert "singular" in message and "rater_id" in message, message
    assert singular.rater_variance.max() < 1e-8
    comparisons = rows(results.comparisons, dataset="singular")
    assert not comparisons.converged.any()
    assert comparisons.message.str.contains("did not converge").all()


def test_failed_fit_is_a_row_with_the_error(gaussian_run):
    _, directory, results = gaussian_run
    failed = rows(results.models, dataset="fails")
    assert len(failed) == 5
    assert (failed.status == "failed").all()
    assert not failed.converged.any()
    assert failed.logLik.isna().all()
    assert failed.convergence_message.str.startswith("fit failed:").all()
    assert failed.convergence_message.str.contains("number of levels").all()
    comparisons = rows(results.comparisons, dataset="fails")
    assert comparisons.chi2.isna().all() and comparisons.p_adjusted.isna().all()
    assert comparisons.message.str.startswith("not compared").all()
    assert rows(results.fixed_effects, dataset="fails").empty
    log = (directory / "log.txt").read_text(encoding="utf-8")
    assert "WARNING" in log and "fails gaussian base" in log


def test_single_valued_and_absent_demographics_leave_d(gaussian_run):
    _, directory, results = gaussian_run
    d = one(results.models, dataset="one-gender", model="D")
    assert d.formula == "unsafe ~ ethnicity + age_group + (1 | rater_id) + (1 | item_id)"
    dxcz = one(results.models, dataset="one-gender", model="DxCZ")
    assert dxcz.formula.startswith("unsafe ~ ethnicity + age_group + zone + zone:ethnicity")
    planted = one(results.models, dataset="planted", model="D")
    assert planted.formula.startswith("unsafe ~ gender + ethnicity + age_group + (1")
    log = (directory / "log.txt").read_text(encoding="utf-8")
    assert "dataset 'one-gender': demographic 'gender' has 1 distinct value(s)" in log
    assert "dataset 'planted': demographic 'education' absent from the input" in log


def test_zone_with_one_value_skips_the_zone_models(rscript, tmp_path):
    frame = sim_input("one-zone", n_raters=24, n_items=6, seed=2).assign(zone="Confucian")
    tsv = write_model_input([frame], tmp_path / "input.tsv")
    params = {"families": ["gaussian"], "models": ["base", "D", "CZ"]}
    results = fitted(run_source_shim(rscript, tsv, tmp_path, params), tmp_path)
    cz = one(results.models, model="CZ")
    assert cz.status == "skipped" and not cz.converged
    assert "zone column 'zone' has 1 distinct value(s)" in cz.convergence_message
    assert one(results.models, model="D").status == "fitted"
    comparison = one(results.comparisons, comparison="CZ vs base")
    assert pd.isna(comparison.p_value) and "model CZ skipped" in comparison.message


# ---------------------------------------------------------------------------------------
# The script's interfaces and input errors


def test_standalone_command_line_gives_the_same_tables(gaussian_run, rscript, tmp_path):
    """`Rscript ratings_mixed_models.R spec.json` (no Snakemake) fits what the shim fits."""
    tsv, _, results = gaussian_run
    subset = pd.read_csv(tsv, sep="\t", keep_default_na=False, na_values=[""])
    subset = subset[subset.dataset.isin(["small", "singular"])]
    subset.to_csv(tmp_path / "input.tsv", sep="\t", index=False)
    spec = {"input": {"ratings": str(tmp_path / "input.tsv")}, "output": outputs(tmp_path),
            "params": GAUSSIAN_PARAMS, "log": [str(tmp_path / "log.txt")]}  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    process = subprocess.run(
        [rscript, "--vanilla", str(SCRIPT), str(tmp_path / "spec.json")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    standalone = fitted(process, tmp_path)
    expected = results.models[results.models.dataset.isin(["small", "singular"])]
    pd.testing.assert_frame_equal(
        standalone.models.reset_index(drop=True), expected.reset_index(drop=True)
    )


def test_runs_as_a_snakemake_r_script(gaussian_run, rscript, tmp_path):
    """A real Snakemake rule with `script:` and list params, as the workflow will use it."""
    tsv, _, results = gaussian_run
    data = pd.read_csv(tsv, sep="\t")
    data[data.dataset == "small"].to_csv(tmp_path / "input.tsv", sep="\t", index=False)
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        rule mixed_models:
            input: ratings="input.tsv"
            output: models="out/models.tsv", comparisons="out/comparisons.tsv",
                    fixed_effects="out/fixed_effects.tsv"
            params: demographics={DEMOGRAPHICS!r}, zone_column="zone",
                    interaction_with="ethnicity", families=["gaussian"], models=["base", "CZ"]
            log: "logs/mixed_models.log"
            script: {str(SCRIPT)!r}
    """), encoding="utf-8")  # fmt: skip
    process = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--snakefile",
         str(tmp_path / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    ours = results_of(tmp_path / "out")
    assert list(ours.models.model) == ["base", "CZ"]
    expected = rows(results.models, dataset="small").set_index("model")
    for row in ours.models.itertuples():
        assert row.logLik == pytest.approx(expected.loc[row.model, "logLik"], abs=1e-9)
    assert "dataset 'small'" in (tmp_path / "logs" / "mixed_models.log").read_text()


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda d: d.assign(unsafe=d.unsafe.where(d.index != 4, 2)),
         "line 6, column unsafe: value '2' is not 0, 1 or empty"),
        (lambda d: pd.concat([d, d.iloc[[3]]]), "line 26: a second rating of item"),
        (lambda d: d.drop(columns="zone"), "missing column(s) zone"),
        (lambda d: d.assign(zone=d.zone.where(d.index != 0, "Elsewhere")),
         "has more than one value in column zone"),
    ],
)  # fmt: skip
def test_bad_input_is_an_error_naming_what(rscript, tmp_path, change, needle):
    frame = sim_input("bad", n_raters=12, n_items=2, seed=1)
    assert len(frame) == 24
    change(frame).to_csv(tsv := tmp_path / "input.tsv", sep="\t", index=False)
    process = run_source_shim(rscript, tsv, tmp_path, {"families": ["gaussian"]})
    assert process.returncode != 0
    assert needle in process.stderr
    assert needle in (tmp_path / "log.txt").read_text(encoding="utf-8")
    assert not (tmp_path / "models.tsv").exists()


def test_bad_params_are_errors(rscript, tmp_path):
    frame = sim_input("p", n_raters=12, n_items=2, seed=1)
    tsv = write_model_input([frame], tmp_path / "input.tsv")
    for params, needle in (
        ({"families": ["poisson"]}, "params families: unknown poisson"),
        ({"models": ["D*CZ"]}, "params models: unknown D*CZ"),
        ({"demographics": ["age group"]}, "'age group' cannot be used as model terms"),
    ):
        process = run_source_shim(rscript, tsv, tmp_path, params)
        assert process.returncode != 0 and needle in process.stderr, process.stderr


# ---------------------------------------------------------------------------------------
# (4) Benjamini-Hochberg, and the rest of the Python side


def test_bh_matches_a_hand_computation():
    """Per family, over every comparison and dataset with a p-value. By hand, gaussian
    p = .01 .04 .03 .005 .5 (m = 5; the missing one is no test): sorted .005 .01 .03 .04 .5,
    p * m / rank = .025 .025 .05 .05 .5, running minimum from the top changes nothing.
    Binomial .02 .2 (m = 2): .04 .2."""
    comparisons = pd.DataFrame({
        "dataset": ["a", "a", "a", "b", "b", "b", "a", "b"],
        "family": ["gaussian"] * 6 + ["binomial"] * 2,
        "comparison": ["D vs base", "CZ vs base", "D+CZ vs D"] * 2 + ["CZ vs base"] * 2,
        "p_value": [0.01, 0.04, 0.03, 0.005, np.nan, 0.5, 0.02, 0.2],
    })  # fmt: skip
    adjusted = adjust_bh(comparisons).p_adjusted.to_numpy()
    expected = [0.025, 0.05, 0.05, 0.025, np.nan, 0.5, 0.04, 0.2]
    np.testing.assert_allclose(adjusted, expected, rtol=1e-12)
    # a running minimum that matters: .01 .011 .5 (m = 3) -> .03 .0165 .5 -> .0165 .0165 .5
    small = pd.DataFrame({"family": ["gaussian"] * 3, "p_value": [0.01, 0.011, 0.5]})
    np.testing.assert_allclose(adjust_bh(small).p_adjusted, [0.0165, 0.0165, 0.5], rtol=1e-12)


def test_read_results_adjusts_across_datasets(gaussian_run):
    _, _, results = gaussian_run
    tested = results.comparisons[results.comparisons.p_value.notna()]
    assert tested.dataset.nunique() >= 3
    p = np.sort(tested.p_value.to_numpy())
    m = len(p)
    by_hand = np.minimum.accumulate((p * m / np.arange(1, m + 1))[::-1])[::-1]
    np.testing.assert_allclose(np.sort(tested.p_adjusted.to_numpy()), np.minimum(by_hand, 1))


def test_read_results_names_a_missing_column(gaussian_run, tmp_path):
    _, directory, _ = gaussian_run
    paths = outputs(directory)
    table = pd.read_csv(paths["comparisons"], sep="\t", dtype=str)
    table.drop(columns="p_value").to_csv(broken := tmp_path / "c.tsv", sep="\t", index=False)
    with pytest.raises(MixedModelsError, match=r"comparisons table .*c\.tsv.*'p_value'"):
        read_results(paths["models"], broken, paths["fixed_effects"])


def test_headline_numbers_and_sentence():
    comparisons = pd.DataFrame({
        "dataset": ["DICES-990", "DICES-990"], "family": ["gaussian", "binomial"],
        "comparison": ["D+CZ vs D", "D+CZ vs D"], "chi2": [12.3456, 3.0], "df": [7, 7],
        "p_value": [0.0897, 0.885], "delta_aic": [1.6544, 11.0],
        "rater_variance_change": [-0.125, np.nan], "converged": [True, False],
        "message": ["", "model D+CZ did not converge (see the models table)"],
    })  # fmt: skip
    first, second = headline(comparisons)
    assert (first.chi2, first.df, first.p_value, first.delta_aic) == (12.3456, 7, 0.0897, 1.6544)
    assert first.p_adjusted == pytest.approx(0.0897)  # alone in its family
    assert not first.significant
    assert first.sentence == (
        "zone adds to demographics (DICES-990, linear mixed model): χ² = 12.35, df = 7, "
        "p = 0.090 (BH-adjusted p = 0.090), ΔAIC = 1.7; rater variance −12.5%."
    )
    assert second.sentence.endswith(
        "(caution: model D+CZ did not converge (see the models table))."
    )
    assert headline(comparisons, "CZ vs base") == []
    with pytest.raises(MixedModelsError, match="unknown comparison"):
        headline(comparisons, "zone")


def test_headline_of_the_planted_run(binomial_run):
    _, _, results = binomial_run
    (line,) = headline(results.comparisons)
    assert line.significant and line.converged and line.delta_aic < 0
    assert line.sentence.startswith("zone adds to demographics (planted, logistic mixed model)")


def _fixed(rows_: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows_, columns=["dataset", "family", "model", "term", "variable",
                                         "level", "estimate", "p_value", "converged"])  # fmt: skip
    se = 0.1
    return frame.assign(std_error=se, statistic=frame.estimate / se,
                        conf_low=frame.estimate - 1.96 * se,
                        conf_high=frame.estimate + 1.96 * se)  # fmt: skip


def test_forest_plot_marks_p_below_005(tmp_path, monkeypatch):
    fixed = _fixed([
        ("a", "gaussian", "D+CZ", "(Intercept)", "(Intercept)", "", 0.3, 0.001, True),
        ("a", "gaussian", "D+CZ", "genderWoman", "gender", "Woman", 0.2, 0.01, True),
        ("a", "gaussian", "D+CZ", "zoneB", "zone", "B", 0.05, 0.6, True),
        ("a", "gaussian", "D+CZ", "zoneC", "zone", "C", -0.3, 0.049, True),
        ("a", "binomial", "D+CZ", "zoneB", "zone", "B", 0.1, 0.3, False),
        ("a", "gaussian", "D", "genderWoman", "gender", "Woman", 0.2, 0.01, True),
    ])  # fmt: skip
    figures = []
    original = mm.save
    monkeypatch.setattr(mm, "save", lambda fig, stem: figures.append(fig) or original(fig, stem))
    paths = forest_plot(fixed, "D+CZ", tmp_path / "forest")
    assert sorted(p.name for p in paths) == ["forest.png", "forest.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    (fig,) = figures
    gaussian, binomial = fig.axes[:2]
    marked = {line.get_label(): sorted(line.get_xdata()) for line in gaussian.get_lines()
              if line.get_label().startswith("p ")}  # fmt: skip
    assert marked == {"p < 0.05": [-0.3, 0.2], "p ≥ 0.05": [0.05]}
    labels = [t.get_text() for t in gaussian.get_yticklabels()]
    assert labels == ["zone: C", "zone: B", "gender: Woman"]  # intercept left out
    assert "did NOT converge" in binomial.get_title()
    assert "did NOT converge" not in gaussian.get_title()


def test_forest_plot_without_terms_says_so(tmp_path):
    fixed = _fixed([("a", "gaussian", "base", "(Intercept)", "(Intercept)", "", 0.3, 0.1, True)])
    paths = forest_plot(fixed, "base", tmp_path / "forest")
    assert "no fixed effects besides the intercept" in paths[1].read_text(encoding="utf-8")
    with pytest.raises(MixedModelsError, match="unknown model"):
        forest_plot(fixed, "D*CZ", tmp_path / "x")


def test_model_input_drops_and_counts():
    sim = simulate_ratings(n_raters=24, n_items=5, unsure_share=0.2, seed=4)
    raters = sim.raters.copy()
    no_zone = raters.rater_id.iloc[[0, 5]]
    raters.loc[raters.rater_id.isin(no_zone), "zone"] = None
    raters = raters.drop(columns="age_group")
    frame = model_input(sim.ratings, raters, "sim", DEMOGRAPHICS, "zone")
    assert list(frame.columns) == ["dataset", "item_id", "rater_id", "unsafe", "zone",
                                   "gender", "ethnicity"]  # fmt: skip
    unsure = int(sim.ratings.unsafe.isna().sum())
    of_no_zone = int((sim.ratings.rater_id.isin(no_zone) & sim.ratings.unsafe.notna()).sum())
    assert frame.attrs["dropped"] == {
        "ratings_without_value": unsure, "raters_without_zone": 2,
        "ratings_without_zone": of_no_zone, "demographics_absent": ["age_group"],
    }  # fmt: skip
    assert len(frame) == len(sim.ratings) - unsure - of_no_zone
    assert not frame.rater_id.isin(no_zone).any()
    assert set(frame.unsafe) <= {0, 1} and frame.unsafe.dtype == "int64"
    assert (frame.dataset == "sim").all()


def test_model_input_errors_name_the_problem():
    sim = simulate_ratings(n_raters=12, n_items=2, seed=4)
    stranger = pd.concat([sim.ratings, pd.DataFrame({"item_id": ["item-001"],
                         "rater_id": ["nobody"], "rating": ["Yes"], "unsafe": [1]})])  # fmt: skip
    with pytest.raises(MixedModelsError, match=r"1 rater\(s\) not in the raters table.*nobody"):
        model_input(stranger, sim.raters, "x")
    with pytest.raises(MixedModelsError, match=r"row 3: unsafe = 'maybe'"):
        model_input(sim.ratings.astype({"unsafe": object}).assign(
            unsafe=lambda d: d.unsafe.where(d.index != 3, "maybe")), sim.raters, "x")  # fmt: skip
    with pytest.raises(MixedModelsError, match=r"missing column\(s\) \['quadrant_zone'\]"):
        model_input(sim.ratings, sim.raters, "x", zone_column="quadrant_zone")
    with pytest.raises(MixedModelsError, match="appears more than once"):
        model_input(sim.ratings, pd.concat([sim.raters, sim.raters.iloc[[0]]]), "x")
    frame = model_input(sim.ratings, sim.raters, "x")
    with pytest.raises(MixedModelsError, match=r"\['x'\] appear in two frames"):
        write_model_input([frame, frame], "unused.tsv")


def test_binomial_variance_is_not_a_residual(binomial_run):
    """The logistic models have no residual variance; rater and item variances are on the
    logit scale and of the simulator's order (rater SD 0.7, item SD 1.2 before demographics
    and zone absorb part of the rater spread)."""
    _, _, results = binomial_run
    base = one(results.models, model="base")
    assert math.isnan(base.residual_variance)
    assert 0.2 < base.rater_variance < 3.0
    assert 0.5 < base.item_variance < 4.0
