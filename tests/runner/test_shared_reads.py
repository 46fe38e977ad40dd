"""A runner's pass reads and featurizes each learner's events once: the plan's data is the training's,
unless the learner's events changed in between (App.planned_data)."""

from __future__ import annotations

import pytest
from runner_support import counting_reads, enrol, history

from satchel.app import Pseudonym
from satchel.errors import ConsentError, ErasedError, SchedulerError
from satchel.training.runner import Runner


def test_a_pass_reads_every_learner_once(make_app):
    app = make_app()
    learners = sorted(enrol(app, s, days=20 + 5 * i) for i, s in enumerate(("ada", "bob", "cy")))
    expected = {p: app.samples(Pseudonym(p), "habits") for p in learners}
    reads = counting_reads(app)
    summary = Runner(app).tick()
    assert sorted(reads) == learners
    assert {t.subject: t.samples for t in summary.trained} == expected


def test_outside_a_pass_every_call_reads(make_app):
    app = make_app()
    ada = Pseudonym(enrol(app, "ada"))
    reads = counting_reads(app)
    app.samples(ada, "habits")
    app.train(ada, "habits")
    assert reads == [ada, ada]


@pytest.mark.parametrize("change", ["record", "delete"])
def test_events_changed_since_the_plan_are_read_again(make_app, change):
    app = make_app()
    ada = Pseudonym(enrol(app, "ada", days=20))
    reads = counting_reads(app)
    with app.planned_data():
        planned = app.samples(ada, "habits")
        if change == "record":
            app.record(ada, history(40, habit="running"))
            assert app.train(ada, "habits").context.samples > planned
        else:  # as a retention purge or a withdrawal does
            app.events.delete(app.pseudonym(ada), ["habit_completed"])
            with pytest.raises(SchedulerError, match="training samples"):
                app.train(ada, "habits")
    assert reads == [ada, ada]


def test_an_erased_learner_is_not_trained_from_the_plan(make_app):
    app = make_app()
    ada = Pseudonym(enrol(app, "ada"))
    with app.planned_data():
        app.samples(ada, "habits")
        app.erase(ada)
        with pytest.raises((ConsentError, ErasedError)):
            app.train(ada, "habits")


def test_data_beyond_the_budget_is_read_again(make_app):
    app = make_app()
    ada = Pseudonym(enrol(app, "ada"))
    reads = counting_reads(app)
    with app.planned_data(budget_bytes=0):
        samples = app.samples(ada, "habits")
        assert app.train(ada, "habits").context.samples == samples
    assert reads == [ada, ada]
