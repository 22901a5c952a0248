"""Plan, then apply: what a run would change, computed without side effects, then carried out.

`build_plan` writes nothing (it reads the store): from the tables read it computes the check results,
the status cells that must change, the IDs to give blank rows, the changes since the last snapshot
(events) and the notifications. `sheetcrm plan` prints it. `apply_plan` writes the cells through the
source (all sheets in one atomic rewrite), then records the run, snapshots, events and decisions in
the store in one transaction. A row whose status is already right is not written, so a run on an
unchanged workbook changes nothing; and applying the same Plan twice is a no-op (its key is stored).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .changes import ChangeSet, Event, Snapshot, detect_changes
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


@dataclass(frozen=True)
class CellChange:
    """One status cell (or ID cell) a plan writes: where, and what it says before and after."""

    sheet: str
    record_id: str
    column: str
    old: str
    new: str
    row: int


@dataclass
class Plan:
    """What a run would do: cell patches per sheet, store updates, notifications."""

    job: str
    now: datetime
    tables: dict[str, Table]
    results: dict[str, CheckResult]
    patches: dict[str, StatusPatch] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # rows marked as duplicates
    decisions: list[Decision] = field(default_factory=list)  # new "not a duplicate" to remember
    changes: dict[str, ChangeSet] = field(default_factory=dict)  # since the last snapshot
    notifications: list[Any] = field(default_factory=list)  # filled by rules and reminders

    @property
    def key(self) -> str:
        """A fingerprint of everything the plan does: the same plan is applied once."""
        h = hashlib.sha256(f"{self.job}|{self.now.isoformat()}".encode())
        for key in sorted(self.patches):
            p = self.patches[key]
            h.update(json.dumps([key, p.values, sorted(p.new_ids.items())], sort_keys=True,
                                ensure_ascii=False, default=str).encode())  # fmt: skip
        for key in sorted(self.changes):
            c = self.changes[key]
            h.update(repr((key, c.events, sorted(c.upserts.items()), c.missing)).encode())
        h.update(repr(self.decisions).encode())
        h.update(repr(self.notifications).encode())
        return h.hexdigest()

    def cell_changes(self, config: Config) -> list[CellChange]:
        """Every cell the plan writes, with what it says now (old) and will say (new)."""
        out: list[CellChange] = []
        for key, patch in self.patches.items():
            table, sheet = self.tables[key], config.sheet(key)
            labels = {c.key.value: c.label for c in sheet.status}
            row_of = {rid: row for row, rid in table.ids.items() if rid}
            id_label = sheet.field(sheet.id_field).label
            for row, rid in sorted(patch.new_ids.items()):
                out.append(CellChange(sheet.name, rid, id_label, "", rid, row))
            for rid, values in patch.values.items():
                row = row_of.get(rid) or next((r for r, i in patch.new_ids.items() if i == rid), 0)
                for col, new in values.items():
                    old = ""
                    if col in table.status and row in table.status.index:
                        old = display(table.status.at[row, col])
                    if old != display(new):
                        out.append(CellChange(sheet.name, rid, labels.get(col, col), old,
                                              display(new), row))  # fmt: skip
        return out

    def events(self) -> list[Event]:
        return [e for c in self.changes.values() for e in c.events]

    @property
    def rows_to_write(self) -> int:
        return sum(len(p.values) for p in self.patches.values())  # new-ID rows are in values too

    def counts(self) -> dict[str, Any]:
        """The figures a run records: per sheet rows, problems, duplicates, writes, events."""
        out = self.summary()
        for key, info in out.items():
            info.pop("by_field_and_code", None)
            if key in self.changes:
                info["events"] = self.changes[key].counts()
        return out

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


def build_plan(tables: dict[str, Table], config: Config, *, now: datetime,
               store: Store | None = None, job: str = "check") -> Plan:  # fmt: skip
    """Return what a run on these tables would do. The store is only read."""
    results = check_workbook(tables, config, now=now)
    plan = Plan(job, now, tables, results)
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
    snapshots = {key: store.snapshot(key) for key in tables} if store is not None else {}
    for key, table in tables.items():
        issued = snapshots[key].hashes.index if key in snapshots else None
        plan.patches[key] = _status_patch(table, config.sheet(key), results[key], duplicates.get(key),
                                          ok=ok, bad=bad, stamp=stamp, issued=issued)  # fmt: skip
    for key, snapshot in snapshots.items():
        plan.changes[key] = _detect(
            key, tables[key], results[key], plan.patches[key], config, snapshot
        )
    return plan


def tracked_fields(sheet: SheetConfig) -> list[str]:
    """The fields whose changes are remembered: all that people type, except the ID (the key)."""
    return [f.key for f in sheet.fields if f.key != sheet.id_field]


def _detect(key: str, table: Table, result: CheckResult, patch: StatusPatch, config: Config,
            snapshot: Snapshot) -> ChangeSet:  # fmt: skip
    sheet = config.sheet(key)
    ids = table.ids
    if patch.new_ids:
        ids = ids.copy()
        ids.loc[list(patch.new_ids)] = list(patch.new_ids.values())
    return detect_changes(key, result.typed, ids, tracked_fields(sheet), snapshot,
                          stage_field=sheet.stage_field)  # fmt: skip


def _status_patch(table: Table, sheet: SheetConfig, result: CheckResult, duplicate_of: pd.Series | None,
                  *, ok: str, bad: str, stamp: str, issued: pd.Index | None = None) -> StatusPatch:  # fmt: skip
    """Return the status cells of one sheet that differ from what the sheet shows now.

    Column-wise: what each status cell should say, compared with what it says, in one pass; Python
    only loops over the rows that change (few, from the second night on)."""
    new_ids = plan_new_ids(table, sheet, issued)
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


@dataclass
class Applied:
    """What applying a plan did."""

    run_id: int | None = None
    written: dict[str, WriteResult] = field(default_factory=dict)
    already_applied: bool = False
    error_list: Path | None = None


def apply_plan(plan: Plan, source: Source, config: Config, *, store: Store | None = None,
               error_list: Path | None = None, workbook: Path | None = None) -> Applied:  # fmt: skip
    """Carry out a plan: the cells of every sheet in one go (all or nothing), the error list, then
    the store in one transaction. The workbook must be what was read (every table carries the same
    fingerprint). A failure before the store commit leaves the store as it was, so the next run
    sees the same changes again; the run is recorded as failed."""
    if store is not None and store.plan_applied(plan.key):
        return Applied(already_applied=True)
    now = plan.now
    run_id = store.start_run(plan.job, now=now) if store is not None else None
    try:
        prints = {t.fingerprint for t in plan.tables.values()}
        fingerprint = prints.pop() if len(prints) == 1 else None
        written = source.write_statuses(plan.patches, fingerprint=fingerprint, now=now)
        if error_list is not None and workbook is not None:
            write_error_list(plan.results, config, workbook, error_list)
    except Exception as e:
        if store is not None and run_id is not None:
            store.finish_run(run_id, now=now, outcome="failed", counts={}, warnings=[str(e)])
        raise
    if store is not None and run_id is not None:
        store.commit_run(run_id, now=now, changes=list(plan.changes.values()),
                         decisions_made=plan.decisions, counts=plan.counts(), plan_key=plan.key)  # fmt: skip
    return Applied(run_id, written, error_list=error_list)


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
