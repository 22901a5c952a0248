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
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .changes import as_first_seen, detect_changes, refresh_snapshot
from .check import check_table, check_workbook
from .config import Config, FieldType, SheetConfig
from .dedupe import decide_duplicates, kept_key
from .errorlist import write_error_list
from .errors import SheetLayoutError
from .expr import Env
from .faults import crash_point
from .fields import coerce_column, parser_for
from .messages import text
from .naming import record_names
from .reminders import CATCH_UP, History, contact_dates, reminders_for
from .reminders.context import within_reach
from .rules import RulesOutcome, SheetOutcome, evaluate_rules
from .sources.base import Source, plan_new_ids
from .store import Decision, RunCommit, Store
from .table import (
    CREATED,
    STAGE,
    ChangeSet,
    CheckResult,
    Event,
    Notification,
    Snapshot,
    StatusPatch,
    Table,
    WriteResult,
)
from .text import display, display_column

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
    notifications: list[Notification] = field(default_factory=list)  # from rules (and reminders)
    state: dict[str, str] = field(
        default_factory=dict
    )  # small state for the store (round robin, kept matches)
    owner_fields: dict[str, str] = field(default_factory=dict)  # sheet → its owner field, if any
    snapshots: dict[str, Snapshot] = field(default_factory=dict)  # the store's, by sheet

    @property
    def key(self) -> str:
        """What the plan was computed from: the job, its time and the exact workbook content read
        (every table's fingerprint). The same inputs give the same plan, so it is applied once.
        A source without fingerprints falls back to hashing the cells the plan writes."""
        prints = sorted((key, t.fingerprint) for key, t in self.tables.items())
        h = hashlib.sha256(json.dumps([self.job, self.now.isoformat(), prints]).encode())
        if not all(fp for _, fp in prints):
            for key in sorted(self.patches):
                p = self.patches[key]
                h.update(json.dumps([key, p.values, sorted(p.new_ids.items()), p.cells], sort_keys=True,
                                    ensure_ascii=False, default=str).encode())  # fmt: skip
        return h.hexdigest()

    def cell_changes(self, config: Config) -> list[CellChange]:
        """Every cell the plan writes, with what it says now (old) and will say (new)."""
        out: list[CellChange] = []
        for key, patch in self.patches.items():
            table, sheet = self.tables[key], config.sheet(key)
            labels = {c.key.value: c.label for c in sheet.status}
            row_of = {rid: row for row, rid in table.ids.items() if rid}
            row_of.update({rid: row for row, rid in patch.new_ids.items()})
            id_label = sheet.field(sheet.id_field).label
            for row, rid in sorted(patch.new_ids.items()):
                out.append(CellChange(sheet.name, rid, id_label, "", rid, row))
            labels.update({f.key: f.label for f in sheet.fields})
            for rid, cells in patch.cells.items():
                row = row_of.get(rid, 0)
                for col, new in cells.items():
                    old = (
                        display(table.frame.at[row, col])
                        if col in table.frame and row in table.frame.index
                        else ""
                    )
                    out.append(
                        CellChange(sheet.name, rid, labels.get(col, col), old, display(new), row)
                    )
            shown: dict[str, dict[int, str]] = {}  # status column → row → its text now (once)
            for rid, values in patch.values.items():
                row = row_of.get(rid, 0)
                for col, new in values.items():
                    if col not in shown:
                        status = table.status
                        shown[col] = dict(zip(status.index.tolist(), display_column(status[col]).tolist(),
                                              strict=True)) if col in status else {}  # fmt: skip
                    old = shown[col].get(row, "")
                    if old != display(new):
                        out.append(CellChange(sheet.name, rid, labels.get(col, col), old,
                                              display(new), row))  # fmt: skip
        return out

    def events(self) -> list[Event]:
        return [e for c in self.changes.values() for e in c.events]

    def event_counts(self) -> dict[str, int]:
        """How many changes of each kind (created, changed, stage, ...) the run records."""
        out: dict[str, int] = {}
        for change in self.changes.values():
            for kind, n in change.counts().items():
                out[kind] = out.get(kind, 0) + n
        return dict(sorted(out.items()))

    @property
    def rows_to_write(self) -> int:
        return sum(len(p.values) for p in self.patches.values())  # new-ID rows are in values too

    def counts(self) -> dict[str, Any]:
        """The figures a run records: per sheet rows, problems, duplicates, writes, events."""
        out = self.summary()
        for key, info in out.items():  # problems by "field label/code": the report's trend
            info["problems_by"] = {f"{label}/{code}": int(n)
                                   for (label, code), n in info.pop("by_field_and_code").items()}  # fmt: skip
            owner = self.owner_fields.get(key)
            p = self.results[key].problems
            if owner and owner in self.results[key].typed:  # a rep's view of the trend
                per: dict[str, dict[str, int]] = {}  # a clean night too: {}
                if len(p):
                    who = self.results[key].typed[owner].reindex(p["row"]).fillna("").astype(str)
                    by = p.assign(owner=who.to_numpy()).groupby(["owner", "label", "code"]).size()
                    for (name, label, code), n in by.items():
                        per.setdefault(str(name), {})[f"{label}/{code}"] = int(n)
                info["problems_by_owner"] = per
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
    """Every configured sheet, read the way the source reads several best; a sheet marked
    optional that the workbook does not have is left out (`missing_sheets` says what that skips)."""
    present = set(source.sheet_names())
    return source.read_sheets([s.key for s in config.sheets if s.name in present or not s.optional])


def missing_sheets(
    tables: dict[str, Table], config: Config, store: Store | None = None
) -> list[str]:
    """One warning per optional sheet the workbook does not have, naming what is skipped. An
    optional sheet the store has records of was there before: renamed or deleted by mistake, and
    skipping it would make reminders work from wrong data, so that is an error."""
    out = []
    for s in config.sheets:
        if s.key in tables:
            continue
        if store is not None and store.has_records(s.key):
            raise SheetLayoutError(
                f"the workbook has no sheet {s.name!r} any more, though the last runs read it: was "
                "it renamed or deleted? Put it back (or restore it from backups/), or, if the team "
                "no longer keeps it, remove it from config.toml; nothing was written"
            )
        needs = config.needs(s.key)
        out.append(f"the workbook has no sheet {s.name!r} (optional): skipped"
                   + (f", and with it {'; '.join(needs)}" if needs else ""))  # fmt: skip
    return out


@dataclass
class PlanContext:
    """What the stages of a plan share: the inputs (tables read, config, `now`, the store, only
    read) and what earlier stages found (IDs with the new ones, typed values, duplicates, what
    changed, the rules' outcome). Built once per run; each stage reads it and adds to `plan`."""

    tables: dict[str, Table]
    config: Config
    now: datetime
    store: Store | None
    plan: Plan
    ids: dict[str, pd.Series] = field(default_factory=dict)  # per sheet row, new IDs included
    new_ids: dict[str, dict[int, str]] = field(default_factory=dict)
    duplicates: dict[str, pd.Series] = field(default_factory=dict)  # 重复客户 per row
    duplicate_reasons: dict[str, pd.Series] = field(default_factory=dict)  # 重复原因, if a column
    reviewed: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)  # 判定s
    seen: dict[str, ChangeSet] = field(default_factory=dict)  # changes as the first run at now saw
    outcome: RulesOutcome = field(default_factory=RulesOutcome)

    @property
    def typed(self) -> dict[str, pd.DataFrame]:
        return {k: r.typed for k, r in self.plan.results.items()}


def assign_ids(ctx: PlanContext) -> None:
    """Blank ID cells get the next free IDs (never one the store issued before)."""
    for key, table in ctx.tables.items():
        snapshot = ctx.plan.snapshots.get(key)
        issued = snapshot.hashes.index if snapshot is not None else None
        ctx.new_ids[key] = plan_new_ids(table, ctx.config.sheet(key), issued)
        ctx.ids[key] = table.ids.copy()
        if ctx.new_ids[key]:
            ctx.ids[key].loc[list(ctx.new_ids[key])] = list(ctx.new_ids[key].values())


def find_duplicates(ctx: PlanContext) -> None:
    """dedupe.py decides, with the IDs new rows get this run (a new row is never an ID-less
    original) and people's decisions."""
    for key in ctx.tables:
        sheet = ctx.config.sheet(key)
        if sheet.dedupe is not None:
            found, fresh = decide_duplicates(sheet, ctx.typed, ctx.ids[key], ctx.store,
                                             ctx.reviewed.get(key, []))  # fmt: skip
            if sheet.has_status("duplicate_reason"):  # the ID alone, for VLOOKUP
                ctx.duplicates[key] = found.duplicate_of
                ctx.duplicate_reasons[key] = found.reason.where(found.duplicate_of != "", "")
            else:  # no 重复原因 column: the reason stays beside the ID
                ctx.duplicates[key] = found.status()
            ctx.plan.decisions += fresh
            if found.kept:  # the linkage's matches, for the next night
                ctx.plan.state[kept_key(key)] = found.kept
    ctx.plan.duplicates = {key: int((d != "").sum()) for key, d in ctx.duplicates.items()}


def find_changes(ctx: PlanContext) -> None:
    """What people changed since the last snapshot (only with a store); a re-run at the same time
    sees what the first run at that time saw."""
    for key, snapshot in ctx.plan.snapshots.items():
        sheet = ctx.config.sheet(key)
        typed = ctx.plan.results[key].typed
        change = detect_changes(key, typed, ctx.ids[key], tracked_fields(sheet), snapshot,
                                stage_field=sheet.stage_field)  # fmt: skip
        ctx.plan.changes[key] = ctx.seen[key] = change
        assert ctx.store is not None
        earlier, baseline = ctx.store.events_at(key, ctx.now)
        if earlier:
            ctx.seen[key] = as_first_seen(change, earlier, baseline, typed, ctx.ids[key])


def apply_rules(ctx: PlanContext) -> None:
    """Every rule kind (rules/), each doing nothing when nothing of its kind is configured; rows
    whose cells a rule changed are checked again."""
    store, tables = ctx.store, ctx.tables
    ctx.outcome = evaluate_rules(
        tables, ctx.typed, ctx.ids, ctx.seen, ctx.config, now=ctx.now,
        state=_rule_state(store, ctx.config), approvals={k: store.approvals(k) for k in tables} if store else None,
        duplicates=ctx.duplicates, flags={k: store.flags(k) for k in tables} if store else None,
    )  # fmt: skip
    _recheck_rule_cells(ctx.plan, ctx.outcome, ctx.ids, ctx.config, ctx.now)
    ctx.plan.decisions += ctx.outcome.decisions
    ctx.plan.state |= ctx.outcome.state


def add_reminders(ctx: PlanContext) -> None:
    """Reminders due now (reminders/: every timing) and 下次提醒 per record."""
    plan, outcome = ctx.plan, ctx.outcome
    wanted = {r.sheet for r in ctx.config.reminders}
    for key in [k for k in ctx.tables if k in wanted]:  # in the sheets' order: the same every run
        history = None
        if ctx.store is not None:
            store = ctx.store
            history = History(store.stage_since(key, [STAGE]), store.stage_since(key, [CREATED]),
                              store.last_reminders(key), store.sent_on(key, CATCH_UP, ctx.now))  # fmt: skip
            if key in plan.changes:  # this run's moves count from now, as on a re-run
                history.stage_moves.update({e.record_id: ctx.now for e in plan.changes[key].events
                                            if e.kind == STAGE})  # fmt: skip
        notes, next_due = reminders_for(key, outcome.typed, ctx.ids[key], ctx.config, now=ctx.now,
                                        history=history)  # fmt: skip
        outcome.notifications += notes
        if next_due is not None:
            outcome.sheets[key].status["next_reminder"] = next_due


def queue_notifications(ctx: PlanContext) -> None:
    """One notification per key, and none the store has already queued (a re-run sends nothing
    twice; a row copied with its ID makes twins); each carries what the digest shows of its
    record (`record_facts`)."""
    notes = ctx.outcome.notifications
    known = ctx.store.notification_keys([n.key for n in notes]) if ctx.store else set()
    fresh = []
    for n in notes:
        if n.key not in known:
            known.add(n.key)
            fresh.append(n)
    facts = record_facts(ctx, {(n.sheet, n.record_id) for n in fresh})
    ctx.plan.notifications += [replace(n, facts=facts.get((n.sheet, n.record_id))) for n in fresh]


def record_facts(
    ctx: PlanContext, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """For the digest's one line per customer: the record's name, stage, intent, phone, sheet
    row and days since the last contact, as the rules left them."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    by_sheet: dict[str, list[str]] = {}
    for sheet_key, rid in wanted:
        if sheet_key in ctx.ids:
            by_sheet.setdefault(sheet_key, []).append(rid)
    for key, rids in by_sheet.items():
        sheet = ctx.config.sheet(key)
        typed = ctx.outcome.typed.get(key, ctx.plan.results[key].typed)
        ids = ctx.ids[key]
        first = ids[(ids != "") & ~ids.duplicated()]
        rows = first[first.isin(rids)]
        names = record_names(sheet, typed.loc[rows.index], rows)
        phone = next((f.key for f in sheet.fields if f.type is FieldType.phone), None)
        intent = "intent" if "intent" in typed else None
        today = pd.Timestamp(ctx.now.date())
        contact = contact_dates(ctx.outcome.typed, key, rows, ctx.config)
        since = (today - within_reach(contact, today)).dt.days
        columns = {label: display_column(typed.loc[rows.index, col]).tolist()
                   for label, col in (("stage", sheet.stage_field), ("intent", intent), ("phone", phone))
                   if col and col in typed}  # fmt: skip
        days = since.astype("Int64").tolist()
        urgent = [False] * len(rows)
        if sheet.urgent_when:
            env = Env(typed.loc[rows.index], sheet.kinds(), ctx.now)
            urgent = sheet.condition(sheet.urgent_when)(env).fillna(False).astype(bool).tolist()
        owner = ctx.config.owner_field(key) or ""  # 负责人; a request's 处理人
        owners = display_column(typed.loc[rows.index, owner]).tolist() if owner in typed \
            else [""] * len(rows)  # fmt: skip
        name_list = names.tolist()
        for i, (row, rid) in enumerate(rows.items()):  # column-wise above; only dicts made here
            f: dict[str, Any] = {"name": name_list[i], "row": int(row)}
            f.update({label: values[i] for label, values in columns.items() if values[i]})
            if owners[i]:
                f["owner"] = owners[i]
            if days[i] is not pd.NA:
                f["since"] = int(days[i])
            if urgent[i]:
                f["urgent"] = True
            out[(key, rid)] = f
    return out


def record_rule_changes(ctx: PlanContext) -> None:
    """Cells the rules wrote are part of the snapshot and the events, so the next run does not
    take them for a person's edit."""
    for key, change in ctx.plan.changes.items():
        sheet_out = ctx.outcome.sheets.get(key)
        if sheet_out is not None and sheet_out.cells:
            refresh_snapshot(change, ctx.outcome.typed[key], ctx.ids[key], list(sheet_out.cells))
            change.events += sheet_out.events


def status_cells(ctx: PlanContext) -> None:
    """The status cells that differ from what the sheet shows now, per sheet."""
    locale, plan = ctx.config.locale, ctx.plan
    ok, bad = text(locale, "status.ok"), text(locale, "status.problem")
    stamp = ctx.now.strftime("%Y-%m-%d %H:%M")
    for key, table in ctx.tables.items():
        plan.patches[key] = _status_patch(table, plan.results[key], ctx.duplicates.get(key),
                                          ctx.new_ids[key], ctx.ids[key], ctx.outcome.sheets.get(key),
                                          ok=ok, bad=bad, stamp=stamp,
                                          duplicate_reason=ctx.duplicate_reasons.get(key))  # fmt: skip


# The plan is a fold over these stages, in this order; each reads what the ones before found. There
# are no gates: a stage with nothing configured adds nothing (a list of which features are on once
# left reminders silent without [rules]).
PLAN_STAGES: tuple[Callable[[PlanContext], None], ...] = (
    assign_ids, find_duplicates, find_changes, apply_rules, add_reminders, queue_notifications,
    record_rule_changes, status_cells,
)  # fmt: skip


def build_plan(tables: dict[str, Table], config: Config, *, now: datetime,
               store: Store | None = None, job: str = "check",
               reviewed: dict[str, list[tuple[str, str, str, str]]] | None = None) -> Plan:  # fmt: skip
    """Return what a run on these tables would do: the check, then `PLAN_STAGES` in turn. The
    store is only read. `reviewed`: per sheet, the 判定 people gave in review workbooks
    (reviewbook.read_review_decisions)."""
    plan = Plan(job, now, tables, check_workbook(tables, config, now=now))
    plan.owner_fields = {k: o for k in tables if (o := config.owner_field(k))}
    if store is not None:
        plan.snapshots = {key: store.snapshot(key) for key in tables}
    ctx = PlanContext(tables, config, now, store, plan, reviewed=reviewed or {})
    for stage in PLAN_STAGES:
        stage(ctx)
    return plan


def _rule_state(store: Store | None, config: Config) -> dict[str, str]:
    """The small state rules keep in the store: round-robin pointers, flags read from sheets."""
    if store is None:
        return {}
    keys = {f"round_robin:{r.sheet}:{r.team}" for r in config.rules.assign if r.team}
    return {k: v for k in keys if (v := store.get(k)) is not None} | store.states("flags_read:")


def _recheck_rule_cells(plan: Plan, outcome: RulesOutcome, ids: dict[str, pd.Series], config: Config,
                        now: datetime) -> None:  # fmt: skip
    """Rows whose cells a rule changes are checked again with the new values, so the status does
    not report, say, a missing 负责人 that this very run fills in. Only rows where that can matter
    are checked again: a changed field has a problem in the row, or a required_if condition names
    it. The others get just the typed form of the written values (what the next run reads back:
    （ → ( etc.), so the next run does not see a change nobody made."""
    known_ids = {key: set(t.ids[t.ids != ""]) for key, t in plan.tables.items()}
    for key, sheet_out in outcome.sheets.items():
        if not sheet_out.cells:
            continue
        sheet = config.sheet(key)
        table = plan.tables[key]
        result = plan.results[key]
        cells = sheet_out.cells
        pairs = [(row, rid) for row, rid in zip(ids[key].index.tolist(), ids[key].tolist(), strict=True)
                 if rid in cells]  # fmt: skip
        rows = [row for row, _ in pairs]
        frame = table.frame.loc[rows].copy()
        by_field: dict[str, tuple[list[int], list[Any]]] = {}
        for row, rid in pairs:
            for fld, value in cells[rid].items():
                if fld in frame:
                    r, v = by_field.setdefault(fld, ([], []))
                    r.append(row)
                    v.append(value)
        for fld, (r, v) in by_field.items():  # one assignment a column, not one a cell
            frame.loc[r, fld] = pd.Series(v, index=r, dtype=object)
        conditioned = _condition_fields(sheet)
        problem_rows = set(result.problems.loc[result.problems["field"].isin(by_field), "row"])
        recheck = [row for row, rid in pairs if row in problem_rows
                   or (conditioned and not conditioned.isdisjoint(cells[rid]))]  # fmt: skip
        typed = outcome.typed[key]
        for fld, (r, _v) in by_field.items():
            values, _ = coerce_column(frame.loc[r, fld], parser_for(sheet.field(fld), config))
            typed.loc[r, fld] = values.to_numpy()
        if not recheck:
            continue
        sub = Table(key, table.sheet_name, frame.loc[recheck], table.columns, table.status_columns,
                    table.header_row, ids=ids[key].loc[recheck])  # fmt: skip
        again = check_table(sub, sheet, config, now=now, known_ids=known_ids)
        for column in again.typed.columns:
            if column in typed:
                typed.loc[recheck, column] = again.typed[column].to_numpy()
        kept = result.problems[~result.problems["row"].isin(recheck)]
        result.problems = pd.concat([kept, again.problems], ignore_index=True) if len(again.problems) \
            else kept.reset_index(drop=True)  # fmt: skip


def _condition_fields(sheet: SheetConfig) -> set[str]:
    """Fields a required_if condition may name (by key or label): a rule changing one can change
    which other fields are required."""
    texts = [f.required_if for f in sheet.fields if f.required_if]
    return {f.key for f in sheet.fields if any(f.key in t or f.label in t for t in texts)}


def tracked_fields(sheet: SheetConfig) -> list[str]:
    """The fields whose changes are remembered: all that people type, except the ID (the key)."""
    return [f.key for f in sheet.fields if f.key != sheet.id_field]


def _status_patch(table: Table, result: CheckResult, duplicate_of: pd.Series | None,
                  new_ids: dict[int, str], ids: pd.Series, extra: SheetOutcome | None,
                  *, ok: str, bad: str, stamp: str,
                  duplicate_reason: pd.Series | None = None) -> StatusPatch:  # fmt: skip
    """Return the status cells of one sheet that differ from what the sheet shows now.

    Column-wise: what each status cell should say, compared with what it says, in one pass; Python
    only loops over the rows that change (few, from the second night on). A status column that has
    nothing to say is not created (its cells are written once it exists or has something to say)."""
    index = table.ids.index
    p = result.problems
    joined = (
        p.groupby("row", sort=False)["message"].agg(SEPARATOR.join)
        if len(p)
        else pd.Series(dtype=object)
    )
    wanted = {"problems": joined.reindex(index, fill_value="").astype(object)}
    repeated = ((ids != "") & ids.duplicated(keep=False)).to_numpy()
    if repeated.any():  # one ID on several rows: cells are found by ID, so they share one status
        wanted["problems"] = wanted["problems"].copy()
        shared = (
            wanted["problems"][repeated]
            .groupby(ids[repeated].to_numpy())
            .agg(
                lambda v: SEPARATOR.join(
                    dict.fromkeys(p for m in v for p in m.split(SEPARATOR) if p)
                )
            )
        )
        wanted["problems"][repeated] = ids[repeated].map(shared).to_numpy()
    wanted["validation"] = pd.Series(bad, index=index, dtype=object).where(
        wanted["problems"] != "", ok
    )
    current = table.status

    def differs(key: str) -> pd.Series:
        if key not in current:
            return pd.Series(True, index=index)
        return display_column(current[key]) != wanted[key]

    changed = differs("validation") | differs("problems")
    optional: dict[str, pd.Series] = {}
    if duplicate_of is not None:
        optional["duplicate_of"] = duplicate_of.reindex(index, fill_value="")
    if duplicate_reason is not None:
        optional["duplicate_reason"] = duplicate_reason.reindex(index, fill_value="")
    if extra is not None:
        optional.update(
            {k: v.reindex(index, fill_value="").astype(object) for k, v in extra.status.items()}
        )
    masks: dict[str, pd.Series] = {}
    for key, values in optional.items():
        wanted[key] = values
        masks[key] = pd.Series(key in current, index=index) | (values != "")
        changed |= masks[key] & differs(key)
    changed |= index.isin(list(new_ids))
    changed &= ids != ""
    patch = StatusPatch(new_ids=new_ids, cells=dict(extra.cells) if extra is not None else {})
    rows = index[changed.to_numpy()]
    columns = {k: wanted[k][rows].tolist() for k in ("validation", "problems", *optional)}
    for key in NUMBER_STATUS & set(columns):  # written as numbers: people sort and filter them
        columns[key] = [_as_number(v) for v in columns[key]]
    write = {k: masks[k][rows].tolist() for k in optional}
    for i, rid in enumerate(ids[rows].tolist()):
        values = {"validation": columns["validation"][i], "problems": columns["problems"][i]}
        for key in optional:
            if write[key][i]:
                values[key] = columns[key][i]
        patch.values[rid] = {**values, "last_checked": stamp}
    return patch


NUMBER_STATUS = {"lead_score", "contact_count"}


def _as_number(value: Any) -> Any:
    """A status text that is a number ("12") as the number; anything else as it is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if not math.isfinite(number):  # Excel cannot open a cell of inf
        return value
    return int(number) if number.is_integer() else number


@dataclass
class Applied:
    """What applying a plan did."""

    run_id: int | None = None
    written: dict[str, WriteResult] = field(default_factory=dict)
    already_applied: bool = False
    error_list: Path | None = None


def apply_plan(plan: Plan, source: Source, config: Config, *, store: Store | None = None,
               error_list: Path | None = None, run_id: int | None = None) -> Applied:  # fmt: skip
    """Carry out a plan: the cells of every sheet in one go (all or nothing), the error list, then
    the store in one transaction. The workbook must be what was read (every table carries the same
    fingerprint). A failure before the store commit leaves the store as it was, so the next run
    sees the same changes again; the run is recorded as failed. `run_id`: a run already started
    (by a job) to record this under; by default the plan starts its own.

    Just before the written workbook is swapped in, the store commit is journalled with the
    fingerprint of the workbook as written: a process killed between the swap and the commit is
    finished by the next run (`finish_interrupted`), never taken for people's edits. The error
    list comes last: it is a report, and a full disk there loses no record of the run."""
    # the plan of these exact tables, applied to this very workbook (a byte-identical copy of it
    # elsewhere is another workbook, never written: it is not "already applied")
    applied_key = hashlib.sha256(f"{plan.key}\x1f{identity(source)}".encode()).hexdigest()
    if store is not None and store.plan_applied(applied_key):
        return Applied(already_applied=True)
    now = plan.now
    if store is not None and run_id is None:
        run_id = store.start_run(plan.job, now=now)
    commit = RunCommit(list(plan.changes.values()), plan.decisions, plan.notifications, plan.state,
                       plan.counts(), applied_key)  # fmt: skip
    prints = {t.fingerprint for t in plan.tables.values()}
    fingerprint = prints.pop() if len(prints) == 1 else None

    def journal(expected: str) -> None:
        if store is not None and run_id is not None:
            store.save_pending(run_id, plan.job, commit, expected=expected, before=fingerprint,
                               source=identity(source), proof=_proof(plan), now=now)  # fmt: skip

    try:
        written = source.write_statuses(plan.patches, fingerprint=fingerprint, now=now,
                                        on_ready=journal)  # fmt: skip
        crash_point("after-swap")
    except Exception as e:
        if store is not None and run_id is not None:
            store.drop_pending(run_id)  # the workbook was not swapped in: nothing to finish
            store.finish_run(run_id, now=now, outcome="failed", counts={}, warnings=[str(e)])
        raise
    if store is not None and run_id is not None:
        store.commit(run_id, commit, now=now)
        crash_point("after-commit")
    if error_list is not None:  # after the commit: a full disk here loses no record of the run
        columns = {key: t.columns for key, t in plan.tables.items()}
        owners = {key: display_column(t.frame[field]) for key, t in plan.tables.items()
                  if (field := config.owner_field(key)) and field in t.frame}  # fmt: skip
        here = error_list.parent

        def link(sheet_name: str, a1: str) -> str:
            return source.cell_link(sheet_name, a1, from_dir=here)

        write_error_list(plan.results, config, link, error_list, columns, owners)
    return Applied(run_id, written, error_list=error_list)


def identity(source: Source) -> str:
    """Which workbook this is, whatever path led to it (a symlink, ..): journals and applied plans
    belong to one."""
    return str(source.path.resolve()) if source.path is not None else source.where


def _proof(plan: Plan, per_sheet: int = 20) -> dict[str, Any]:
    """A few cells this write puts in (最后检查 of some written rows: the run's own time), so that a
    workbook edited after the swap can still be told from one the swap never reached."""
    rows: dict[str, dict[str, str]] = {}
    for key, patch in plan.patches.items():
        had = _last_checked(plan.tables[key])
        stamped = {rid: display(v["last_checked"]) for rid, v in patch.values.items()
                   if display(v.get("last_checked")) and had.get(rid) != display(v["last_checked"])}  # fmt: skip
        if stamped:
            rows[key] = dict(list(stamped.items())[:per_sheet])
    return {"last_checked": rows}


def _swapped(source: Source, proof: dict[str, Any]) -> bool:
    """Whether the workbook holds the cells a journalled write put in (after later edits too)."""
    wanted: dict[str, dict[str, str]] = proof.get("last_checked", {})
    if not wanted:
        return False
    tables = source.read_sheets(list(wanted))
    for key, cells in wanted.items():
        now_says = _last_checked(tables[key])
        if any(now_says.get(rid) == stamp for rid, stamp in cells.items()):
            return True
    return False


def _last_checked(table: Table) -> dict[str, str]:
    """最后检查 by record ID, as the sheet says it."""
    if "last_checked" not in table.status:
        return {}
    return dict(zip(table.ids.tolist(), display_column(table.status["last_checked"]), strict=True))


def finish_interrupted(store: Store, source: Source, *, now: datetime,
                       wall: Callable[[], datetime] = datetime.now) -> list[str]:  # fmt: skip
    """Finish the store commit of runs killed between their workbook swap and their commit, or drop
    it when the swap never happened. Returns what was done, in words (warnings).

    Call before reading for a new plan: the snapshots must include what that run wrote. A journal
    whose job's lock is held by another live runner belongs to a run still at work, and one of
    another workbook (`sheetcrm check other.xlsx`) to another source: both are left alone (`wall`
    is the clock the locks live in). The workbook tells whether the swap happened: its fingerprint
    is the one written (or the one read: it did not), and after people's edits since, the cells
    the write put in are there (or not)."""
    out: list[str] = []
    held = {lock["job"] for lock in store.active_locks(wall()) if lock["owner"] != store.owner}
    pending = [p for p in store.pending()
               if p["job"] not in held and p["source"] in (None, identity(source))]  # fmt: skip
    if not pending:
        return out
    current = source.current_fingerprint()
    for p in pending:
        if current is None or current == p["before"]:
            swapped = False
        elif current == p["expected"]:
            swapped = True
        else:  # edited since: look for the cells the write put in
            swapped = _swapped(source, json.loads(p["proof"] or "{}"))
        if not swapped:
            store.drop_pending(p["run_id"])
            continue
        failed = store.finish_pending(p, now=now, warning=f"interrupted after writing "
                                      f"{source.where}; the run at {now:%Y-%m-%d %H:%M} recorded "
                                      "what it had written")  # fmt: skip
        if failed is not None:
            out.append(f"run {p['run_id']} ({p['job']}): its record could not be completed "
                       f"({failed}); the next runs see its changes again")  # fmt: skip
            continue
        out.append(f"run {p['run_id']} ({p['job']}) was interrupted after writing the workbook; "
                   "its changes and notifications are now recorded")  # fmt: skip
    return out
