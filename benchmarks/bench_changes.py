"""Condition and change-detection benchmark on the customers sheet of a demo workbook.

    .venv/bin/python benchmarks/bench_changes.py 1048575
    .venv/bin/python benchmarks/bench_changes.py 1048575 --store postgresql+psycopg://localhost/bench

Times (1) ten typical conditions evaluated on the typed frame, (2) change detection against an empty
store (every record new), the store commit of that first snapshot, (3) detection on the unchanged
sheet, and (4) detection and commit after 1% of the rows were edited. The typed frame is cached in
benchmarks/out (pickle) so reruns skip the read and check.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_excel import OUT, ROOT, demo_path  # noqa: E402

from sheetcrm.changes import detect_changes  # noqa: E402
from sheetcrm.check import check_table  # noqa: E402
from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.expr import Env  # noqa: E402
from sheetcrm.pipeline import tracked_fields  # noqa: E402
from sheetcrm.sources.excel import ExcelSource  # noqa: E402
from sheetcrm.store import Store  # noqa: E402

NOW = datetime(2026, 11, 23, 2, 0)
CONDITIONS = [
    'industry == "IT/互联网"',
    'source == "线上推广" and region in ["华东", "上海"]',
    '"已确认预算" in demand and expected_close <= today + days(7)',
    "days_since(first_contact) > 30",
    "expected_amount >= 100000",
    'changed_to(stage, "商务谈判")',
    "is_empty(owner)",
    'customer_type == "企业客户" and (is_empty(industry) or is_empty(company_size))',
    'intent == "高意向" and next_followup < today',
    'stage in ["成交", "售后维护"] and contract_end <= today + days(30)',
]


def typed_frame(n: int):
    cache = OUT / f"typed-{n}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    config = load_config(ROOT / "config.toml")
    table = ExcelSource(demo_path(n), config).read("customers")
    result = check_table(table, config.sheet("customers"), config, now=NOW)
    data = (result.typed, table.ids)
    cache.write_bytes(pickle.dumps(data))
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=int, nargs="?", default=100_000)
    parser.add_argument(
        "--store", help="SQLAlchemy URL (default: a fresh SQLite file in benchmarks/out)"
    )
    args = parser.parse_args()
    config = load_config(ROOT / "config.toml")
    sheet = config.sheet("customers")
    t = time.perf_counter()
    typed, ids = typed_frame(args.rows)
    print(f"rows {len(typed):,}; typed frame ready in {time.perf_counter() - t:.1f} s")

    conditions = [sheet.condition(c) for c in CONDITIONS]
    # (history for changed_to comes from step 4's ChangeSet; here there is none yet)
    env = Env(typed, sheet.kinds(), NOW)
    total = 0.0
    print("| condition | rows true | s |\n|---|---:|---:|")
    for c in conditions:
        t = time.perf_counter()
        hits = int(c(env).sum())
        s = time.perf_counter() - t
        total += s
        print(f"| `{c.text}` | {hits:,} | {s:.3f} |")
    print(f"ten conditions: {total:.2f} s (column conversions cached within the run)")

    if args.store:
        url = args.store
    else:
        db = OUT / "bench-state.sqlite"
        db.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    store = Store(url)
    if args.store:  # start clean on a shared server
        with store.engine.begin() as conn:
            for table in ("events", "snapshots", "snapshot_layouts", "runs"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    fields = tracked_fields(sheet)

    def detect(label: str):
        t0 = time.perf_counter()
        snapshot = store.snapshot("customers")
        t1 = time.perf_counter()
        change = detect_changes("customers", typed, ids, fields, snapshot, stage_field="stage")
        t2 = time.perf_counter()
        print(f"{label}: load snapshot {t1 - t0:.1f} s, detect {t2 - t1:.1f} s, "
              f"events {change.counts()}, rows to store {len(change.upserts):,}")  # fmt: skip
        return change

    def commit(change, label: str) -> None:
        t0 = time.perf_counter()
        run = store.start_run("bench", now=NOW)
        store.commit_run(run, now=NOW, changes=[change])
        print(f"{label}: store commit {time.perf_counter() - t0:.1f} s")

    first = detect("1. first run (empty store)")
    commit(first, "1. first run")
    detect("2. unchanged sheet")
    edited = typed.sample(frac=0.01, random_state=1).index
    typed.loc[edited, "stage"] = "商务谈判"
    typed.loc[edited[: len(edited) // 2], "expected_amount"] = 123456.0
    third = detect("3. 1% of rows edited")
    commit(third, "3. 1% edited")
    env = Env(typed, sheet.kinds(), NOW, third.previous, third.existed)
    t = time.perf_counter()
    moved = int(conditions[5](env).sum())
    print(
        f'changed_to(stage, "商务谈判") with history: {moved:,} rows in {time.perf_counter() - t:.3f} s'
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak RSS {peak} MB")


if __name__ == "__main__":
    main()
