"""kill -9 at random moments of a nightly run, then the next run: does it proceed at once, is the
workbook whole, and is the history what an uninterrupted run leaves?

    .venv/bin/python benchmarks/kill_loop.py 40 --rows 1000

Each round copies a fresh demo instance, starts `sheetcrm run nightly` in a subprocess, sends it
SIGKILL after a random delay within the length of an uninterrupted run, then runs nightly again at
the same time. The round is compared with an uninterrupted run (tests/test_crash.py's `state`:
workbook cells, history, notifications, snapshots, round-robin state).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.demo import generate_demo  # noqa: E402
from tests.test_crash import NIGHT, state  # noqa: E402

OUT = HERE / "out" / "kill_loop"


def nightly(config_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sheetcrm.cli", "--config", str(config_path), "run", "nightly",
         "--now", NIGHT.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if k != "SHEETCRM_CRASH_AT"},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", type=int, nargs="?", default=20)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(OUT, ignore_errors=True)
    template = OUT / "template"
    template.mkdir(parents=True)
    shutil.copyfile(ROOT / "config.toml", template / "config.toml")
    config = load_config(template / "config.toml")
    generate_demo(config, config.workbook_path, rows=args.rows, seed=3, today=NIGHT.date())

    reference_dir = OUT / "reference"
    shutil.copytree(template, reference_dir)
    started = time.monotonic()
    assert nightly(reference_dir / "config.toml").wait() == 0
    length = time.monotonic() - started
    reference = state(load_config(reference_dir / "config.toml"))
    print(f"uninterrupted run: {length:.1f} s; {args.rounds} rounds, kill within that time")

    counts = {"killed": 0, "finished before the kill": 0, "next run proceeded at once": 0,
              "next run refused or failed": 0, "workbooks damaged": 0,
              "histories that differ": 0}  # fmt: skip
    for i in range(args.rounds):
        folder = OUT / f"round-{i}"
        shutil.copytree(template, folder)
        config = load_config(folder / "config.toml")
        delay = rng.uniform(0.05, length)
        proc = nightly(folder / "config.toml")
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            counts["killed"] += 1
        else:
            counts["finished before the kill"] += 1
        proc.wait()
        again = nightly(folder / "config.toml")
        out = again.communicate()[0]
        ok = again.returncode == 0 and "skipped" not in out
        counts["next run proceeded at once" if ok else "next run refused or failed"] += 1
        try:
            with zipfile.ZipFile(config.workbook_path) as zf:
                damaged = zf.testzip() is not None
        except zipfile.BadZipFile:
            damaged = True
        counts["workbooks damaged"] += damaged
        differs = damaged or state(config) != reference
        counts["histories that differ"] += differs
        where = _where_killed(config)
        counts[f"killed: {where}"] = counts.get(f"killed: {where}", 0) + 1
        print(f"round {i}: kill at {delay:.2f} s ({where}), next run {'ok' if ok else 'NOT ok'}"
              f"{', DIFFERS' if differs else ''}")  # fmt: skip
        shutil.rmtree(folder)
    for what, n in counts.items():
        print(f"{what}: {n}")


def _where_killed(config) -> str:  # noqa: ANN001
    """Where the killed run was, from what the store recorded of it."""
    import json

    from sheetcrm.store import Store

    runs = Store(config.store_url).runs("nightly")
    if len(runs) < 2:
        return "before its run was recorded"
    first = runs[-1]
    warnings = " ".join(json.loads(first["warnings"] or "[]"))
    if first["outcome"] == "ok":
        return "after its commit"
    if "after writing" in warnings:
        return "between the workbook swap and the commit (finished from the journal)"
    step = json.loads(first["counts"] or "{}").get("step")
    return f"in the step {step!r}" if step else "between steps"


if __name__ == "__main__":
    main()
