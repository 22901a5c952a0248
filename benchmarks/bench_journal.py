"""What the crash journal costs a run: a RunCommit of N snapshots and N "created" events (a first
night at N rows), encoded and saved into a SQLite store, then read back and decoded, each timed;
and the peak memory of the process (which also holds the commit it builds).

    .venv/bin/python benchmarks/bench_journal.py 1000000
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from datetime import datetime

from sheetcrm.changes import SEP
from sheetcrm.store import RunCommit, Store
from sheetcrm.table import ChangeSet, Event

NOW = datetime(2026, 11, 23, 2, 0)
ROW = SEP.join(["测试公司有限公司", "企业客户", "制造业", "50人以下", "华东", "联系人", "13800000000",
                "展会推荐", "2026-01-01", "中意向", "10000", "线索", "王明"] + [""] * 20)  # fmt: skip


def main(n: int) -> None:
    rng = random.Random(1)
    ids = [f"C{i:07d}" for i in range(n)]
    change = ChangeSet("customers", [f"f{i}" for i in range(33)], first_run=True,
                       events=[Event("customers", rid, "created") for rid in ids],
                       upserts={rid: (rng.getrandbits(63), ROW) for rid in ids})  # fmt: skip
    commit = RunCommit([change], counts={"rows": n}, plan_key="k")
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/state.sqlite")
    run = store.start_run("nightly", now=NOW)
    t = time.perf_counter()
    size = len(commit.encode())
    encode = time.perf_counter() - t
    t = time.perf_counter()
    store.save_pending(run, "nightly", commit, expected="e", before="b", source="bench", proof={},
                       now=NOW)  # fmt: skip
    save = time.perf_counter() - t  # encodes again, then inserts
    t = time.perf_counter()
    RunCommit.decode(store.pending()[0]["payload"])
    load = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{n:,} rows: encode {encode:.2f} s ({size / 1e6:.1f} MB), encode + save {save:.2f} s, "
          f"load + decode {load:.2f} s, peak RSS {peak:.2f} GB")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 210_000)
