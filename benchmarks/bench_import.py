"""Importing a legacy CSV of N customers (GB18030, other headers, another column order) into a team
workbook of 1,000 customers: read, map, check + match, append, report.

    .venv/bin/python benchmarks/bench_import.py 100000

The legacy rows are the customers of bench_excel.py's N-row demo (another seed than the team's),
under the names people give columns (公司名称, 手机, 业务员, ...), so duplicates inside the file
(the demo plants some) are found too.
"""

from __future__ import annotations

import csv
import io
import resource
import shutil
import sys
import time
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_excel import demo_path  # noqa: E402
from python_calamine import CalamineWorkbook  # noqa: E402

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.demo import generate_demo  # noqa: E402
from sheetcrm.importer import apply_import, plan_import, read_file, write_import_report  # noqa: E402
from sheetcrm.sources.excel import ExcelSource  # noqa: E402
from sheetcrm.store import Store  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 0)
RENAME = {"客户名称": "公司名称", "联系电话": "手机", "联系人": "姓名", "电子邮箱": "邮箱", "所属行业": "行业",
          "所在地区": "区域", "负责人": "业务员", "首次接触日期": "登记日期", "客户来源": "渠道", "地址": "公司地址",
          "意向等级": "意向", "客户类型": "客户类型", "销售阶段": "阶段", "需求描述": "需求"}  # fmt: skip


def legacy_csv(n: int, out: Path) -> int:
    with CalamineWorkbook.from_path(str(demo_path(n))) as wb:
        rows = wb.get_sheet_by_name("客户信息").to_python()
    header = [str(h).lstrip("*") for h in rows[0]]
    keep = [header.index(k) for k in RENAME]
    order = list(reversed(keep))  # another column order
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([RENAME[header[i]] for i in order])
    for r in rows[1:]:
        w.writerow([(r[i].isoformat() if isinstance(r[i], date) else r[i]) for i in order])
    out.write_bytes(buf.getvalue().encode("gb18030", errors="replace"))
    return len(rows) - 1


def main(n: int) -> None:
    folder = HERE / "out" / f"import-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml")
    generate_demo(config, config.workbook_path, rows=1000, seed=77, today=NOW.date())
    rows = legacy_csv(n, folder / "legacy.csv")
    sheet = config.sheet("customers")
    steps: dict[str, float] = {}
    t = time.perf_counter()
    files = [read_file(folder / "legacy.csv", sheet, config)]
    source = ExcelSource(config.workbook_path, config)
    table = source.read("customers")
    steps["read file and workbook"] = time.perf_counter() - t
    store = Store(config.store_url)
    t = time.perf_counter()
    plan = plan_import(files, table, config, store, now=NOW)
    steps["map, check, match"] = time.perf_counter() - t
    t = time.perf_counter()
    appended = apply_import(plan, source, config, store, now=NOW, fingerprint=table.fingerprint)
    steps["append (safe write) + remember"] = time.perf_counter() - t
    t = time.perf_counter()
    write_import_report(plan, config, folder / "reports" / "import.xlsx")
    steps["report"] = time.perf_counter() - t
    print(f"{rows:,} legacy rows into a 1,000-customer workbook: {appended:,} appended, "
          f"{plan.count('existing'):,} already customers, {plan.count('duplicate_in_file'):,} "
          f"repeated in the file")  # fmt: skip
    print("| step | seconds |\n|---|---|")
    for step, s in steps.items():
        print(f"| {step} | {s:.1f} |")
    print(f"| total | {sum(steps.values()):.1f} |")
    t = time.perf_counter()
    again = plan_import(files, source.read("customers"), config, store, now=NOW)
    print(f"again: {again.count('imported_before'):,} imported before, {again.count('new')} new, "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
