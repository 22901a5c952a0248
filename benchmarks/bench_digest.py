"""Digest benchmark: reminders due for every customer of a demo workbook, then one digest per person.

    .venv/bin/python benchmarks/bench_digest.py 1048575 200

The bundled config's people are replaced by `people` synthetic sales reps (10 teams, each with a
manager) and the customers' owners spread over them, so the digests have realistic sizes. Uses the
typed frame bench_changes.py caches.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_changes import typed_frame  # noqa: E402
from bench_excel import ROOT  # noqa: E402

from sheetcrm.config import parse_config  # noqa: E402
from sheetcrm.notify import build_mails  # noqa: E402
from sheetcrm.reminders import due_reminders  # noqa: E402

NOW = datetime(2026, 11, 30, 8, 0)  # a Monday, the last working day of November


def main(rows: int, n_people: int) -> None:
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    managers = [{"name": f"经理{t:02d}", "email": f"m{t}@example.com", "role": "sales_manager", "team": f"团队{t}"}
                for t in range(10)]  # fmt: skip
    reps = [{"name": f"销售{i:03d}", "email": f"s{i}@example.com", "role": "sales", "team": f"团队{i % 10}",
             "manager": f"经理{i % 10:02d}"} for i in range(n_people - 10)]  # fmt: skip
    raw["people"] = managers + reps
    for sheet in raw["sheets"]:  # member defaults name people who are no longer there
        for f in sheet["fields"]:
            if f.get("type") == "member":
                f.pop("default", None)
    raw["rules"] = {}
    config = parse_config(raw, base_dir=ROOT)
    typed, ids = typed_frame(rows)
    typed = typed.copy()
    rng = np.random.default_rng(1)
    typed["owner"] = np.array([r["name"] for r in reps], dtype=object)[
        rng.integers(0, len(reps), len(typed))
    ]
    last = pd.Series(pd.NaT, index=typed.index, dtype="datetime64[ns]")
    since = pd.Series(pd.Timestamp("2026-11-20"), index=typed.index)
    t0 = time.perf_counter()
    notes, shown = due_reminders(typed, ids, config, now=NOW, sheet_key="customers", last_contact=last,
                                 stage_since=since, owners=typed["owner"])  # fmt: skip
    t1 = time.perf_counter()
    pending = [{"key": n.key, "kind": n.kind, "recipient": n.recipient, "record_id": n.record_id,
                "subject": n.subject, "payload": json.dumps({"text": n.text, "cc": list(n.cc)})} for n in notes]  # fmt: skip
    t2 = time.perf_counter()
    mails = build_mails(pending, config, now=NOW)
    t3 = time.perf_counter()
    sizes = sorted(len(m.html) for m in mails)
    print(f"{len(typed):,} customers, {n_people} people: reminders {t1 - t0:.1f} s ({len(notes):,} due), "
          f"rows for the store {t2 - t1:.1f} s, digests {t3 - t2:.1f} s ({len(mails)} mails, "
          f"HTML median {sizes[len(sizes) // 2] // 1024} KB, largest {sizes[-1] // 1024} KB); "
          f"next reminders set for {int((shown != '').sum()):,} customers")  # fmt: skip
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 200,
    )
