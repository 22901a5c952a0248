"""The report over a big instance: read, check, build the tables, write the workbook (and CSVs).

    .venv/bin/python benchmarks/bench_report.py 1048575

Uses the instance bench_nightly.py leaves in benchmarks/out/nightly-N/ (its workbook with the status
columns written and its store with two runs); run that first.
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

from sheetcrm.check import check_workbook  # noqa: E402
from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.pipeline import read_all  # noqa: E402
from sheetcrm.report import build_report, write_csv, write_report  # noqa: E402
from sheetcrm.sources.excel import ExcelSource  # noqa: E402
from sheetcrm.store import Store  # noqa: E402

NOW = datetime(2026, 11, 30, 7, 0)


def main(n: int) -> None:
    folder = HERE / "out" / f"nightly-{n}"
    config = load_config(folder / "config.toml")
    steps: dict[str, float] = {}
    t = time.perf_counter()
    source = ExcelSource(config.workbook_path, config)
    tables = read_all(source, config)
    steps["read"] = time.perf_counter() - t
    t = time.perf_counter()
    results = check_workbook(tables, config, now=NOW)
    steps["check (typed values)"] = time.perf_counter() - t
    t = time.perf_counter()
    status = tables["customers"].status
    report = build_report(results, status.get("duplicate_of"), config, Store(config.store_url),
                          now=NOW, period="week")  # fmt: skip
    steps["build tables"] = time.perf_counter() - t
    t = time.perf_counter()
    out = write_report(report, folder / "reports" / "report-bench.xlsx")
    steps["write workbook"] = time.perf_counter() - t
    t = time.perf_counter()
    csvs = write_csv(report, folder / "reports" / "csv")
    steps["write CSVs"] = time.perf_counter() - t
    rows = {t.key: len(t.rows) for ts in report.sheets.values() for t in ts}
    print(f"{len(tables['customers']):,} customers; report {out.stat().st_size / 1e6:.1f} MB, "
          f"{len(csvs)} CSVs; errors {rows['errors']:,} rows, duplicates {rows['duplicates']:,}")  # fmt: skip
    print("| step | seconds |\n|---|---|")
    for step, s in steps.items():
        print(f"| {step} | {s:.1f} |")
    print(f"| total | {sum(steps.values()):.1f} |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
