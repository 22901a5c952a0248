"""Where a nightly plan spends its time: cProfile of build_plan on the N-row demo, first night
(empty in-memory store).

    .venv/bin/python benchmarks/profile_plan.py 100000
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_excel import ROOT, demo_path  # noqa: E402

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.pipeline import build_plan, read_all  # noqa: E402
from sheetcrm.sources.excel import ExcelSource  # noqa: E402
from sheetcrm.store import Store  # noqa: E402


def main(n: int) -> None:
    config = load_config(ROOT / "config.toml")
    source = ExcelSource(demo_path(n), config)
    t = time.perf_counter()
    tables = read_all(source, config)
    print(f"read {time.perf_counter() - t:.1f} s")
    profile = cProfile.Profile()
    t = time.perf_counter()
    profile.enable()
    build_plan(
        tables, config, now=datetime(2026, 11, 23, 2), store=Store("sqlite://"), job="nightly"
    )
    profile.disable()
    print(f"plan {time.perf_counter() - t:.1f} s")
    out = Path(__file__).resolve().parent / "out" / f"profile-plan-{n}.pstats"
    profile.dump_stats(out)
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
