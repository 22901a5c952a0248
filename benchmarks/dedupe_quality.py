"""Duplicate quality on the hard demo (#25): pair precision and recall per pattern, and the seconds.

    .venv/bin/python benchmarks/dedupe_quality.py 2000 20000 100000

Generates a demo of each size (seed 3) with the bundled config, checks it, finds duplicates, and
compares the clusters with the ground truth: every pair of records in one true cluster should be
in one found cluster. Prints, per size: pairs, precision, recall, recall per hard pattern, the
namesakes joined, and the time the matching took."""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from itertools import combinations
from pathlib import Path

from sheetcrm.check import check_table
from sheetcrm.config import load_config
from sheetcrm.dedupe import find_duplicates
from sheetcrm.demo import generate_demo
from sheetcrm.sources.excel import ExcelSource

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 2, 0)


def pairs_of(groups: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups.values() for p in combinations(sorted(g), 2)}  # type: ignore[misc]


def measure(rows: int, folder: Path) -> dict:
    config = load_config(ROOT / "config.toml")
    summary = generate_demo(config, folder / f"demo-{rows}.xlsx", rows=rows, seed=3, today=NOW.date(),
                            followups=0, requests=0)  # fmt: skip
    table = ExcelSource(summary.path, config).read("customers")
    typed = check_table(table, config.sheet("customers"), config, now=NOW).typed
    started = time.perf_counter()
    result = find_duplicates(typed, table.ids, config.sheet("customers"))
    took = time.perf_counter() - started
    return score(summary.truth_path, list(table.ids), list(result.duplicate_of), took)


def score(truth_path: Path, ids: list[str], duplicate_of: list[str], took: float) -> dict:
    with truth_path.open(encoding="utf-8") as fh:
        truth = [t for t in csv.DictReader(fh) if t["kind"] in ("duplicate", "namesake")]
    root: dict[str, str] = {}
    for t in truth:
        if t["kind"] == "duplicate":
            root[t["record_id"]] = root.get(t["detail"], t["detail"])
    want_groups: dict[str, set[str]] = defaultdict(set)
    for rid, r in root.items():
        want_groups[r] |= {rid, r}
    got_groups: dict[str, set[str]] = defaultdict(set)
    for rid, dup in zip(ids, duplicate_of, strict=True):
        if dup:
            got_groups[dup] |= {rid, dup}
    want, got = pairs_of(want_groups), pairs_of(got_groups)
    hits = len(want & got)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in truth:
        if t["kind"] == "duplicate":
            pair = tuple(sorted((t["record_id"], t["detail"])))
            key = t["code"] if t["code"].startswith("hard:") else "easy"
            per[key][1] += 1
            per[key][0] += pair in got
    namesakes = [
        tuple(sorted((t["record_id"], t["detail"]))) for t in truth if t["kind"] == "namesake"
    ]
    joined = sum(p in got for p in namesakes)
    return {"rows": len(ids), "pairs": len(want), "found": len(got), "false": len(got - want),
            "precision": hits / max(len(got), 1), "recall": hits / max(len(want), 1),
            "per_pattern": {k: f"{a}/{b}" for k, (a, b) in sorted(per.items())},
            "namesakes_joined": f"{joined}/{len(namesakes)}", "seconds": round(took, 1)}  # fmt: skip


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(a) for a in sys.argv[1:]] or [2000]:
            print(measure(size, Path(tmp)), flush=True)
