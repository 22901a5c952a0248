"""Duplicate detection benchmark: time of find_duplicates and precision/recall against the demo's
ground truth.

    .venv/bin/python benchmarks/bench_dedupe.py 10000 100000 1048575
"""

from __future__ import annotations

import csv
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
from sheetcrm.dedupe import find_duplicates  # noqa: E402
from sheetcrm.sources.excel import ExcelSource  # noqa: E402


def main(sizes: list[int]) -> None:
    config = load_config(ROOT / "config.toml")
    sheet = config.sheet("customers")
    print("| rows | dedupe s | groups | precision | recall | peak MB (incl. read and check) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        path = demo_path(n)
        table = ExcelSource(path, config).read("customers")
        typed = check_table(table, sheet, config, now=datetime(2026, 11, 23, 2)).typed
        started = time.perf_counter()
        result = find_duplicates(typed, table.ids, sheet)
        seconds = time.perf_counter() - started
        with path.with_name(path.stem + ".truth.csv").open(encoding="utf-8") as fh:
            want = {
                (t["record_id"], t["detail"])
                for t in csv.DictReader(fh)
                if t["kind"] == "duplicate"
            }
        got = {(r, d) for r, d in zip(table.ids, result.duplicate_of, strict=True) if d}
        hits = len(want & got)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"| {n:,} | {seconds:.1f} | {result.groups:,} | {hits / len(got):.4f} | "
              f"{hits / len(want):.4f} | {peak} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
