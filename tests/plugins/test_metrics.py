import numpy as np
import pytest

from satchel.model.metrics import (
    accuracy,
    auc,
    brier,
    log_loss,
    pearson,
    quadratic_weighted_kappa,
    rmse_bins,
    srs_bin_keys,
)


def test_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200), 1)  # many ties
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc(y, p) == pytest.approx(pairs)
    assert auc(y, y) == 1.0 and auc(y, 1 - y) == 0.0
    assert np.isnan(auc(np.ones(3), [0.1, 0.2, 0.3]))


def test_log_loss_and_brier():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.6, 0.4])
    expected = -np.mean(np.log([0.9, 0.9, 0.6, 0.6]))
    assert log_loss(y, p) == pytest.approx(expected)
    assert brier(y, p) == pytest.approx(np.mean([0.01, 0.01, 0.16, 0.16]))
    assert np.isfinite(log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite
    assert log_loss(y, p, weights=np.array([1, 1, 0, 0])) == pytest.approx(-np.log(0.9))


def test_accuracy_and_pearson():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_quadratic_weighted_kappa_known_values():
    assert quadratic_weighted_kappa([0, 1, 2, 3], [0, 1, 2, 3], 0, 3) == pytest.approx(1.0)
    # hand-computed: observed off-by-one disagreements on a 0..2 scale
    a, b = [0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 2, 2]
    obs = np.zeros((3, 3))
    for i, j in zip(a, b):
        obs[i, j] += 1
    w = np.array([[(i - j) ** 2 / 4 for j in range(3)] for i in range(3)])
    exp = np.outer(obs.sum(1), obs.sum(0)) / 6
    assert quadratic_weighted_kappa(a, b, 0, 2) == pytest.approx(1 - (w * obs).sum() / (w * exp).sum())
    rng = np.random.default_rng(1)
    assert abs(quadratic_weighted_kappa(rng.integers(0, 4, 5000), rng.integers(0, 4, 5000), 0, 3)) < 0.05
    with pytest.raises(ValueError, match="outside the scale"):
        quadratic_weighted_kappa([0, 5], [0, 1], 0, 3)


def test_rmse_bins_is_zero_for_calibrated_bins_and_weights_bins_by_size():
    y = np.array([1, 0, 1, 0, 1, 1])
    keys = np.array([0, 0, 1, 1, 2, 2])
    assert rmse_bins(y, np.array([0.5, 0.5, 0.5, 0.5, 1.0, 1.0]), keys) == pytest.approx(0.0)
    p = np.array([0.5, 0.5, 0.5, 0.5, 0.0, 0.0])  # bin 2 is off by 1 and holds a third of the samples
    assert rmse_bins(y, p, keys) == pytest.approx(np.sqrt(1 / 3))
    assert rmse_bins(y, np.full(6, 4 / 6)) == pytest.approx(0.0)  # one probability bin


def test_srs_bin_keys_follow_srs_benchmark_buckets():
    keys = srs_bin_keys(np.array([1.0, 5.0, 0.2]), np.array([1, 4, 2]), np.array([0, 1, 3]))
    assert keys[0].tolist() == [2.48, 2.0, 0.0]
    assert keys[1, 0] == pytest.approx(round(2.48 * 3.62, 2))
    assert keys[1, 1] == 7.0 and keys[1, 2] == 2.0 and keys[2, 2] == 5.0


def test_metrics_refuse_mismatched_or_non_finite_input():
    with pytest.raises(ValueError, match="y has 2"):
        auc([0, 1], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        brier([0, 1], [np.nan, 0.5])
