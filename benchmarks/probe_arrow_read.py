"""How fast and how small a read straight into Arrow is, for the #10 target (1M customers in 90 s
and 4 GB): fastexcel (calamine in Rust, columns as Arrow arrays, no Python object per cell) reads
the demo's two big sheets in parallel, and the time, Arrow size and peak memory are printed.

fastexcel and pyarrow are not sheetcrm dependencies, so this runs in a throwaway venv:

    python -m venv /tmp/fxenv && /tmp/fxenv/bin/pip install fastexcel pyarrow
    /tmp/fxenv/bin/python benchmarks/probe_arrow_read.py benchmarks/out/demo-1048575.xlsx

Why it is not our reader (yet): in a column that mixes types (a date column where someone typed
"2024年3月5日", an amount typed as text) fastexcel gives one type to the whole column, while the
check needs each cell as typed. It measures the floor of a full re-read, nothing more.
"""

from __future__ import annotations

import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import fastexcel  # type: ignore[import-not-found]

SHEETS = ["客户信息", "跟进记录"]


def load(path: str, name: str) -> tuple[str, float, int, int, float]:
    t = time.perf_counter()  # one reader a thread: a reader cannot be shared between threads
    table = fastexcel.read_excel(path).load_sheet_by_name(
        name, header_row=0, dtype_coercion="coerce"
    )
    arrow = table.to_arrow()
    return name, time.perf_counter() - t, arrow.num_rows, arrow.num_columns, arrow.nbytes / 1e6


def main(path: str) -> None:
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda name: load(path, name), SHEETS))
    for name, seconds, rows, cols, mb in results:
        print(f"{name}: {rows:,} rows × {cols} columns in {seconds:.1f} s, {mb:.0f} MB as Arrow")
    print(f"both, in parallel: {time.perf_counter() - t:.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
