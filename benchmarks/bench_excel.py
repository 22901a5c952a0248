"""Excel source benchmark: read and write_status (5 status columns, every row) on demo workbooks,
against openpyxl's load-modify-save round trip of the same change.

    .venv/bin/python benchmarks/bench_excel.py                 # 10,000 and 100,000 rows
    .venv/bin/python benchmarks/bench_excel.py 1048575         # any sizes
    .venv/bin/python benchmarks/bench_excel.py 1048575 --no-baseline

Each step runs in its own process, so its peak memory (max RSS) is its own. Demo workbooks are made
once in benchmarks/out/ (seed 1, today 2026-11-23) and reused.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
NOW = datetime(2026, 11, 23, 2, 0)
STATUS = {
    "validation": "✓",
    "problems": "",
    "duplicate_of": "",
    "lead_score": 6,
    "last_checked": NOW,
}


def demo_path(rows: int) -> Path:
    path = OUT / f"demo-{rows}.xlsx"
    if not path.exists():
        from sheetcrm.config import load_config
        from sheetcrm.demo import generate_demo

        generate_demo(
            load_config(ROOT / "config.toml"), path, rows=rows, seed=1, today=date(2026, 11, 23)
        )
    return path


def step(name: str, path: str) -> dict:
    """Run one step in this process; return its seconds and peak memory."""
    from sheetcrm.config import load_config
    from sheetcrm.sources.excel import ExcelSource
    from sheetcrm.table import StatusPatch

    config = load_config(ROOT / "config.toml")
    src = ExcelSource(path, config, backup_dir=OUT / "backups", keep_days=0)
    started = time.perf_counter()
    info: dict = {}
    if name == "read":
        table = src.read("customers")
        info["rows"] = len(table)
    elif name == "write":
        # demo IDs are C000001..C{rows}; a few rows have none (those IDs are simply not found).
        # Reading the IDs with calamine here would put its memory into this step's peak.
        rows = int(Path(path).stem.split("-")[-1])
        sheet = config.sheet("customers")
        patch = StatusPatch(values={sheet.id_for(i): dict(STATUS) for i in range(1, rows + 1)})
        started = time.perf_counter()
        result = src.write_status("customers", patch, fingerprint=None, now=NOW)
        info["rows"] = result.rows_written
    elif name == "openpyxl":
        import openpyxl

        wb = openpyxl.load_workbook(path)
        ws = wb["客户信息"]
        first = ws.max_column + 1
        for r in range(2, ws.max_row + 1):
            for j, value in enumerate(STATUS.values()):
                ws.cell(r, first + j, value)
        wb.save(path)
        info["rows"] = ws.max_row - 1
    info["seconds"] = round(time.perf_counter() - started, 2)
    info["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return info


def run_step(name: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--step", name, str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    if argv[:1] == ["--step"]:
        print(json.dumps(step(argv[1], argv[2])))
        return
    baseline = "--no-baseline" not in argv
    sizes = [int(a) for a in argv if a.isdigit()] or [10_000, 100_000]
    OUT.mkdir(exist_ok=True)
    print("| rows | read s | read peak MB | write_status s | write peak MB | openpyxl round trip s | "
          "openpyxl peak MB | write speed-up |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        source = demo_path(n)
        work = OUT / f"work-{n}.xlsx"  # the row count in the name is read by the write step
        shutil.copyfile(source, work)
        read = run_step("read", work)
        write = run_step("write", work)
        base: dict = {}
        if baseline:
            shutil.copyfile(source, work)
            base = run_step("openpyxl", work)
        ratio = (f"{base['seconds'] / write['seconds']:.0f}x"
                 if "seconds" in base and write.get("seconds") else "-")  # fmt: skip
        print(
            f"| {n:,} | {read.get('seconds', read)} | {read.get('peak_mb', '-')} | "
            f"{write.get('seconds', write)} | {write.get('peak_mb', '-')} | "
            f"{base.get('seconds', '-')} | {base.get('peak_mb', '-')} | {ratio} |",
            flush=True,
        )
        work.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
