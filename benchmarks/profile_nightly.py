"""Where the nightly job spends its time: cProfile of run_job("nightly") on the N-row demo, first
night and next night (unchanged), stats saved to benchmarks/out/profile-nightly-N-{1,2}.pstats.

    .venv/bin/python benchmarks/profile_nightly.py 100000 [sort-key]
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_excel import ROOT, demo_path  # noqa: E402
from bench_nightly import NIGHTS  # noqa: E402

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.job import run_job  # noqa: E402


def main(n: int, sort: str = "cumulative") -> None:
    folder = HERE / "out" / f"profile-nightly-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    shutil.copyfile(demo_path(n), folder / "data" / "customers.xlsx")
    config = load_config(folder / "config.toml")
    for night, now in enumerate(NIGHTS, start=1):
        profile = cProfile.Profile()
        t = time.perf_counter()
        profile.enable()
        report = run_job("nightly", config, now=now)
        profile.disable()
        assert report.outcome == "ok", report.error
        print(f"\nnight {night}: {time.perf_counter() - t:.1f} s {report.counts.get('steps')}")
        out = HERE / "out" / f"profile-nightly-{n}-{night}.pstats"
        profile.dump_stats(out)
        pstats.Stats(str(out)).sort_stats(sort).print_stats(40)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, *sys.argv[2:3])
