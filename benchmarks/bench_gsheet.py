"""The nightly job against a Google Sheet (the Sheets API v4 emulator of the tests, on loopback):
API calls and request sizes per run, first night and next night.

    .venv/bin/python benchmarks/bench_gsheet.py 100000

The demo workbook of N customers (bench_excel.py's) is loaded into the emulator; gspread's real
client talks HTTP to it. The emulator is not Google: the seconds say little about Google's speed,
the call counts and payloads are what a real run sends.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_excel import demo_path  # noqa: E402

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.job import run_job  # noqa: E402
from tests.fake_sheets import FakeSheets  # noqa: E402
from tests.test_gsheet import grid_of  # noqa: E402

KEY = "BenchKey"


def main(n: int) -> None:
    folder = HERE / "out" / f"gsheet-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    server = FakeSheets.start()
    grid = grid_of(demo_path(n))
    server.add_spreadsheet(KEY, grid)
    cells = sum(len(r) for rows in grid.values() for r in rows)
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('source = "data/customers.xlsx"', f'source = "gsheet://{KEY}"')
    text = text.replace("[store]", f'[gsheet]\nendpoint = "{server.url}"\n\n[store]')
    (folder / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(folder / "config.toml")
    print(
        f"{n:,} customers; {sum(len(r) for r in grid.values()):,} rows, {cells:,} cells in the sheet"
    )
    for label, now in (
        ("first night", datetime(2026, 11, 23, 2)),
        ("next night", datetime(2026, 11, 24, 2)),
    ):
        server.calls.clear()
        server.bodies.clear()
        t = time.perf_counter()
        report = run_job("nightly", config, now=now)
        assert report.ok, report.error
        sent = sum(len(json.dumps(b, ensure_ascii=False).encode()) for b in server.bodies)
        kinds: dict[str, int] = {}
        for kind, _ in server.calls:
            kinds[kind] = kinds.get(kind, 0) + 1
        print(f"{label}: {len(server.calls)} API calls {kinds}, {sent / 1e6:.1f} MB sent, "
              f"{report.counts.get('rows_written', 0):,} rows written, {time.perf_counter() - t:.0f} s")  # fmt: skip
    server.stop()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
