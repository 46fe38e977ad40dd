"""The promotion rule of safe training: held-out slices, verdicts and data-derived seeds."""

import numpy as np

from satchel.model.dataset import Dataset
from satchel.training.promotion import decide, holdout_split, training_seed


def data(n: int, times=None) -> Dataset:
    return Dataset.of(np.arange(n, dtype=np.float32)[:, None], np.zeros(n), times=times)


def test_holdout_is_the_newest_fifth_by_label_time_not_by_row_order():
    times = np.array([5, 1, 9, 3, 7, 2, 8, 4, 6, 10], np.float64)
    split = holdout_split(data(10, times), trained_until=None)
    assert sorted(times[split.holdout]) == [9, 10]
    assert sorted(np.concatenate([split.train, split.holdout]).tolist()) == list(range(10))


def test_holdout_holds_only_samples_the_served_model_never_saw():
    times = np.arange(20, dtype=np.float64)
    assert holdout_split(data(20, times), trained_until=18.0).holdout.tolist() == [19]
    assert len(holdout_split(data(20, times), trained_until=19.0).holdout) == 0


def test_a_candidate_must_beat_the_fallback_and_the_model_in_service():
    assert decide("log_loss", 0.40, 0.50, None, 30).promote
    assert decide("log_loss", 0.40, 0.50, 0.45, 30).promote
    kept = decide("log_loss", 0.47, 0.50, 0.45, 30)
    assert not kept.promote and "model in service 0.4500" in kept.reason
    assert not decide("log_loss", 0.55, 0.50, None, 30).promote
    assert not decide("log_loss", 0.50, 0.50, None, 30).promote  # a tie keeps what serves
    assert not decide("log_loss", float("nan"), 0.5, None, 30).promote
    assert "no new samples" in decide("log_loss", 0.1, 0.5, 0.4, 0).reason


def test_a_model_in_service_that_the_fallback_beats_is_demoted():
    demoted = decide("log_loss", 0.47, 0.44, 0.45, 30)
    assert (
        demoted.demote
        and not demoted.promote
        and demoted.reason.startswith("demoted: fallback log_loss 0.4400")
    )
    assert not decide(
        "log_loss", 0.47, 0.46, 0.45, 30
    ).demote  # the model in service still beats the fallback
    assert not decide("log_loss", 0.47, 0.44, None, 30).demote  # nothing personal serves
    assert not decide("log_loss", 0.47, 0.44, 0.45, 5).demote  # too few samples to judge
    assert not decide("log_loss", 0.40, 0.44, 0.45, 30).demote  # the candidate wins: promoted


def test_the_seed_is_a_function_of_spec_and_data_only():
    d = data(8, np.arange(8, dtype=np.float64))
    assert training_seed("spec", d) == training_seed("spec", data(8, np.arange(8, dtype=np.float64)))
    assert training_seed("spec", d) != training_seed("other", d)
    assert training_seed("spec", d) != training_seed("spec", data(9, np.arange(9, dtype=np.float64)))


def test_platt_scaling_undoes_overconfidence_and_keeps_calibrated_probabilities():
    from satchel.training.promotion import platt_scaling

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(float)
    overconfident = 1 / (1 + np.exp(-2 * z))
    a, b = platt_scaling(overconfident, y)
    assert abs(a - 0.5) < 0.05 and abs(b) < 0.1
    a, b = platt_scaling(1 / (1 + np.exp(-z)), y)
    assert abs(a - 1) < 0.08 and abs(b) < 0.1
    a, b = platt_scaling(overconfident[:5], y[:5])  # five samples barely move it
    assert abs(a - 1) < 0.3


def test_too_few_held_out_samples_never_replace_what_serves():
    verdict = decide("log_loss", 0.01, 0.9, None, 19)
    assert not verdict.promote and "20 are needed" in verdict.reason


def test_win_share_is_the_bootstrap_share_where_one_prediction_set_scores_lower():
    from satchel.training.promotion import win_share

    y = np.array([1, 0, 1, 1, 0, 0, 1, 0] * 5, np.float64)

    def loss(p, index):
        return float(np.mean((p[index] - y[index]) ** 2))

    good, bad = np.where(y > 0, 0.8, 0.2), np.full(len(y), 0.5)
    assert win_share(loss, good, bad, len(y), seed=1) == 1.0
    assert win_share(loss, bad, good, len(y), seed=1) == 0.0
    noisy = good.copy()
    noisy[:3] = 1 - noisy[:3]  # a little worse on three samples
    assert 0.0 < win_share(loss, good, noisy, len(y), seed=1) <= 1.0
    assert win_share(loss, good, good, len(y), seed=1) == 0.0  # a tie is not a win
