"""A grading assistant on satchel: a teacher grades a few answers, the on-device model suggests the rest.

Run ``python examples/grading_assistant/app.py [--data-dir DIR]``. With ``SATCHEL_EXAMPLE_KEY`` set
(a base64 32-byte key), data is kept in ``.satchel-example-data`` beside this file between runs;
without it, the script generates a throwaway key in this process and uses a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import satchel

HERE = Path(__file__).resolve().parent
KEY_VARIABLE = "SATCHEL_EXAMPLE_KEY"
NOTICE = "We use the grades you give on this device only, to suggest grades in your style. Withdraw any time."


def open_app(data_dir: Path | None) -> satchel.App:
    """The app of ``satchel.toml`` beside this file; ``data_dir`` replaces its data and key paths."""
    if data_dir is None:
        return satchel.open(HERE / "satchel.toml")
    import tomllib

    config = tomllib.loads((HERE / "satchel.toml").read_text(encoding="utf-8"))
    config["app"].update(data_dir=str(data_dir / "data"), key_dir=str(data_dir / "keys"))
    return satchel.open(config)


def run(app: satchel.App) -> None:
    from satchel_plugins.rubric import answer_events, rubric_score, simulate_teacher, synthetic_answers

    graded = 60
    teacher = simulate_teacher(synthetic_answers(per_question=15), "partial_credit")  # scores 0..3
    events = answer_events(
        teacher.answers,
        teacher.scores[:graded].tolist(),
        scale_max=3,
        start=datetime.now(timezone.utc) - timedelta(hours=4),
    )
    app.consent.grant(
        "ms_okafor",
        purposes=["grading_assistance"],
        notice=NOTICE,
        policy_version="2026-01",
        actor="self",
        age_band="18+",
        method="staff_portal",
    )
    result = app.record("ms_okafor", list(events))
    print(
        f"recorded {len(teacher.answers)} answers and {graded} grades ({result.stored} events), "
        "encrypted on disk"
    )
    report = app.train("ms_okafor", "grading")
    print(
        f"fine-tuned the base grader to ms_okafor's rubric: model v{report.checkpoint_version} "
        f"in {report.seconds:.1f} s ({report.reason})"
    )
    decisions = app.predict("ms_okafor", "grading").decisions
    truth = {a.answer_id: rubric_score(teacher.rubric, a) for a in teacher.answers[graded:]}
    agree = sum(int(d.details["suggested_score"]) == truth[d.key] for d in decisions)
    review = [d for d in decisions if d.action == "needs_review"]
    print(
        f"{len(decisions)} answers ungraded: {len(review)} need the teacher, the rest get a suggestion; "
        f"{agree} suggestions match her rubric"
    )
    text = {a.answer_id: a.text for a in teacher.answers}
    for d in decisions[:5]:
        print(
            f"{d.key}: {d.action} (suggested {d.details['suggested_score']}/3, confidence {d.score:.2f}) "
            f"{text[d.key][:40]!r}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="keep this run's data and keys under DIR")
    data_dir = parser.parse_args().data_dir
    with tempfile.TemporaryDirectory(prefix="satchel-example-") as scratch:
        if not os.environ.get(KEY_VARIABLE):
            os.environ[KEY_VARIABLE] = base64.b64encode(secrets.token_bytes(32)).decode()
            data_dir = data_dir or Path(scratch) / "app"
            print(
                f"{KEY_VARIABLE} is not set: generated a throwaway master key in this process "
                f"(never written to disk); data goes to {data_dir}"
            )
        with open_app(data_dir) as app:
            run(app)


if __name__ == "__main__":
    main()
