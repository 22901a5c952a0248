"""Plan, then apply: what a check run would change, computed without side effects.

`plan_check` reads nothing and writes nothing: from the tables read and their check results it
computes, per sheet, the status cells that must change and the IDs to give blank rows. `apply_check`
writes them through the source and writes the error list. A row whose status is already what it
should be is not written, so re-running on an unchanged workbook changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .check import CheckResult, check_workbook
from .config import Config, SheetConfig
from .dedupe import find_duplicates, match_data
from .errorlist import write_error_list
from .messages import text
from .sources.base import Source, plan_new_ids
from .store import Decision, Store, pair_hash
from .table import StatusPatch, Table, WriteResult
from .text import display

SEPARATOR = "；"


@dataclass
class CheckPlan:
    """What a check run would write."""

    tables: dict[str, Table]
    results: dict[str, CheckResult]
    patches: dict[str, StatusPatch] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # rows marked as duplicates
    decisions: list[Decision] = field(default_factory=list)  # new "not a duplicate" to remember

    @property
    def rows_to_write(self) -> int:
        return sum(len(p.values) for p in self.patches.values())  # new-ID rows are in values too

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, result in self.results.items():
            p = result.problems
            out[key] = {
                "rows": len(self.tables[key]),
                "rows_with_problems": int(p["row"].nunique()) if len(p) else 0,
                "problems": len(p),
                "by_field_and_code": p.groupby(["label", "code"]).size().sort_values(ascending=False)
                .to_dict() if len(p) else {},
                "rows_to_write": len(self.patches[key].values),
                "duplicates": self.duplicates.get(key, 0),
            }  # fmt: skip
        return out


def read_all(source: Source, config: Config) -> dict[str, Table]:
    return {s.key: source.read(s.key) for s in config.sheets}


def plan_check(tables: dict[str, Table], config: Config, *, now: datetime,
               store: Store | None = None) -> CheckPlan:  # fmt: skip
    """Return the check results and the status cells that must change. The store is only read."""
    results = check_workbook(tables, config, now=now)
    plan = CheckPlan(tables, results)
    duplicates = {}
    for key, t in tables.items():
        sheet = config.sheet(key)
        if sheet.dedupe is None:
            continue
        distinct, fresh = _not_duplicates(key, sheet, results, t, store, config)
        plan.decisions += fresh
        duplicates[key] = find_duplicates(
            results[key].typed, t.ids, sheet, distinct=distinct
        ).status()
    plan.duplicates = {key: int((d != "").sum()) for key, d in duplicates.items()}
    ok, bad = text(config.locale, "status.ok"), text(config.locale, "status.problem")
    stamp = now.strftime("%Y-%m-%d %H:%M")
    for key, table in tables.items():
        plan.patches[key] = _status_patch(table, config.sheet(key), results[key],
                                          duplicates.get(key), ok=ok, bad=bad, stamp=stamp)  # fmt: skip
    return plan


def _status_patch(table: Table, sheet: SheetConfig, result: CheckResult, duplicate_of: pd.Series | None,
                  *, ok: str, bad: str, stamp: str) -> StatusPatch:  # fmt: skip
    """Return the status cells of one sheet that differ from what the sheet shows now.

    Column-wise: what each status cell should say, compared with what it says, in one pass; Python
    only loops over the rows that change (few, from the second night on)."""
    new_ids = plan_new_ids(table, sheet)
    index = table.ids.index
    ids = table.ids.copy()
    if new_ids:
        ids.loc[list(new_ids)] = list(new_ids.values())
    p = result.problems
    joined = (
        p.groupby("row", sort=False)["message"].agg(SEPARATOR.join)
        if len(p)
        else pd.Series(dtype=object)
    )
    wanted = {"problems": joined.reindex(index, fill_value="").astype(object)}
    wanted["validation"] = pd.Series(bad, index=index, dtype=object).where(
        wanted["problems"] != "", ok
    )
    current = table.status

    def differs(key: str) -> pd.Series:
        if key not in current:
            return pd.Series(True, index=index)
        return current[key].map(display) != wanted[key]

    changed = differs("validation") | differs("problems")
    dup_mask = pd.Series(False, index=index)
    if duplicate_of is not None:
        wanted["duplicate_of"] = duplicate_of.reindex(index, fill_value="")
        # the 重复客户 cell is written once it has something to say, or once the column exists
        dup_mask = pd.Series("duplicate_of" in current, index=index) | (
            wanted["duplicate_of"] != ""
        )
        changed |= dup_mask & differs("duplicate_of")
    changed |= index.isin(list(new_ids))
    changed &= ids != ""
    patch = StatusPatch(new_ids=new_ids)
    rows = index[changed.to_numpy()]
    dup = wanted.get("duplicate_of")
    for row, rid, valid, problems in zip(rows, ids[rows], wanted["validation"][rows],
                                         wanted["problems"][rows], strict=True):  # fmt: skip
        values = {"validation": valid, "problems": problems}
        if dup is not None and dup_mask.at[row]:
            values["duplicate_of"] = dup.at[row]
        patch.values[rid] = {**values, "last_checked": stamp}
    return patch


def apply_check(plan: CheckPlan, source: Source, config: Config, *, now: datetime,
                error_list: Path | None, workbook: Path | None = None,
                store: Store | None = None) -> dict[str, WriteResult]:  # fmt: skip
    """Write the planned status cells of every sheet in one go (all or nothing), then the error
    list. The workbook must be what was read: every table carries the same fingerprint."""
    if store is not None:
        for decision in plan.decisions:
            store.record_not_duplicate(decision, now=now)
    prints = {t.fingerprint for t in plan.tables.values()}
    fingerprint = prints.pop() if len(prints) == 1 else None
    written = source.write_statuses(plan.patches, fingerprint=fingerprint, now=now)
    if error_list is not None and workbook is not None:
        write_error_list(plan.results, config, workbook, error_list)
    return written


def _not_duplicates(key: str, sheet: Any, results: dict[str, CheckResult], table: Table,
                    store: Store | None, config: Config) -> tuple[set[tuple[str, str]], list[Decision]]:  # fmt: skip
    """Return the pairs to keep apart in this run, and the decisions found in the decisions sheet.

    A stored decision holds while both records' match data is what it was when it was recorded."""
    typed = results[key].typed
    rows = {rid: row for row, rid in table.ids.items() if rid}

    def fingerprint(a: str, b: str) -> str | None:
        if a not in rows or b not in rows:
            return None
        return pair_hash(match_data(typed, sheet, rows[a]), match_data(typed, sheet, rows[b]))

    distinct: set[tuple[str, str]] = set()
    if store is not None:
        for (a, b), stored in store.not_duplicates(key).items():
            if fingerprint(a, b) == stored:
                distinct.add((a, b))
    fresh: list[Decision] = []
    source_key = sheet.dedupe.decisions_sheet
    if source_key and source_key in results:
        d = results[source_key].typed
        for rec, other, value, by in zip(d["record_id"], d["other_id"], d["decision"],
                                         d["by"] if "by" in d else [""] * len(d), strict=True):  # fmt: skip
            if value != "不是重复" or not rec or not other:
                continue
            a, b = sorted((str(rec), str(other)))
            h = fingerprint(a, b)
            if h is None:
                continue
            distinct.add((a, b))
            fresh.append(Decision(key, a, b, h, str(by or "")))
    return distinct, fresh
