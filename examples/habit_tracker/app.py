"""A habit tracker on satchel: a guardian's consent, a child's habit events, an on-device model, reminders.

Run ``python examples/habit_tracker/app.py [--data-dir DIR]``. With ``SATCHEL_EXAMPLE_KEY`` set
(a base64 32-byte key), data is kept in ``.satchel-example-data`` beside this file between runs;
without it, the script generates a throwaway key in this process and uses a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import tempfile
from datetime import date, timedelta
from pathlib import Path

import satchel

HERE = Path(__file__).resolve().parent
KEY_VARIABLE = "SATCHEL_EXAMPLE_KEY"
NOTICE = "We use your child's habit history on this device only, to time reminders. Withdraw any time."


def open_app(data_dir: Path | None) -> satchel.App:
    """The app of ``satchel.toml`` beside this file; ``data_dir`` replaces its data and key paths."""
    if data_dir is None:
        return satchel.open(HERE / "satchel.toml")
    import tomllib

    config = tomllib.loads((HERE / "satchel.toml").read_text(encoding="utf-8"))
    config["app"].update(data_dir=str(data_dir / "data"), key_dir=str(data_dir / "keys"))
    return satchel.open(config)


def run(app: satchel.App) -> None:
    from satchel_plugins.habit import simulate_habit_learners

    days = 120
    learner = simulate_habit_learners(1, days=days, start=date.today() - timedelta(days=days))[0]
    app.consent.grant(
        "ada",
        purposes=["habit_reminders"],
        notice=NOTICE,
        policy_version="2026-01",
        actor="guardian",
        age_band="8-12",
        method="signed_form",
    )
    result = app.record("ada", list(learner.events))
    print(f"recorded {result.stored} events for ada ({result.duplicates} already stored), encrypted on disk")
    report = app.train("ada", "habits")
    print(
        f"trained model v{report.checkpoint_version} on {report.context.samples} habit-days "
        f"in {report.seconds:.1f} s ({report.reason}; held-out AUC {report.metrics.get('holdout_auc', float('nan')):.2f})"
    )
    for d in app.predict("ada", "habits").decisions:
        print(f"{d.key}: {d.action} ({d.details['reason']})")


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
