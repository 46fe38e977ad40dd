"""A quiz plugin: will the learner answer the next question on a topic correctly?"""

from pydantic import BaseModel

from satchel.plugin import EventTypeSpec, ModelTask, SequenceFeaturizer, hookimpl


class QuizAnswer(BaseModel):
    topic: str
    correct: bool


class QuizFeatures(SequenceFeaturizer):
    name, reads, features = "quiz_features", ("quiz_answer",), ("accuracy", "attempts", "last_right")

    def key(self, event):
        return event.data["topic"]

    def label(self, event):
        return float(event.data["correct"])

    def features_of(self, history, now):
        right = [e.data["correct"] for e in history]
        last = float(bool(right) and right[-1])
        return [(sum(right) + 1) / (len(right) + 2), min(len(right), 20) / 20, last]


class QuizTask(ModelTask):
    name, featurizer, purposes = "quiz", "quiz_features", ("quiz_practice",)


@hookimpl
def satchel_event_types():
    yield EventTypeSpec("quiz_answer", QuizAnswer, categories=("learning_performance",))


@hookimpl
def satchel_featurizers():
    yield QuizFeatures.spec()


@hookimpl
def satchel_models():
    yield QuizTask.spec()
