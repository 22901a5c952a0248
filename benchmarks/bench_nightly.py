"""The nightly job end to end on a demo workbook: the first night (every record new) and the next
night on the unchanged workbook, each step timed, peak memory of the process.

    .venv/bin/python benchmarks/bench_nightly.py 1048575

Uses benchmarks/out/demo-N.xlsx (bench_excel.py makes it) copied into a fresh instance in
benchmarks/out/nightly-N/ with an empty SQLite store, so nothing of an earlier run is reused.
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_excel import ROOT, demo_path  # noqa: E402

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.job import run_job  # noqa: E402

NIGHTS = [datetime(2026, 11, 23, 2, 0), datetime(2026, 11, 24, 2, 0)]


def main(n: int) -> None:
    source = demo_path(n)
    folder = HERE / "out" / f"nightly-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    shutil.copyfile(source, folder / "data" / "customers.xlsx")
    config = load_config(folder / "config.toml")
    print(f"{n:,} customer rows; {source.stat().st_size / 1e6:.0f} MB workbook")
    for label, now in zip(("first night", "next night, unchanged"), NIGHTS, strict=True):
        t = time.perf_counter()
        report = run_job("nightly", config, now=now)
        total = time.perf_counter() - t
        assert report.outcome == "ok", report.error
        steps = report.counts.get("steps", {})
        print(f"\n{label}: {total:.1f} s")
        print("| step | seconds |\n|---|---|")
        for step, seconds in steps.items():
            print(f"| {step} | {seconds:.1f} |")
        for line in report.lines:
            print(f"  {line}")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
