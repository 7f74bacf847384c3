"""Evaluation metrics and agreement statistics against known values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from empathy_studio.metrics import bootstrap_alpha, evaluate_predictions, icc2, krippendorff_alpha, pairwise_qwk, regression_metrics

CONTRACT = ["f1_weighted", "recall_weighted", "accuracy", "f1_macro"] + [
    f"{k}_{t}" for t in ("initial", "final", "change") for k in ("mse", "mae", "pearson", "pearson_p", "spearman", "n")
]


def test_evaluate_keys_and_nan_masking():
    gold_int = {"initial": [4, 5, 3, 4], "final": [2, float("nan"), 1, 2], "change": [-2, float("nan"), -2, -2]}
    pred_int = {"initial": [4, 4, 3, 5], "final": [2, 9, 1, 3], "change": [-2, 0, -2, -2]}
    m = evaluate_predictions(["a", "b", "a", "b"], ["a", "b", "b", "b"], gold_int, pred_int)
    assert set(CONTRACT) <= set(m)
    assert m["accuracy"] == 0.75
    assert m["n_final"] == 3 and m["mse_final"] == pytest.approx(1 / 3)  # the 9 next to a NaN gold is skipped
    assert m["mse_initial"] == pytest.approx(0.5)


def test_intensity_metrics_are_null_for_classification_only():
    m = evaluate_predictions(["a", "b"], ["a", "a"], {"initial": [1, 2], "final": [1, 2], "change": [0, 0]}, None)
    assert m["mse_initial"] is None and m["pearson_final"] is None and m["n_initial"] == 2


def test_pearson_with_p_and_constant_predictions():
    r = regression_metrics([1, 2, 3, 4, 5], [1.1, 2.2, 2.9, 4.2, 4.8])
    assert r["pearson"] > 0.98 and r["pearson_p"] < 0.01 and r["spearman"] == pytest.approx(1.0)
    assert regression_metrics([1, 2, 3], [2, 2, 2])["pearson"] is None


def test_icc_matches_shrout_and_fleiss():
    # Shrout & Fleiss (1979), 6 targets x 4 judges: ICC(2,1) = 0.29, ICC(2,4) = 0.62
    targets = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)
    res = icc2(targets.T)
    assert res["icc2_1"] == pytest.approx(0.29, abs=0.005) and res["icc2_k"] == pytest.approx(0.62, abs=0.005)


def test_alpha_perfect_and_chance():
    perfect = np.array([[1, 2, 3, 4, 5, 3], [1, 2, 3, 4, 5, 3]], dtype=float)
    assert krippendorff_alpha(perfect, "interval") == pytest.approx(1.0)
    assert krippendorff_alpha(perfect, "ordinal") == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = rng.integers(1, 6, size=(5, 400)).astype(float)
    assert abs(krippendorff_alpha(noise, "interval")) < 0.05
    lo, hi = bootstrap_alpha(noise, n_boot=50)
    assert lo < 0 < hi or abs(lo) < 0.05


def test_alpha_handles_missing_ratings():
    m = np.array([[1, 2, np.nan, 4], [1, np.nan, 3, 4], [np.nan, 2, 3, 5]], dtype=float)
    a = krippendorff_alpha(m)
    assert a is not None and 0.8 < a <= 1.0
    assert krippendorff_alpha(np.array([[3.0, np.nan], [np.nan, 3.0]])) is None


def test_pairwise_qwk():
    m = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], dtype=float)
    res = {(r["a"], r["b"]): r["qwk"] for r in pairwise_qwk(m, ["x", "y", "z"])}
    assert res[("x", "y")] == pytest.approx(1.0) and res[("x", "z")] < 0


def test_fast_qwk_equals_sklearn_on_random_overlaps():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    m = rng.integers(1, 6, size=(6, 40)).astype(float)
    m[rng.random(m.shape) < 0.4] = np.nan
    m[1] = np.where(np.isnan(m[1]), np.nan, np.clip(np.nan_to_num(m[0], nan=3) + rng.integers(-1, 2, 40), 1, 5))
    for row in pairwise_qwk(m, [str(i) for i in range(6)]):
        i, j = int(row["a"]), int(row["b"])
        both = ~np.isnan(m[i]) & ~np.isnan(m[j])
        ref = cohen_kappa_score(m[i, both].astype(int), m[j, both].astype(int), weights="quadratic", labels=[1, 2, 3, 4, 5])
        assert row["qwk"] == pytest.approx(ref, abs=1e-9)


def test_rowwise_against_matches_scipy():
    from scipy import stats

    from empathy_studio.metrics import rowwise_against

    rng = np.random.default_rng(1)
    ref = rng.integers(1, 6, 50).astype(float)
    ref[3] = np.nan
    m = np.vstack([np.clip(ref + rng.integers(-1, 2, 50), 1, 5), rng.integers(1, 6, 50)]).astype(float)
    m[0, :5] = np.nan
    for row, res in zip(m, rowwise_against(m, ref)):
        ok = ~np.isnan(row) & ~np.isnan(ref)
        r = stats.pearsonr(row[ok], ref[ok])
        assert res["n"] == ok.sum() and res["mae"] == pytest.approx(np.abs(row[ok] - ref[ok]).mean())
        assert res["pearson"] == pytest.approx(r.statistic) and res["pearson_p"] == pytest.approx(r.pvalue, rel=1e-6)


def test_paired_bootstrap_of_two_models_on_the_same_items():
    from empathy_studio.analysis import metrics_of, metrics_table, paired_bootstrap

    rng = np.random.default_rng(1)
    gold = rng.integers(1, 6, 200).astype(float)
    emotions = rng.choice(["anger", "fear", "shame"], 200)

    def rows(noise: float, wrong_every: int):
        return [
            {
                "item_id": f"i{k}",
                "gold_emotion": e,
                "pred_emotion": e if k % wrong_every else "fear",
                **{f"gold_{t}": g for t in ("initial", "final", "change")},
                **{f"pred_{t}": g + rng.normal(0, noise) for t in ("initial", "final", "change")},
            }
            for k, (g, e) in enumerate(zip(gold, emotions))
        ]

    a, b = rows(1.0, 2), rows(0.3, 10)
    cmp = paired_bootstrap(a, b, n_boot=300)
    assert set(cmp) == {"f1_weighted", "mse_initial", "mse_final", "mse_change"} and cmp["f1_weighted"]["n"] == 200
    assert cmp["f1_weighted"]["difference"] > 0 and cmp["f1_weighted"]["ci95"][0] > 0  # B is clearly better
    assert cmp["mse_initial"]["difference"] < 0 and cmp["mse_initial"]["ci95"][1] < 0
    lo, hi = cmp["mse_final"]["ci95"]
    assert lo <= cmp["mse_final"]["difference"] <= hi
    table = {r["metric"]: r for r in metrics_table({"A": metrics_of(a), "B": metrics_of(b)}, cmp)}
    assert table["F1 (weighted)"]["B − A"] == round(metrics_of(b)["f1_weighted"] - metrics_of(a)["f1_weighted"], 4)
    assert table["Pearson p, initial"]["B − A"] is None and table["items"]["B − A"] is None
    assert paired_bootstrap(a[:1], b[:1]) == {}  # too few shared items to say anything


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60), st.integers(0, 2**16))
def test_a_bootstrap_resample_scores_as_scikit_learn_scores_it(pairs, seed):
    """One resample (n_boot=1): both bounds are that resample's accuracy and macro-F1, as scikit-learn computes them."""
    from sklearn.metrics import accuracy_score, f1_score

    from empathy_studio.metrics import bootstrap_classification_ci

    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    idx = np.random.default_rng(seed).integers(0, len(gold), (1, len(gold)))[0]
    g, p = [gold[i] for i in idx], [pred[i] for i in idx]
    ci = bootstrap_classification_ci(gold, pred, n_boot=1, seed=seed)
    assert ci["accuracy"][0] == pytest.approx(accuracy_score(g, p)) == pytest.approx(ci["accuracy"][1])
    assert ci["f1_macro"][0] == pytest.approx(f1_score(g, p, average="macro", zero_division=0))
