"""Metrics: hand-computed cases, bootstrap sanity, an independent recomputation of the
items/consistency tables from synthetic shards, findings, and the metrics/stats rules."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from culturalign.analysis import kit
from culturalign.analysis.kit import MetricsError, MetricsSettings
from culturalign.analysis.survey import metrics as M
from culturalign.analysis.survey.findings import findings_table, wilcoxon

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fakes import (  # noqa: E402
    DEFAULT_COUNTRIES,
    all_cells,
    fake_benchmark,
    fake_zones,
    write_fake_shards,
)

REPO = Path(__file__).resolve().parents[3]
WORKBOOK = REPO.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"


# --------------------------------------------------------------------------- hand-computed


def test_nvas_ordinal_distance():
    human = [0.5, 0.5, 0.0, 0.0]  # mean 1.5 on 1..4
    assert M.human_mean(human, 1) == pytest.approx(1.5)
    assert M.nvas(3, None, human, 1, 4, "ordinal", "default") == pytest.approx(50.0)
    assert M.nvas(1, None, human, 1, 4, "ordinal", "paper") == pytest.approx(100 * (1 - 0.5 / 3))
    # ordinal questions never use the probability mass, in either mode
    probs = [0.0, 0.0, 0.0, 1.0]
    assert M.nvas(1, probs, human, 1, 4, "ordinal", "default") == pytest.approx(100 * 5 / 6)


def test_nvas_nominal_both_modes():
    human, probs = [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]
    # default: 100 * sum min(p, h) = 100 * (0.5 + 0.2 + 0)
    assert M.nvas(1, probs, human, 1, 3, "nominal", "default") == pytest.approx(70.0)
    # paper: distance between the code and the human mean 1.5 over range 2
    assert M.nvas(1, probs, human, 1, 3, "nominal", "paper") == pytest.approx(75.0)
    assert M.nvas(3, probs, human, 1, 3, "nominal", "paper") == pytest.approx(25.0)
    assert M.scoring("nominal", "default") == "overlap"
    assert M.scoring("nominal", "paper") == "distance"
    with pytest.raises(MetricsError, match="mode"):
        M.scoring("ordinal", "fancy")


def test_refusal_has_no_nvas_but_kld_and_leakage():
    human, probs = [0.5, 0.5, 0.0], [0.8, 0.1, 0.1]
    assert M.nvas(None, probs, human, 1, 3, "ordinal", "default") is None
    assert M.nvas(None, probs, human, 1, 3, "nominal", "default") is None
    assert M.is_leakage(True, probs, 0.5)
    assert not M.is_leakage(False, probs, 0.5)
    assert not M.is_leakage(True, None, 0.5)


@pytest.mark.parametrize("k", [2, 3, 5, 10, 21, 36])
def test_option_counts_2_to_36(k):
    lo, hi = 1, k
    top = [0.0] * (k - 1) + [1.0]  # everyone chose the last option
    assert M.nvas(hi, None, top, lo, hi, "ordinal", "default") == pytest.approx(100.0)
    assert M.nvas(lo, None, top, lo, hi, "ordinal", "default") == pytest.approx(0.0)
    middle = lo + (k - 1) // 2
    assert M.nvas(middle, None, top, lo, hi, "ordinal", "default") == pytest.approx(
        100 * (1 - (hi - middle) / (hi - lo))
    )
    uniform = [1.0 / k] * k
    assert M.kl_divergence(uniform, uniform, 1e-6) == pytest.approx(0.0, abs=1e-12)
    assert M.expected_answer(uniform, lo) == pytest.approx((lo + hi) / 2)
    assert M.overlap_score(uniform, top) == pytest.approx(100.0 / k)


def test_two_options_hand_value():
    assert M.nvas(2, None, [0.25, 0.75], 1, 2, "ordinal", "default") == pytest.approx(75.0)
    assert M.nvas(0, None, [0.25, 0.75], 0, 1, "ordinal", "default") == pytest.approx(25.0)


def test_kld_smoothing_hand_computed():
    human, model, eps = [0.5, 0.5, 0.0], [1.0, 0.0, 0.0], 0.01
    smoothed = [(1 + eps) / (1 + 3 * eps), eps / (1 + 3 * eps), eps / (1 + 3 * eps)]
    expected = 0.5 * math.log(0.5 / smoothed[0]) + 0.5 * math.log(0.5 / smoothed[1])
    assert M.kl_divergence(human, model, eps) == pytest.approx(expected, rel=1e-12)
    assert M.smooth(model, eps).sum() == pytest.approx(1.0)
    # identical distributions without zeros: KL is ~0 (smoothing only)
    assert M.kl_divergence([0.2, 0.8], [0.2, 0.8], 1e-6) == pytest.approx(0.0, abs=1e-5)


def test_expected_answer():
    assert M.expected_answer([0.2, 0.3, 0.5], 1) == pytest.approx(2.3)
    assert M.expected_answer([0.2, 0.3, 0.5], 0) == pytest.approx(1.3)


def test_leakage_threshold_edge():
    assert M.is_leakage(True, [0.5, 0.25, 0.25], 0.5)  # inclusive
    assert not M.is_leakage(True, [0.4999, 0.2501, 0.25], 0.5)
    assert M.is_leakage(True, [0.9, 0.1], 0.9)
    assert not M.is_leakage(True, [0.9, 0.1], 0.9000001)


def test_consistency_score():
    assert M.consistency_score(1, 4, None, None, 1, 4, "ordinal", "default") == 0.0
    assert M.consistency_score(2, 2, None, None, 1, 4, "ordinal", "default") == 100.0
    assert M.consistency_score(1, None, None, None, 1, 4, "ordinal", "default") is None
    pa, pb = [0.6, 0.4, 0.0], [0.1, 0.4, 0.5]
    assert M.consistency_score(1, 3, pa, pb, 1, 3, "nominal", "default") == pytest.approx(50.0)
    assert M.consistency_score(1, 3, pa, pb, 1, 3, "nominal", "paper") == pytest.approx(0.0)


def test_probs_vector_checks_the_contract():
    good = [{"option": 1, "prob": 0.25}, {"option": 2, "prob": 0.75}]
    assert kit.probs_vector(good, 1, 2, "x").tolist() == [0.25, 0.75]
    assert kit.probs_vector(None, 1, 2, "x") is None
    with pytest.raises(MetricsError, match="shard.parquet: row 3.*differ from the scale 1..3"):
        kit.probs_vector(good, 1, 3, "shard.parquet: row 3")
    with pytest.raises(MetricsError, match="sum to"):
        kit.probs_vector([{"option": 1, "prob": 0.5}, {"option": 2, "prob": 0.3}], 1, 2, "x")


# --------------------------------------------------------------------------- item table


def _one_shard(rows, cell=None):
    cell = cell or {"model": "m", "language": "en", "framing": "persona", "reasoning": "zero"}
    frame = pd.DataFrame(rows)
    frame["variant"] = "original"
    if "option_probs_source" not in frame:
        frame["option_probs_source"] = "exact"
        frame["option_coverage"] = 1.0
    if "option_codes" not in frame:
        frame["option_codes"] = [[entry["option"] for entry in probs] for probs in
                                 frame["option_probs"]]  # fmt: skip
    for key, value in cell.items():
        frame[key] = value
    frame["shard"] = "s.parquet"
    frame["shard_row"] = range(len(frame))
    frame["response"] = "r"
    return frame


def _probs(values, lo=1):
    return [{"option": lo + i, "prob": p} for i, p in enumerate(values)]


def test_item_table_missing_human_data_and_neutral_expansion():
    questions, human = fake_benchmark(
        specs=[("WVS-Q1", 1, 4, "ordinal")], missing=[("WVS-Q1", "Iran")]
    )
    zones = fake_zones()
    persona = _one_shard([
        {"question_id": "WVS-Q1", "country": "Iran", "prompt_language": "en", "answer": 2,
         "refusal": False, "option_probs": _probs([0.1, 0.6, 0.2, 0.1])},
        {"question_id": "WVS-Q1", "country": "Egypt", "prompt_language": "en", "answer": None,
         "refusal": True, "option_probs": _probs([0.1, 0.6, 0.2, 0.1])},
    ])  # fmt: skip
    neutral_cell = {"model": "m", "language": "native", "framing": "neutral", "reasoning": "zero"}
    neutral = _one_shard([
        {"question_id": "WVS-Q1", "country": None, "prompt_language": "ar", "answer": 1,
         "refusal": False, "option_probs": _probs([0.7, 0.1, 0.1, 0.1])},
        {"question_id": "WVS-Q1", "country": None, "prompt_language": "fa", "answer": 1,
         "refusal": False, "option_probs": _probs([0.7, 0.1, 0.1, 0.1])},
    ], neutral_cell)  # fmt: skip
    items = M.item_table(
        pd.concat([persona, neutral], ignore_index=True), questions, human, zones,
        MetricsSettings(), countries=DEFAULT_COUNTRIES,
    )  # fmt: skip
    iran = items[(items["framing"] == "persona") & (items["country"] == "Iran")].iloc[0]
    assert pd.isna(iran["human_mean"]) and pd.isna(iran["nvas"]) and pd.isna(iran["kld"])
    assert iran["answer"] == 2 and not iran["refusal"]
    egypt = items[(items["framing"] == "persona") & (items["country"] == "Egypt")].iloc[0]
    assert egypt["refusal"] and pd.isna(egypt["nvas"]) and egypt["kld"] > 0 and egypt["leakage"]
    assert egypt["expected"] == pytest.approx(0.1 + 1.2 + 0.6 + 0.4)
    # native neutral: ar -> the Arabic-speaking countries; fa -> Iran, which has no data
    native = items[items["framing"] == "neutral"]
    assert sorted(native["country"]) == ["Egypt", "Lebanon", "Morocco", "Tunisia"]
    assert set(native["prompt_language"]) == {"ar"}


def test_item_table_rejects_bad_shards():
    questions, human = fake_benchmark(specs=[("WVS-Q1", 1, 4, "ordinal")])
    zones = fake_zones()
    bad = _one_shard([{"question_id": "WVS-Q1", "country": "Egypt", "prompt_language": "en",
                       "answer": 7, "refusal": False,
                       "option_probs": _probs([0.25] * 4)}])  # fmt: skip
    with pytest.raises(MetricsError, match=r"s.parquet: row 0: answer 7 outside the scale 1..4"):
        M.item_table(bad, questions, human, zones, MetricsSettings())
    unknown = bad.assign(question_id="WVS-Q999", answer=1)
    with pytest.raises(MetricsError, match="WVS-Q999"):
        M.item_table(unknown, questions, human, zones, MetricsSettings())


# --------------------------------------------------------------------------- recomputation


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    questions, human = fake_benchmark(missing=[("WVS-Q46", "Turkey")])
    zones = fake_zones()
    shards = write_fake_shards(root, questions, human, zones, all_cells(["m1", "m2"]), seed=3)
    return root, questions, human, zones, shards


def _recompute_items(shards, questions, human, zones, mode, eps):
    """Independent, loop-based recomputation of NVAS and KLD from the raw shard files."""
    qinfo = {q.question_id: q for q in questions.itertuples()}
    shares = {}
    for (qid, country), g in human.groupby(["question_id", "country"]):
        shares[(qid, country)] = dict(zip(g["option"], g["share"], strict=True))
    native = {c: langs[0] for c, langs in zip(zones["country"], zones["languages"], strict=True)}
    out = {}
    for cell, path, answers_path in shards:
        parsed = pd.read_parquet(answers_path)
        for r, a in zip(pd.read_parquet(path).to_dict("records"), parsed.to_dict("records"),
                        strict=True):  # fmt: skip
            r["answer"], r["refusal"] = a["answer"], a["refusal"]
            q = qinfo[r["question_id"]]
            opts = list(range(q.scale_min, q.scale_max + 1))
            p = {d["option"]: d["prob"] for d in r["option_probs"]}
            r["country"] = None if pd.isna(r["country"]) else r["country"]
            r["answer"] = None if pd.isna(r["answer"]) else int(r["answer"])
            if r["country"] is not None:
                countries = [r["country"]]
            elif r["prompt_language"] == "en":
                countries = list(zones["country"])
            else:
                countries = [c for c in zones["country"] if native[c] == r["prompt_language"]]
            for c in countries:
                h = shares.get((r["question_id"], c))
                if h is None and r["country"] is None:
                    continue
                key = (*cell.values(), r["question_id"], c)
                if h is None:
                    out[key] = (None, None, r["answer"], p)
                    continue
                hmean = sum(o * h[o] for o in opts)
                rng = q.scale_max - q.scale_min
                answered = not r["refusal"] and r["answer"] is not None
                if not answered:
                    nv = None
                elif mode == "default" and q.scale_type == "nominal":
                    nv = 100 * sum(min(p[o], h[o]) for o in opts)
                else:
                    nv = 100 * (1 - abs(r["answer"] - hmean) / rng)
                k = len(opts)
                kl = sum(h[o] * math.log(h[o] / ((p[o] + eps) / (1 + k * eps)))
                         for o in opts if h[o] > 0)  # fmt: skip
                out[key] = (nv, kl, r["answer"] if answered else None, p)
    return out


@pytest.mark.parametrize("mode", ["default", "paper"])
def test_items_and_consistency_recompute_exactly(synthetic, mode):
    _, questions, human, zones, shards = synthetic
    settings = MetricsSettings(mode=mode, kld_smoothing=1e-6)
    items = M.item_table(kit.load_shards(shards), questions, human, zones, settings)
    expected = _recompute_items(shards, questions, human, zones, mode, 1e-6)
    assert len(items) == len(expected) > 100
    for row in items.itertuples():
        nv, kl, _, _ = expected[(row.model, row.language, row.framing, row.reasoning,
                                 row.question_id, row.country)]  # fmt: skip
        if nv is None:
            assert math.isnan(row.nvas)
        else:
            assert abs(row.nvas - nv) <= 1e-9
        if kl is None:
            assert math.isnan(row.kld)
        else:
            assert abs(row.kld - kl) <= 1e-9
    assert set(items["variant"]) == {"original"}
    # CLCS / FCS / SPD recomputed from the same answers
    qinfo = {q.question_id: q for q in questions.itertuples()}

    def score(ka, kb):
        if ka not in expected or kb not in expected:
            return "absent"
        (_, _, a, pa), (_, _, b, pb) = expected[ka], expected[kb]
        q = qinfo[ka[4]]
        if a is None or b is None:
            return None
        if mode == "default" and q.scale_type == "nominal":
            return 100 * sum(min(pa[o], pb[o]) for o in range(q.scale_min, q.scale_max + 1))
        return 100 * (1 - abs(a - b) / (q.scale_max - q.scale_min))

    consistency = M.consistency_table(items, mode)
    checked = 0
    for row in consistency.itertuples():
        if row.language is None:
            pairs = [("clcs", ("en", row.framing), ("native", row.framing))]
        else:
            pairs = [
                ("fcs", (row.language, "persona"), (row.language, "observer")),
                ("spd", (row.language, "neutral"), (row.language, "persona")),
            ]
        for metric, (la, fa), (lb, fb) in pairs:
            want = score(
                (row.model, la, fa, row.reasoning, row.question_id, row.country),
                (row.model, lb, fb, row.reasoning, row.question_id, row.country),
            )
            got = getattr(row, metric)
            if want is None or want == "absent":
                assert math.isnan(got)
            else:
                assert abs(got - want) <= 1e-9
                checked += 1
    assert checked > 100


def _peer_by_hand(p: dict, h: dict, opts: list[int], scale_type: str):
    """GlobalOpinionQA's 1 - JS distance (base 2); OpinionQA's 1 - W1/(K-1) and
    WorldValuesBench's W1 on [0, 1]-scaled answers, from the CDFs."""
    m = {o: (p[o] + h[o]) / 2 for o in opts}
    js = 0.5 * sum(p[o] * math.log2(p[o] / m[o]) for o in opts if p[o] > 0)
    js += 0.5 * sum(h[o] * math.log2(h[o] / m[o]) for o in opts if h[o] > 0)
    similarity = 1 - math.sqrt(max(js, 0.0))
    if scale_type != "ordinal":
        return similarity, None, None
    cdf_p = cdf_h = w1 = 0.0
    for o in opts[:-1]:
        cdf_p += p[o]
        cdf_h += h[o]
        w1 += abs(cdf_p - cdf_h)
    return similarity, 1 - w1 / (len(opts) - 1), w1 / (len(opts) - 1)


def test_peer_measures_recompute_exactly(synthetic):
    _, questions, human, zones, shards = synthetic
    items = M.item_table(kit.load_shards(shards), questions, human, zones, MetricsSettings())
    expected = _recompute_items(shards, questions, human, zones, "default", 1e-6)
    qinfo = {q.question_id: q for q in questions.itertuples()}
    shares = {}
    for (qid, country), g in human.groupby(["question_id", "country"]):
        shares[(qid, country)] = dict(zip(g["option"], g["share"], strict=True))
    checked = {"ordinal": 0, "nominal": 0}
    for row in items.itertuples():
        key = (row.model, row.language, row.framing, row.reasoning, row.question_id, row.country)
        p = expected[key][3]
        h = shares.get((row.question_id, row.country))
        if h is None or not p:
            assert math.isnan(row.jsd_similarity)
            continue
        q = qinfo[row.question_id]
        opts = list(range(q.scale_min, q.scale_max + 1))
        h = {o: h.get(o, 0.0) for o in opts}
        similarity, representativeness, emd = _peer_by_hand(p, h, opts, q.scale_type)
        assert abs(row.jsd_similarity - similarity) <= 1e-9
        if representativeness is None:
            assert math.isnan(row.representativeness) and math.isnan(row.emd)
        else:
            assert abs(row.representativeness - representativeness) <= 1e-9
            assert abs(row.emd - emd) <= 1e-9
        checked[q.scale_type] += 1
    assert checked["ordinal"] > 50 and checked["nominal"] > 5


def test_peer_measures_hand_values():
    same = M.peer_measures(np.array([0.2, 0.8]), np.array([0.2, 0.8]), "ordinal")
    assert same == pytest.approx({"jsd_similarity": 1.0, "representativeness": 1.0, "emd": 0.0})
    # opposite ends of a 3-point scale: disjoint support (JS distance 1), W1 = 2 = K - 1
    far = M.peer_measures(np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), "ordinal")
    assert far == pytest.approx({"jsd_similarity": 0.0, "representativeness": 0.0, "emd": 1.0})
    # adjacent options: W1 = 1 of a possible 2
    near = M.peer_measures(np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), "ordinal")
    assert near["representativeness"] == pytest.approx(0.5) and near["emd"] == pytest.approx(0.5)
    assert near["jsd_similarity"] == pytest.approx(0.0)
    nominal = M.peer_measures(np.array([0.5, 0.5, 0]), np.array([0.5, 0, 0.5]), "nominal")
    assert nominal["representativeness"] is None and nominal["emd"] is None
    assert nominal["jsd_similarity"] == pytest.approx(1 - math.sqrt(0.5))


# --------------------------------------------------------------------------- bootstrap


def clustered_values(
    seed: int,
    clusters: int = 30,
    size: int = 20,
    between: float = 5.0,
    within: float = 1.0,
    mean: float = 50.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``mean`` + a normal effect per cluster (sd ``between``) + row noise (sd ``within``),
    rows shuffled so that a cluster's rows are not next to each other; string labels."""
    rng = np.random.default_rng(seed)
    effects = rng.normal(0.0, between, size=clusters)
    values = mean + np.repeat(effects, size) + rng.normal(0.0, within, size=clusters * size)
    labels = np.repeat([f"q{i:02d}" for i in range(clusters)], size)
    order = rng.permutation(clusters * size)
    return values[order], labels[order]


def cluster_standard_error(values: np.ndarray, labels: np.ndarray) -> float:
    """Standard error of the mean under resampling of whole (equal-sized) clusters: the
    spread of the cluster means / sqrt(number of clusters) (numpy, by hand)."""
    means = np.array([values[labels == label].mean() for label in np.unique(labels)])
    return float(np.sqrt(means.var(ddof=0) / len(means)))


def test_cluster_bootstrap_is_seeded_and_handles_degenerate_input():
    values, labels = clustered_values(1)
    first = kit.cluster_bootstrap(values, labels, 500, seed=7)
    assert first == kit.cluster_bootstrap(values, labels, 500, seed=7)
    assert first != kit.cluster_bootstrap(values, labels, 500, seed=8)
    assert first[0] == pytest.approx(values.mean()) and first[3] == 30
    constant = kit.cluster_bootstrap([3.0] * 6, [1, 1, 2, 2, 3, 3], 100, seed=0)
    assert constant == (3.0, 3.0, 3.0, 3)
    assert all(math.isnan(x) for x in kit.cluster_bootstrap([math.nan], [1], 10, 0)[:3])
    assert kit.cluster_bootstrap([math.nan], [1], 10, 0)[3] == 0
    # NaN rows are ignored: cluster "b" has no value left and is not counted; the point
    # estimate is the mean of the remaining rows (1, 3, 5), whatever their clusters
    mean, _, _, k = kit.cluster_bootstrap([1.0, math.nan, 3.0, math.nan, 5.0],
                                        ["a", "b", "c", "b", "a"], 50, 0)  # fmt: skip
    assert (mean, k) == (pytest.approx(3.0), 2)


def test_cluster_bootstrap_width_is_the_cluster_level_standard_error():
    """Strongly clustered data (between-cluster sd 5, within 1): resampling whole clusters
    gives an interval ~4x wider than resampling rows; its width must match 2 x 1.96 x the
    cluster-level standard error computed by hand, and be far from the row-level one."""
    values, labels = clustered_values(11)
    mean, low, high, k = kit.cluster_bootstrap(values, labels, 4000, seed=3)
    assert k == 30 and mean == pytest.approx(values.mean())
    se_cluster = cluster_standard_error(values, labels)
    se_rows = float(values.std(ddof=0) / np.sqrt(len(values)))
    assert se_cluster > 4 * se_rows  # the data discriminate between the two schemes
    z = 1.959963984540054
    assert (high - low) == pytest.approx(2 * z * se_cluster, rel=0.08)
    assert low < mean < high
    assert (low + high) / 2 == pytest.approx(mean, abs=0.15 * se_cluster)  # ~symmetric
    # level is honoured: a 50% interval is 2 x 0.674 standard errors wide
    _, low50, high50, _ = kit.cluster_bootstrap(values, labels, 4000, seed=3, level=0.5)
    assert (high50 - low50) == pytest.approx(2 * 0.6744897501960817 * se_cluster, rel=0.1)


def row_bootstrap(values: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """A plain iid row bootstrap percentile interval (the wrong scheme, for contrast)."""
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high)


def test_cluster_bootstrap_covers_the_planted_mean_at_its_nominal_rate():
    """300 simulated data sets with a known mean of 50: the 95% cluster-bootstrap interval
    covers it in ~95% of them (binomial band), while a row bootstrap of the same data covers
    it in far fewer (so the check would catch a non-clustered resampling)."""
    runs, truth = 300, 50.0
    clustered = rows = 0
    for run in range(runs):
        values, labels = clustered_values(1000 + run, clusters=30, size=10, mean=truth)
        _, low, high, _ = kit.cluster_bootstrap(values, labels, 1000, seed=run)
        clustered += low <= truth <= high
        low, high = row_bootstrap(values, 1000, run)
        rows += low <= truth <= high
    # at a true 95%: P(X <= 264 of 300) ~ 1e-6 and P(X >= 297) ~ 2e-4, so the band [0.88,
    # 0.99] is wide enough; the row bootstrap covers under half (interval ~3x too narrow)
    assert 0.88 <= clustered / runs <= 0.99, clustered / runs
    assert rows / runs < 0.6, rows / runs


def test_summary_table(synthetic):
    _, questions, human, zones, shards = synthetic
    settings = MetricsSettings(bootstrap_resamples=200)
    items = M.item_table(kit.load_shards(shards), questions, human, zones, settings)
    summary = M.summary_table(items, settings)
    assert len(summary) == 24
    for metric in ("nvas", "kld", "overlap"):
        assert (summary[f"{metric}_ci_low"] <= summary[f"{metric}_mean"] + 1e-12).all()
        assert (summary[f"{metric}_mean"] <= summary[f"{metric}_ci_high"] + 1e-12).all()
    cell = summary.iloc[0]
    rows = items[(items["model"] == cell["model"]) & (items["language"] == cell["language"])
                 & (items["framing"] == cell["framing"])
                 & (items["reasoning"] == cell["reasoning"])]  # fmt: skip
    assert cell["n"] == len(rows)
    assert cell["nvas_mean"] == pytest.approx(rows["nvas"].mean())
    assert cell["refusal_rate"] == pytest.approx(rows["refusal"].mean())
    assert cell["leakage_rate"] == pytest.approx(rows["leakage"].mean())
    consistency = M.consistency_summary(M.consistency_table(items, "default"), settings)
    assert set(consistency["metric"]) == {"clcs", "fcs", "spd"}


# --------------------------------------------------------------------------- findings


def test_findings_detect_a_planted_shift():
    rng = np.random.default_rng(0)
    rows = []
    for q in range(12):
        for c in ("Egypt", "Iran", "Turkey"):
            base = rng.normal(60, 10)  # no framing or reasoning effect
            for framing in ("neutral", "persona", "observer"):
                for reasoning in ("zero", "cot"):
                    for language, shift in (("en", 0.0), ("native", -8.0)):
                        rows.append({"model": "m", "language": language, "framing": framing,
                                     "reasoning": reasoning, "question_id": f"Q{q}",
                                     "country": c, "nvas": base + shift + rng.normal(0, 1),
                                     "kld": 1.0})  # fmt: skip
    items = pd.DataFrame(rows)
    table = findings_table(items, MetricsSettings(bootstrap_resamples=300))
    pooled = table[(table["finding"] == "cross_lingual_shift") & (table["metric"] == "nvas")
                   & (table["framing"] == "all")].iloc[0]  # fmt: skip
    assert pooled["mean_diff"] == pytest.approx(-8.0, abs=0.5)
    assert pooled["ci_low"] < -8.0 + 0.5 and pooled["ci_high"] < 0
    assert pooled["p_value"] < 1e-6 and pooled["p_value_questions"] < 0.01
    assert pooled["n_pairs"] == 12 * 3 * 6 and pooled["n_questions"] == 12
    reasoning = table[(table["finding"] == "reasoning_change") & (table["metric"] == "nvas")
                      & (table["language"] == "all")].iloc[0]  # fmt: skip
    assert reasoning["p_value"] > 0.01 and reasoning["ci_low"] < 0 < reasoning["ci_high"]
    kld = table[(table["metric"] == "kld")].iloc[0]
    assert kld["p_value"] == 1.0 and "zero" in kld["note"]
    assert wilcoxon([])[2] == "no pairs"


@pytest.mark.parametrize(
    "diffs",
    [
        [2.0, -1.0, 2.0, 3.0, -3.0, 5.0],  # ties, no zero: scipy enumerates the sign flips
        [0.0, 1.5, -0.5, 2.0, 2.0, 0.0, 4.0, -1.0, 3.0, 6.0, 7.0, 8.0, 9.0],  # 13, zeros
        [0.0, 0.0, 1.0],  # one difference left after the zeros
        [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0],  # 14: normal
        [0.3, -1.2, 2.5, 4.1, -0.7, 3.3],  # no ties, no zeros: scipy's exact distribution
    ],
)
def test_wilcoxon_equals_scipy(diffs):
    expected = stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided")
    statistic, p_value, note = wilcoxon(diffs)
    assert (statistic, p_value, note) == (float(expected.statistic), float(expected.pvalue), "")


def test_findings_by_category_separate_a_planted_category_effect():
    """Reasoning costs 10 NVAS points on governance questions and nothing on social ones."""
    rng = np.random.default_rng(1)
    rows, qrows = [], []
    for q in range(16):
        category = "GOVERNANCE" if q % 2 else "SOCIAL"
        subcategory = f"{category.lower()}-{q % 4 // 2}"
        qrows.append({"question_id": f"Q{q}", "category": category, "subcategory": subcategory})
        for c in ("Egypt", "Iran", "Turkey"):
            base = rng.normal(60, 10)
            for reasoning in ("zero", "cot"):
                shift = -10.0 if (reasoning == "cot" and category == "GOVERNANCE") else 0.0
                for language in ("en", "native"):
                    rows.append({"model": "m", "language": language, "framing": "persona",
                                 "reasoning": reasoning, "question_id": f"Q{q}", "country": c,
                                 "nvas": base + shift + rng.normal(0, 1), "kld": 1.0})  # fmt: skip
    from culturalign.analysis.survey.findings import findings_by_category

    table = findings_by_category(pd.DataFrame(rows), pd.DataFrame(qrows),
                                 MetricsSettings(bootstrap_resamples=300))  # fmt: skip
    pooled = table[(table["finding"] == "reasoning_change") & (table["metric"] == "nvas")
                   & (table["language"] == "all") & (table["subcategory"] == "all")]  # fmt: skip
    by_category = pooled.set_index("category")
    governance, social = by_category.loc["GOVERNANCE"], by_category.loc["SOCIAL"]
    assert governance["mean_diff"] == pytest.approx(-10.0, abs=0.5)
    assert governance["ci_high"] < 0 and governance["n_questions"] == 8
    assert social["ci_low"] < 0 < social["ci_high"]
    subcategories = table[(table["subcategory"] != "all") & (table["finding"] == "reasoning_change")
                          & (table["metric"] == "nvas")]  # fmt: skip
    assert set(subcategories["subcategory"]) == {"governance-0", "governance-1", "social-0",
                                                  "social-1"}  # fmt: skip
    assert (subcategories["language"] == "all").all()  # pooled over the strata only
    per_stratum = table[(table["category"] == "GOVERNANCE") & (table["language"] == "en")
                        & (table["finding"] == "reasoning_change")]  # fmt: skip
    assert len(per_stratum) == 2  # nvas and kld, en/persona stratum
    no_categories = findings_by_category(pd.DataFrame(rows), pd.DataFrame(
        {"question_id": [f"Q{q}" for q in range(16)]}), MetricsSettings())  # fmt: skip
    assert no_categories.empty


# --------------------------------------------------------------------------- workflow


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "results", ".snakemake", "logs", "resources/models",
                                    "__pycache__", ".pytest_cache", "*.egg-info")  # fmt: skip
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


@pytest.mark.skipif(not WORKBOOK.exists(), reason="shared MENAValues workbook not available")
def test_metrics_and_stats_rules_run_on_synthetic_shards(tmp_path):
    repo = _copy_repo(tmp_path / "repo")
    questions, human = fake_benchmark()
    zones = fake_zones(list(DEFAULT_COUNTRIES))
    cells = all_cells(["smollm2-135m"])
    write_fake_shards(repo, questions, human, zones, cells, seed=1,
                      countries=list(DEFAULT_COUNTRIES))  # fmt: skip
    targets = ["results/menavalues/metrics/summary.csv",
               "results/menavalues/stats/mixed_effects.json"]  # fmt: skip
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "metrics: {mode: default, leakage_threshold: 0.5, kld_smoothing: 1.0e-6,\n"
        "          bootstrap_resamples: 100, seed: 0, leakage_examples: 5}\n"
    )
    command = [
        sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(repo),
        "--snakefile", str(repo / "Snakefile"), "--configfile", str(overlay),
        "--config", f"benchmarks={{menavalues: {{source: {WORKBOOK}}}}}",
        "--allowed-rules", "compute_metrics", "summarise_metrics", "fit_mixed_effects",
        "--", *targets,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    out = repo / "results" / "menavalues"
    items = pd.read_parquet(out / "metrics" / "items.parquet")
    assert set(items["country"]) == set(DEFAULT_COUNTRIES)
    assert {"nvas", "kld", "leakage", "expected", "human_mean"} <= set(items.columns)
    summary = pd.read_csv(out / "metrics" / "summary.csv")
    assert len(summary) == 12
    import json

    result = json.loads((out / "stats" / "mixed_effects.json").read_text())
    assert [row["model"] for row in result["lrt"]] == ["smollm2-135m"]
    assert result["lrt"][0]["df"] >= 1
    assert (out / "metrics" / "findings.csv").exists()


def test_load_shards_checks_the_answers_belong_to_the_shard(synthetic, tmp_path):
    _, _, _, _, shards = synthetic
    cell, path, answers = shards[0]
    frame = kit.load_shards([(cell, path, answers)])
    parsed = pd.read_parquet(answers)

    def plain(values):
        return [None if pd.isna(v) else int(v) for v in values]

    assert plain(frame["answer"]) == plain(parsed["answer"])
    short = tmp_path / "short.parquet"
    parsed.iloc[1:].to_parquet(short)
    with pytest.raises(
        MetricsError, match=r"short.parquet: 5 rows for the 6 of .*re-run the parse"
    ):
        kit.load_shards([(cell, path, short)])
    shuffled = tmp_path / "shuffled.parquet"
    parsed.iloc[::-1].to_parquet(shuffled)
    with pytest.raises(MetricsError, match=r"shuffled.parquet: row 0, column"):
        kit.load_shards([(cell, path, shuffled)])


def test_robustness_variants_stay_out_of_summaries(synthetic):
    _, questions, human, zones, shards = synthetic
    settings = MetricsSettings(bootstrap_resamples=50)
    frame = kit.load_shards(shards)
    items = M.item_table(frame, questions, human, zones, settings)
    reversed_rows = frame.assign(variant="reversed")
    both = M.item_table(pd.concat([frame, reversed_rows], ignore_index=True), questions, human,
                        zones, settings)  # fmt: skip
    assert len(both) == 2 * len(items)
    pd.testing.assert_frame_equal(M.summary_table(both, settings), M.summary_table(items, settings))
    pd.testing.assert_frame_equal(
        M.consistency_table(both, "default"), M.consistency_table(items, "default")
    )


def test_top_logprob_distributions_below_the_coverage_threshold_are_left_out():
    questions, human = fake_benchmark(specs=[("WVS-Q1", 1, 4, "ordinal")])
    zones = fake_zones()
    rows = [
        {"question_id": "WVS-Q1", "country": country, "prompt_language": "en", "answer": answer,
         "refusal": answer is None, "option_probs": _probs([0.7, 0.1, 0.1, 0.1]),
         "option_probs_source": source, "option_coverage": coverage}
        for country, answer, source, coverage in [
            ("Egypt", 1, "exact", 1.0), ("Iran", 2, "top_logprobs", 0.95),
            ("Turkey", None, "top_logprobs", 0.5), ("Morocco", 3, "top_logprobs", 0.89),
        ]
    ]  # fmt: skip
    items = M.item_table(_one_shard(rows), questions, human, zones, MetricsSettings())
    by_country = items.set_index("country")
    assert by_country["distribution"].to_dict() == {
        "Egypt": "exact", "Iran": "top_logprobs", "Turkey": "low_coverage",
        "Morocco": "low_coverage",
    }  # fmt: skip
    # a low-coverage row keeps its text answer (ordinal NVAS) but no distribution metric
    morocco = by_country.loc["Morocco"]
    assert not pd.isna(morocco["nvas"]) and pd.isna(morocco["kld"]) and pd.isna(morocco["expected"])
    turkey = by_country.loc["Turkey"]
    assert turkey["refusal"] and not turkey["leakage"]  # 0.7 would leak, were it trusted
    assert not pd.isna(by_country.loc["Iran", "kld"])
    summary = M.summary_table(items, MetricsSettings(bootstrap_resamples=10))
    assert summary["n_low_coverage"].tolist() == [2]


def test_a_matrix_with_nothing_to_compare_has_an_empty_consistency_table(synthetic):
    _, questions, human, zones, shards = synthetic
    persona = [(c, p, a) for c, p, a in shards if c["framing"] == "persona" and
               c["language"] == "en" and c["model"] == "m1"]  # fmt: skip
    items = M.item_table(kit.load_shards(persona), questions, human, zones, MetricsSettings())
    table = M.consistency_table(items, "default")
    assert table.empty and list(table.columns) == M.CONSISTENCY_COLUMNS


def test_similarity_per_country_is_the_mean_over_its_questions_ranked():
    """Durmus et al.'s per-country similarity from planted item values: the mean over a
    country's questions of 1 - JS distance; rank 1 = most similar; other variants and
    unscored items (refusals: NaN) left out; a country with no scored item has no row."""
    cell = {"model": "m", "language": "en", "framing": "neutral", "reasoning": "zero"}
    planted = {"Japan": [0.9, 0.7, 0.8], "Kenya": [0.4, 0.6, 0.5], "Peru": [0.95, 0.85, 0.9]}
    rows = [{**cell, "variant": "original", "question_id": f"Q{k}", "country": country,
             "jsd_similarity": value}
            for country, values in planted.items() for k, value in enumerate(values)]  # fmt: skip
    rows += [
        {**cell, "variant": "paraphrase-1", "question_id": "Q0", "country": "Kenya",
         "jsd_similarity": 0.0},
        {**cell, "variant": "original", "question_id": "Q3", "country": "Kenya",
         "jsd_similarity": math.nan},
        {**cell, "variant": "original", "question_id": "Q0", "country": "Chad",
         "jsd_similarity": math.nan},
        {**cell, "framing": "persona", "variant": "original", "question_id": "Q0",
         "country": "Kenya", "jsd_similarity": 0.3},
    ]  # fmt: skip
    table = M.country_similarity(pd.DataFrame(rows), MetricsSettings(bootstrap_resamples=200))
    neutral = table[table["framing"] == "neutral"].set_index("country")
    assert list(neutral.index) == ["Peru", "Japan", "Kenya"]  # most similar first
    assert neutral["rank"].tolist() == [1, 2, 3]
    for country, values in planted.items():
        assert neutral.loc[country, "similarity"] == pytest.approx(np.mean(values), abs=1e-12)
        assert neutral.loc[country, "n_questions"] == 3
        assert neutral.loc[country, "ci_low"] <= np.mean(values) <= neutral.loc[country, "ci_high"]
        assert min(values) - 1e-12 <= neutral.loc[country, "ci_low"]
    persona = table[table["framing"] == "persona"]
    assert persona[["country", "similarity", "rank"]].values.tolist() == [["Kenya", 0.3, 1]]
