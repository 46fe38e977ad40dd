"""Record a learner's quiz answers, train the quiz model on this device, predict, and audit.

Run it beside satchel.toml: ``python try_it.py`` (the master key comes from QUIZ_APP_KEY; a random
one is made for this run if it is not set, so the data is unreadable once the run ends).
"""

import base64
import os
import random
from datetime import datetime, timedelta, timezone

import satchel

os.environ.setdefault("QUIZ_APP_KEY", base64.b64encode(os.urandom(32)).decode())
rng = random.Random(7)
skill = {"fractions": 0.85, "decimals": 0.55, "percent": 0.2}
start = datetime(2026, 9, 1, 16, tzinfo=timezone.utc)
answers = []
for i in range(300):
    topic = rng.choice(list(skill))
    answers.append(
        {
            "type": "quiz_answer",
            "time": start + timedelta(hours=i),
            "data": {"topic": topic, "correct": rng.random() < skill[topic]},
        }
    )

with satchel.open("satchel.toml", new_keys=True) as app:
    app.consent.grant(
        "sam",
        purposes=["quiz_practice"],
        notice="Quiz answers stay on this device.",
        policy_version="1",
        actor="guardian",
        age_band="8-12",
        method="in_app",
    )
    app.record("sam", answers)
    report = app.train("sam", "quiz")
    print(f"trained: promoted={report.promoted} ({report.reason})")
    for decision in app.predict("sam", "quiz").decisions:
        print(f"P(next {decision.key} answer right) = {decision.score:.2f}")
    audit = app.audit_report()
    for pipeline in audit.pipelines:
        print(f"audit: pipeline {pipeline.name} reads {', '.join(c.name for c in pipeline.categories)} data")
    print("audit findings:", audit.summary())
