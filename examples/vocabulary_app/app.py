"""A vocabulary app on satchel: import a learner's Anki review log, train on the device, schedule reviews.

Run ``python examples/vocabulary_app/app.py [--data-dir DIR]``. With ``SATCHEL_EXAMPLE_KEY`` set
(a base64 32-byte key), data is kept in ``.satchel-example-data`` beside this file between runs;
without it, the script generates a throwaway key in this process and uses a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import satchel

HERE = Path(__file__).resolve().parent
KEY_VARIABLE = "SATCHEL_EXAMPLE_KEY"
NOTICE = "We use your review history on this device only, to schedule your next reviews. Withdraw any time."


def open_app(data_dir: Path | None) -> satchel.App:
    """The app of ``satchel.toml`` beside this file; ``data_dir`` replaces its data and key paths."""
    if data_dir is None:
        return satchel.open(HERE / "satchel.toml")
    import tomllib

    config = tomllib.loads((HERE / "satchel.toml").read_text(encoding="utf-8"))
    config["app"].update(data_dir=str(data_dir / "data"), key_dir=str(data_dir / "keys"))
    return satchel.open(config)


def run(app: satchel.App, scratch: Path) -> None:
    from satchel_plugins.language import simulate_vocabulary_learners, write_anki_csv

    days = 90
    start = datetime.combine(date.today() - timedelta(days=days), time(), tzinfo=timezone.utc)
    learner = simulate_vocabulary_learners(1, days=days, words=50, start=start)[0]
    revlog = scratch / "revlog.csv"  # an Anki export; importing the same reviews again stores nothing new
    write_anki_csv(revlog, learner.events)
    app.consent.grant(
        "noor",
        purposes=["vocabulary_scheduling"],
        notice=NOTICE,
        policy_version="2026-01",
        actor="self",
        age_band="18+",
        method="in_app_checkbox",
    )
    result = app.ingest(revlog, source="anki_revlog_csv", subject="noor")
    print(
        f"imported {result.stored} reviews for noor ({result.duplicates} already stored), encrypted on disk"
    )
    report = app.train("noor", "vocabulary")
    print(
        f"trained model v{report.checkpoint_version} on {report.context.samples} reviews "
        f"in {report.seconds:.1f} s ({report.reason})"
    )
    decisions = app.predict("noor", "vocabulary").decisions
    due = [d for d in decisions if d.action == "review_now"]
    print(f"{len(due)} of {len(decisions)} words are due now; the five least likely to be recalled:")
    for d in due[:5]:
        half_life = float(d.details["half_life_days"])
        print(f"{d.key}: review_now (P(recall) {d.score:.2f}, half-life {half_life:.1f} days)")
    out = app.export_model("noor", "vocabulary", scratch / "model")
    print(f"exported for the mobile app: {', '.join(sorted(p.name for p in out.iterdir()))}")


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
            run(app, Path(scratch))


if __name__ == "__main__":
    main()
