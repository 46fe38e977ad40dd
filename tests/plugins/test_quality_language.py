"""Language quality, srs-benchmark style: every review predicted before the model saw it."""

import numpy as np

from satchel.dataset import Dataset
from satchel_plugins.language.evaluate import (
    FEATURIZER,
    SPEC,
    TASK,
    ClassicHLR,
    compare_on_learner,
    fit_classic_hlr,
    mean_scores,
)
from satchel_plugins.language.features import FEATURES
from satchel_plugins.language.simulate import simulate_vocabulary_learners

EPOCHS = 10


def test_half_life_model_beats_constant_fsrs6_defaults_and_classic_hlr(open_trainer):
    learners = simulate_vocabulary_learners(4, days=120, words=60, seed=1)
    scores = mean_scores([compare_on_learner(open_trainer, learner.events, now=learner.end, epochs=EPOCHS)
                          for learner in learners])
    print(f"\nlanguage, 4 simulated learners, {scores['hlr'].n} reviews predicted before seen: " + ", ".join(
        f"{k} LL {v.log_loss:.4f} AUC {v.auc:.3f} RMSE(bins) {v.rmse_bins:.3f}" for k, v in scores.items()))
    hlr = scores["hlr"]
    for baseline in ("fsrs6", "classic_hlr", "constant"):
        assert hlr.log_loss < scores[baseline].log_loss, baseline
        assert hlr.rmse_bins < scores[baseline].rmse_bins, baseline
    assert hlr.auc > scores["constant"].auc + 0.1
    # the classic baseline is fitted sensibly: its counts rank and bin reviews better than a constant (its log
    # loss need not be lower: it extrapolates 2^(θ·x) to counts later folds have and earlier ones had not)
    assert scores["classic_hlr"].auc > scores["constant"].auc + 0.1
    assert scores["classic_hlr"].rmse_bins < scores["constant"].rmse_bins


def test_classic_hlr_recovers_known_weights():
    rng = np.random.default_rng(0)
    n = 6000
    earlier = rng.integers(1, 15, n)
    lapses = rng.binomial(earlier, 0.3)
    x = np.zeros((n, len(FEATURES)), np.float32)  # the featurizer's log-scaled counts
    x[:, FEATURES.index("reviews")] = np.log1p(earlier) / np.log(21.0)
    x[:, FEATURES.index("lapses")] = np.log1p(lapses) / np.log(11.0)
    truth = ClassicHLR((1.2, -0.8, 0.5))
    delta = rng.exponential(5.0, n)
    recalled = rng.random(n) < np.exp2(-delta / truth.half_life(x))
    fitted = fit_classic_hlr(Dataset.of(x, np.stack([recalled, delta], axis=1), schema=FEATURIZER.schema))
    assert np.allclose(fitted.theta, truth.theta, atol=0.15), fitted.theta
    right, wrong = earlier - lapses, lapses
    expected = np.exp2(1.2 * np.sqrt(1 + right) - 0.8 * np.sqrt(1 + wrong) + 0.5)
    assert np.allclose(truth.half_life(x), np.clip(expected, 15 / 1440, 274.0), rtol=1e-5)


def test_trained_model_schedules_reviews(open_trainer):
    learner = simulate_vocabulary_learners(1, days=60, words=30, seed=3)[0]
    trainer = open_trainer(SPEC, TASK.base_params(FEATURIZER.schema))
    data = FEATURIZER.training_data(learner.events, now=learner.end)
    trainer.fit(data, epochs=EPOCHS, seed=0)
    metrics = TASK.metrics(data, trainer.predict(data.x))
    assert np.isfinite(list(metrics.values())).all() and metrics["auc"] > 0.6
    rows = FEATURIZER.rows(learner.events, now=learner.end)
    decisions = TASK.decide(rows, trainer.predict(rows.x), now=learner.end)
    assert len(decisions) == 30 and {d.action for d in decisions} <= {"review_now", "wait"}
    due = [d for d in decisions if d.action == "review_now"]
    assert all(d.score <= TASK.options.target_retention + 1e-9 for d in due)
