"""Check benchmark: coercion plus pandera validation of the customers sheet of a demo workbook.

    .venv/bin/python benchmarks/bench_check.py 100000 1048575

Reading the workbook is timed separately (see bench_excel.py); this times check_table alone and
reports the process's peak memory (which includes the table read).
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_excel import ROOT, demo_path  # noqa: E402

from sheetcrm.check import check_table  # noqa: E402
from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.sources.excel import ExcelSource  # noqa: E402


def main(sizes: list[int]) -> None:
    config = load_config(ROOT / "config.toml")
    print("| rows | read s | check s | problems | peak MB |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        path = demo_path(n)
        t0 = time.perf_counter()
        table = ExcelSource(path, config).read("customers")
        t1 = time.perf_counter()
        result = check_table(
            table, config.sheet("customers"), config, now=datetime(2026, 11, 23, 2)
        )
        t2 = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(
            f"| {n:,} | {t1 - t0:.1f} | {t2 - t1:.1f} | {len(result.problems):,} | {peak} |",
            flush=True,
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000])
