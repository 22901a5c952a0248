"""Rules benchmark: every rule of the bundled config.toml on the customers sheet of a demo workbook.

    .venv/bin/python benchmarks/bench_rules.py 1048575

Uses the typed frame bench_changes.py caches (run that first, or this builds it). The follow-ups
sheet is not read here, so the follow-up fields step is skipped; the rest of the rules run as in a
nightly run without history (first night).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_changes import NOW, typed_frame  # noqa: E402
from bench_excel import ROOT  # noqa: E402

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.rules import evaluate_rules  # noqa: E402
from sheetcrm.table import Table  # noqa: E402


def main(n: int) -> None:
    config = load_config(ROOT / "config.toml")
    typed, ids = typed_frame(n)
    table = Table("customers", "客户信息", typed, {}, {}, 1, ids=ids)
    t = time.perf_counter()
    out = evaluate_rules({"customers": table}, {"customers": typed}, {"customers": ids}, {}, config,
                         now=NOW)  # fmt: skip
    s = time.perf_counter() - t
    sheet = out.sheets["customers"]
    kinds = pd.Series([n.kind for n in out.notifications]).value_counts().to_dict()
    print(
        f"rows {len(typed):,}: rules in {s:.1f} s; cells {sum(map(len, sheet.cells.values())):,}, "
        f"status columns {sorted(sheet.status)}, notifications {kinds}"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
