"""Language quality, srs-benchmark style: every review predicted before the model saw it."""

import numpy as np

from satchel.metrics import auc, log_loss, rmse_bins, srs_bin_keys
from satchel_plugins.language import LanguageTask, ReviewFeaturizer, recall_probability, simulate_vocabulary_learners
from satchel_plugins.language.evaluate import constant_predictions, fsrs6_predictions, online_predictions

EPOCHS = 10
FEATURIZER, TASK = ReviewFeaturizer(), LanguageTask()
SPEC = TASK.model_spec(FEATURIZER.schema)


def test_half_life_model_beats_constant_and_fsrs6_defaults(open_trainer):
    base = TASK.base_params(FEATURIZER.schema)
    learners = simulate_vocabulary_learners(4, days=120, words=60, seed=1)
    pooled: dict[str, list[np.ndarray]] = {"y": [], "hlr": [], "fsrs6": [], "constant": [], "keys": []}
    for learner in learners:
        samples = FEATURIZER.samples(learner.events, now=learner.end)

        def fit_predict(train, test):
            trainer = open_trainer(SPEC, base)
            trainer.fit(train, epochs=EPOCHS, seed=0)
            return recall_probability(trainer.predict(test.x), test.y[:, 1])

        idx, p = online_predictions(samples, fit_predict)
        pooled["y"].append(samples.recalled[idx])
        pooled["hlr"].append(p)
        pooled["fsrs6"].append(fsrs6_predictions(learner.events, samples)[idx])
        pooled["constant"].append(constant_predictions(samples)[1])
        pooled["keys"].append(srs_bin_keys(samples.elapsed_days[idx], samples.review_index[idx], samples.lapses[idx]))
    y, keys = np.concatenate(pooled["y"]), np.concatenate(pooled["keys"])
    scores = {}
    for name in ("hlr", "fsrs6", "constant"):
        p = np.concatenate(pooled[name])
        scores[name] = (log_loss(y, p), auc(y, p), rmse_bins(y, p, keys))
    print(f"\nlanguage, 4 simulated learners, {len(y)} reviews predicted before seen: " + ", ".join(
        f"{k} LL {v[0]:.4f} AUC {v[1]:.3f} RMSE(bins) {v[2]:.3f}" for k, v in scores.items()))
    assert scores["hlr"][0] < scores["constant"][0] and scores["hlr"][0] < scores["fsrs6"][0]
    assert scores["hlr"][1] > scores["constant"][1] + 0.1
    assert scores["hlr"][2] < scores["constant"][2] and scores["hlr"][2] < scores["fsrs6"][2]


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
