"""The CRM rules of config.toml, evaluated on the checked tables: what the sheet should say next.

Fixed order, each step seeing the one before: assign (an empty owner gets a person) → derive (declared
fields change, e.g. 中意向 → 高意向) → score (points and a label) → stage order (moves back or skipping,
entry conditions) → approvals (待审批 until the right role signs) → follow-up fields (最近跟进, 跟进次数)
→ triggers (tell people about changes). Nothing here writes: the result is cells, status values,
notifications and decisions for the Plan. Rules write only the fields a rule names; the rest of a
person's row is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from .changes import STAGE, ChangeSet, Event
from .config import Config, FieldType, Person, Role, SheetConfig
from .expr import Env, compile_expression, to_datetime64
from .store import Decision
from .table import Notification, Table
from .text import display, display_column, map_distinct

RULE = "rule"  # the event kind of a cell a rule wrote
ROLE_NAMES = {"sales": "销售", "sales_manager": "销售经理", "sales_director": "销售总监",
              "marketing": "市场", "service": "客服", "admin": "管理员"}  # fmt: skip
# who may approve in place of a role (a director may sign what a manager may)
ABOVE = {
    Role.sales: {Role.sales_manager, Role.sales_director},
    Role.sales_manager: {Role.sales_director},
}


@dataclass
class SheetOutcome:
    """What the rules want for one sheet."""

    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # ID → {field: new value}
    status: dict[str, pd.Series] = field(default_factory=dict)  # status key → wanted value per row
    events: list[Event] = field(default_factory=list)


@dataclass
class RulesOutcome:
    sheets: dict[str, SheetOutcome] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)  # round-robin pointers for the store
    typed: dict[str, pd.DataFrame] = field(default_factory=dict)  # typed values after the rules


def evaluate_rules(tables: dict[str, Table], typed: dict[str, pd.DataFrame], ids: dict[str, pd.Series],
                   changes: dict[str, ChangeSet], config: Config, *, now: datetime,
                   state: dict[str, str] | None = None,
                   approvals: dict[str, dict[tuple[str, str], tuple[str, str]]] | None = None,
                   duplicates: dict[str, pd.Series] | None = None) -> RulesOutcome:  # fmt: skip
    """Evaluate every rule. `ids` are the record IDs per sheet row (new IDs included); `changes`
    the change sets of this run (for changed_to and friends); `state` and `approvals` come from
    the store; `duplicates` is the 重复客户 text per row the dedupe step wants."""
    run = _Run(config, tables, ids, changes, now, state or {}, approvals or {})
    out = run.out
    for key in tables:
        out.sheets[key] = SheetOutcome()
        out.typed[key] = typed[key].copy()
    r = config.rules
    for rule in r.assign:
        if rule.sheet in tables:
            run.assign(rule)
    for link in r.links:
        if link.sheet in tables and link.source in tables:
            run.link(link)
    for derive in r.derive:
        if derive.sheet in tables:
            run.derive(derive)
    run.score()
    if r.stage_order is not None and r.stage_order.sheet in tables:
        run.stage_order()
    for approval in r.approvals:
        if approval.sheet in tables:
            run.approval(approval)
    run.followup_fields()
    for perm in r.permissions:
        if perm.sheet in tables:
            run.permission(perm)
    if r.duplicates is not None and duplicates and r.duplicates.sheet in duplicates:
        run.duplicate_notices(duplicates[r.duplicates.sheet])
    for trigger in r.triggers:
        if trigger.sheet in tables:
            run.trigger(trigger)
    return out


class _Run:
    def __init__(self, config: Config, tables: dict[str, Table], ids: dict[str, pd.Series],
                 changes: dict[str, ChangeSet], now: datetime, state: dict[str, str],
                 approvals: dict[str, dict[tuple[str, str], tuple[str, str]]]) -> None:  # fmt: skip
        self.config, self.tables, self.ids, self.changes = config, tables, ids, changes
        self.now, self.state, self.approvals = now, state, approvals
        self.out = RulesOutcome()
        self.people = {p.name: p for p in config.people}
        self._invalid: dict[tuple[str, str], pd.Series] = {}
        self._rows: dict[str, dict[str, int]] = {}

    # -- helpers -------------------------------------------------------------------------------
    def env(self, key: str) -> Env:
        sheet = self.config.sheet(key)
        change = self.changes.get(key)
        previous = change.previous if change is not None else None
        existed = change.existed if change is not None else None
        return Env(self.out.typed[key], sheet.kinds(), self.now, previous, existed)

    def when(self, key: str, text: str) -> pd.Series:
        return self.config.sheet(key).condition(text)(self.env(key)) & (self.ids[key] != "")

    def invalid(self, key: str, fld: str) -> pd.Series:
        """Rows where a person typed something in `fld` that failed typing (a name that is not a
        member, a date that is no date): the check reports it; no rule writes over it."""
        cached = self._invalid.get((key, fld))
        if cached is None:
            raw = self.tables[key].frame
            typed = self.out.typed[key]
            if fld not in raw or fld not in typed:
                cached = pd.Series(False, index=typed.index)
            else:
                typed_blank = typed[fld].isna().to_numpy()
                raw_blank = (display_column(raw[fld]).str.strip() == "").to_numpy()
                cached = pd.Series(typed_blank & ~raw_blank, index=typed.index)
            self._invalid[(key, fld)] = cached
        return cached

    def set_cell(self, key: str, row: int, fld: str, value: Any) -> None:
        if self.invalid(key, fld).get(row, False):
            return  # what a person typed stays until they fix it
        typed = self.out.typed[key]
        old = display(typed.at[row, fld]) if fld in typed else ""
        rid = self.ids[key][row]
        self.out.sheets[key].cells.setdefault(rid, {})[fld] = value
        if fld in typed:
            typed.at[row, fld] = value
        self.out.sheets[key].events.append(Event(key, rid, RULE, fld, old, display(value)))

    def set_cells(self, key: str, rows: pd.Index, fld: str, values: pd.Series) -> None:
        """`set_cell` for many rows of one field at once (a link filling a whole column)."""
        rows = rows[~self.invalid(key, fld).reindex(rows, fill_value=False).to_numpy()]
        if not len(rows):
            return
        typed = self.out.typed[key]
        old = display_column(typed.loc[rows, fld]) if fld in typed else pd.Series("", index=rows)
        rids = self.ids[key].loc[rows].tolist()
        cells = self.out.sheets[key].cells
        new = values.loc[rows]
        for rid, value in zip(rids, new.tolist(), strict=True):
            cells.setdefault(rid, {})[fld] = value
        if fld in typed:
            typed.loc[rows, fld] = new.to_numpy()
        self.out.sheets[key].events.extend(
            Event(key, rid, RULE, fld, o, v)
            for rid, o, v in zip(rids, old.tolist(), display_column(new).tolist(), strict=True)
        )

    def recipients(self, key: str, row: int, words: list[str]) -> list[str]:
        """Names (or a customer's e-mail) for owner / manager / service / customer / a name."""
        sheet = self.config.sheet(key)
        typed = self.out.typed[key]
        owner_key = self.config.owner_field(key)
        owner = typed.at[row, owner_key] if owner_key and owner_key in typed else None
        out = self.config.staff_for([w for w in words if w != "customer"], owner)
        if "customer" in words:
            out += self.customer_email(sheet, row)
        return out

    def customer_email(self, sheet: SheetConfig, row: int) -> list[str]:
        """The row's e-mail field, or that of the record its reference points to (a request → the
        customer's address)."""
        typed = self.out.typed[sheet.key]
        email = next((f.key for f in sheet.fields if f.type is FieldType.email), None)
        if email and email in typed:
            value = typed.at[row, email]
            return [str(value)] if value else []
        for f in sheet.fields:
            if f.references and f.references in self.out.typed and f.key in typed:
                hit = self.row_of(f.references).get(typed.at[row, f.key])
                if hit is not None:
                    return self.customer_email(self.config.sheet(f.references), hit)
        return []

    def row_of(self, key: str) -> dict[str, int]:
        """Record ID → sheet row, built once per sheet (first row of a repeated ID)."""
        if key not in self._rows:
            ids = self.ids[key]
            self._rows[key] = {
                rid: int(row) for row, rid in ids[(ids != "") & ~ids.duplicated()].items()
            }
        return self._rows[key]

    def name_of(self, key: str, row: int) -> str:
        """How a notice names the record: the customer's name; for a record without one (a
        request, a follow-up) its ID, the customer's name and its first choice (需求类型), so that
        "新分配给你：" is never followed by nothing."""
        typed = self.out.typed[key]
        if "name" in typed and (name := display(typed.at[row, "name"])):
            return name
        sheet = self.config.sheet(key)
        kind = next((f.key for f in sheet.fields if f.type is FieldType.choice and f.key in typed
                     and f.key != sheet.stage_field), None)  # fmt: skip
        parts = [self.ids[key][row]] + [display(typed.at[row, k]) for k in ("customer_name", kind)
                                         if k and k in typed]  # fmt: skip
        return " ".join(p for p in parts if p)

    def notify(self, kind: str, key: str, row: int, recipients: list[str], subject: str, text: str,
               *, ident: str, cc: list[str] | None = None, template: str | None = None) -> None:  # fmt: skip
        rid = self.ids[key][row]
        cc_names = tuple(c for c in (cc or []) if c not in recipients)
        for who in recipients:
            self.out.notifications.append(Notification(
                key=f"{kind}:{ident}:{key}:{rid}:{who}", kind=kind, recipient=who, sheet=key, record_id=rid,
                subject=subject, text=text, cc=cc_names, template=template))  # fmt: skip

    # -- the rules -----------------------------------------------------------------------------
    def assign(self, rule: Any) -> None:
        key = rule.sheet
        typed = self.out.typed[key]
        empty = (  # blank as typed: 马云 (not a person) failed typing, and is reported, not replaced
            (typed[rule.field].isna() & ~self.invalid(key, rule.field))
            if rule.field in typed else pd.Series(True, index=typed.index)
        )  # fmt: skip
        rows = typed.index[(self.when(key, rule.when) & empty).to_numpy()]
        if not len(rows):
            return
        if rule.to is not None:
            chosen = [rule.to] * len(rows)
        else:
            members = [p.name for p in self.config.people
                       if p.team == rule.team and p.active and p.role in rule.roles]  # fmt: skip
            if not members:
                return
            if rule.method == "round_robin":
                pointer_key = f"round_robin:{key}:{rule.team}"
                last = self.state.get(pointer_key)
                start = (members.index(last) + 1) if last in members else 0
                chosen = [members[(start + i) % len(members)] for i in range(len(rows))]
                self.out.state[pointer_key] = chosen[-1]
                self.state[pointer_key] = chosen[-1]
            else:
                load = (
                    typed[rule.field].value_counts()
                    if rule.field in typed
                    else pd.Series(dtype=int)
                )
                counts = {m: int(load.get(m, 0)) for m in members}
                chosen = []
                for _ in rows:
                    who = min(members, key=lambda m: (counts[m], members.index(m)))
                    counts[who] += 1
                    chosen.append(who)
        label = self.config.sheet(key).field(rule.field).label
        for row, who in zip(rows, chosen, strict=True):
            self.set_cell(key, row, rule.field, who)
            self.notify("assignment", key, row, [who], f"新分配给你：{self.name_of(key, row)}",
                        f"{label}：{who}（规则：{rule.name}）", ident=who)  # fmt: skip

    def derive(self, rule: Any) -> None:
        key = rule.sheet
        hits = self.when(key, rule.when)
        typed = self.out.typed[key]
        sheet = self.config.sheet(key)
        for fld, value in rule.set.items():
            column = typed[fld] if fld in typed else pd.Series(None, index=typed.index)
            rows = typed.index[(hits & ~(column == value).fillna(False).astype(bool)).to_numpy()]
            for row in rows:
                old = display(column.at[row])
                self.set_cell(key, row, fld, value)
                what = f"{sheet.field(fld).label}：{old or '（空）'} → {display(value)}（规则：{rule.name}）"
                self.notify("derive", key, row, self.recipients(key, row, rule.notify),
                            f"{self.name_of(key, row)} 已自动更新", what,
                            ident=f"{rule.name}:{self.now:%Y%m%d}")  # fmt: skip

    def score(self) -> None:
        rules = self.config.rules.score
        for key in self.tables:
            mine = [r for r in rules if r.sheet == key]
            sheet = self.config.sheet(key)
            status = {c.key.value for c in sheet.status}
            if not mine or "lead_score" not in status:
                continue
            env = self.env(key)
            total = pd.Series(0.0, index=env.index)
            for r in mine:
                hit = sheet.condition(r.when)(env)
                if isinstance(r.points, str):
                    pts = compile_expression(r.points, sheet.names(), sheet.kinds()).fn(env)
                    pts = pts.fillna(0.0) if isinstance(pts, pd.Series) else pts
                else:
                    pts = r.points
                total += np.where(hit, pts, 0.0)
            shown = total.map(display).astype(object).where(total != 0, "")
            self.out.sheets[key].status["lead_score"] = shown.where(self.ids[key] != "", "")
            if "lead_label" in status and self.config.rules.score_labels:
                labels = pd.Series("", index=env.index, dtype=object)
                for lab in sorted(self.config.rules.score_labels, key=lambda x: x.min):
                    labels = labels.where(~(total >= lab.min), lab.label)
                self.out.sheets[key].status["lead_label"] = labels.where(self.ids[key] != "", "")

    def stage_order(self) -> None:
        so = self.config.rules.stage_order
        assert so is not None
        key = so.sheet
        typed = self.out.typed[key]
        notes = pd.Series("", index=typed.index, dtype=object)
        label = self.config.sheet(key).field(so.field).label
        for stage, text in so.requires.items():
            need = (typed[so.field] == stage) & ~self.when(key, text)
            notes = notes.where(~need, f"{label}为「{stage}」时需满足：{text}")
        # moves detected this run; a flag stays while the stage stays where it moved to
        sticky = self._flags_now(key, "阶段")
        change = self.changes.get(key)
        moved: dict[str, tuple[str, str]] = {}
        if change is not None:
            moved = {e.record_id: (e.old or "", e.new or "") for e in change.events
                     if e.kind == STAGE and e.field == so.field}  # fmt: skip
        moved_mask = self.ids[key].isin(list(moved))
        row_of = {rid: row for row, rid in self.ids[key][moved_mask].items()}  # few rows moved
        order = {s: i for i, s in enumerate(so.order)}
        flags = pd.Series("", index=typed.index, dtype=object)
        for rid, (old, new) in moved.items():
            row = row_of.get(rid)
            if row is None or old not in order or new not in order or new in so.anytime:
                continue
            if order[new] < order[old]:
                flags.at[row] = f"阶段倒退：{old} → {new}"
            elif order[new] > order[old] + 1 and not so.allow_skip:
                skipped = "、".join(so.order[order[old] + 1 : order[new]])
                flags.at[row] = f"阶段跳过：{old} → {new}（跳过 {skipped}）"
        flags = flags.where(pd.Series(moved_mask.to_numpy(), index=typed.index), sticky)
        self._add_note(key, _join(flags, notes))

    def _flags_now(self, key: str, prefix: str) -> pd.Series:
        """The parts of each 规则提示 cell, as the sheet shows it now, that start with `prefix` (the
        flags a rule keeps until something changes); "" elsewhere. Few cells hold any."""
        index = self.out.typed[key].index
        status = self.tables[key].status
        current = (
            status["rule_notes"].reindex(index)
            if "rule_notes" in status
            else pd.Series("", index=index)
        )
        out = pd.Series("", index=index, dtype=object)
        has = current.astype("string").str.contains(prefix, regex=False).fillna(False).astype(bool)
        out[has] = [
            "；".join(p for p in str(t).split("；") if p.startswith(prefix)) for t in current[has]
        ]
        return out

    def _add_note(self, key: str, notes: pd.Series) -> None:
        status = self.out.sheets[key].status
        if "rule_notes" in status:
            notes = _join(status["rule_notes"], notes)
        status["rule_notes"] = notes.where(self.ids[key] != "", "")

    def approval(self, rule: Any) -> None:
        key = rule.sheet
        sheet = self.config.sheet(key)
        if "approval" not in {c.key.value for c in sheet.status}:
            return
        typed = self.out.typed[key]
        ids = self.ids[key]
        fires = self.when(key, rule.when)
        stored = {
            rid: v for (rid, name), v in self.approvals.get(key, {}).items() if name == rule.name
        }
        # a pending approval stays until signed; one asked for by a change (changed_to(...)) also
        # stays signed after the change is no longer new. Conditions on the data itself are simply
        # evaluated again every run, so only their signatures are stored.
        history = sheet.condition(rule.when).uses_history
        kept = {rid for rid, (state, _) in stored.items() if state == "pending" or history}
        need = fires | ids.isin(kept)
        rows = typed.index[need.to_numpy()]
        status = self.out.sheets[key].status
        wanted = status.get("approval", pd.Series("", index=typed.index, dtype=object)).copy()
        if not len(rows):
            status["approval"] = wanted
            return
        role_name = ROLE_NAMES.get(rule.role.value, rule.role.value)
        allowed = {rule.role} | ABOVE.get(rule.role, set())
        field_label = sheet.field(rule.approver_field).label
        approver = (
            typed[rule.approver_field]
            if rule.approver_field in typed
            else pd.Series(None, index=typed.index)
        )
        approver = approver.astype(object).where(approver.notna(), None)
        # the verdict depends only on who signed: decide it once per distinct name
        verdicts: dict[Any, tuple[str, str, str]] = {}
        for who in pd.unique(approver[rows]):
            person = self.people.get(str(who)) if isinstance(who, str) and who else None
            if person is not None and person.role in allowed:
                verdicts[who] = (f"已批准（{person.name}）", "approved", person.name)
            elif person is not None:
                verdicts[who] = (f"审批无效：{person.name} 不是{role_name}", "pending", "")
            else:
                verdicts[who] = (f"待审批（需{role_name}：{rule.name}）", "pending", "")
        owner_key = self.config.owner_field(sheet.key)
        owners = (
            typed[owner_key]
            if owner_key and owner_key in typed
            else pd.Series(None, index=typed.index)
        )
        chain: dict[Any, list[str]] = {}
        name_col = typed["name"] if "name" in typed else pd.Series("", index=typed.index)
        text = f"{rule.name}（需{role_name}审批，请在「{field_label}」填写你的名字）"
        texts: list[str] = []
        for rid, who, owner, name in zip(ids[rows].tolist(), approver[rows].tolist(),
                                         owners[rows].tolist(), name_col[rows].tolist(), strict=True):  # fmt: skip
            shown, state, signer = verdicts[who]
            texts.append(shown)
            if (state == "approved" or history) and stored.get(rid) != (state, signer):
                self.out.decisions.append(
                    Decision(key, rid, rule.name, state, signer, kind="approval")
                )
            if state == "pending":
                if owner not in chain:
                    chain[owner] = self._approvers(owner, allowed)
                for to in chain[owner]:
                    self.out.notifications.append(Notification(
                        f"approval:{rule.name}:{key}:{rid}:{to}", "approval", to, key, rid,
                        f"待你审批：{display(name)}", text))  # fmt: skip
        mine = pd.Series("", index=typed.index, dtype=object)
        mine[rows] = texts
        status["approval"] = _join(wanted, mine).where(ids != "", "")

    def _approvers(self, owner: Any, allowed: set[Role]) -> list[str]:
        """The owner's manager chain first (whoever has the role); else everyone with it."""
        chain: list[Person] = []
        person = self.people.get(str(owner)) if owner else None
        while person is not None and person.manager and len(chain) < 5:
            person = self.people.get(person.manager)
            if person is not None:
                chain.append(person)
        for p in chain:
            if p.role in allowed and p.active:
                return [p.name]
        return [p.name for p in self.config.people if p.role in allowed and p.active][:3]

    def followup_fields(self) -> None:
        link = self.config.rules.followups
        if link is None or link.sheet not in self.out.typed or link.target not in self.tables:
            return
        source = self.out.typed[link.sheet]
        target = self.config.sheet(link.target)
        status = {c.key.value for c in target.status}
        if link.key not in source:
            return
        valid = source[link.key].notna()
        keys = source.loc[valid, link.key].astype(str)
        ids = self.ids[link.target]
        out = self.out.sheets[link.target].status
        if "contact_count" in status:
            counts = keys.value_counts()
            out["contact_count"] = map_distinct(
                ids.map(counts), lambda n: str(int(n)) if n is not None and n == n else ""
            ).where(ids != "", "")
        self.suggestions(source, keys, link)
        if "last_followup" in status and link.date in source:
            dates = pd.Series(
                source.loc[valid, link.date].to_numpy(), index=keys.to_numpy()
            ).dropna()
            last = pd.Series(dtype=object)
            if len(dates):  # the latest by datetime64 (fast), shown as the value typed
                stamps = to_datetime64(dates.reset_index(drop=True))
                ok = stamps.notna().to_numpy()
                stamps, who = stamps[ok], dates.index.to_numpy()[ok]
                picked = stamps.groupby(who).idxmax()
                last = display_column(
                    pd.Series(dates.to_numpy()[picked.to_numpy()], index=picked.index)
                )
            mapped = ids.map(last).astype(object)
            out["last_followup"] = mapped.where(mapped.notna() & (ids != ""), "")

    def link(self, link: Any) -> None:
        """Fill a linked field from the record its ID points to; keep it in sync when that changes."""
        typed = self.out.typed[link.sheet]
        if link.key not in typed:
            return
        # the name as the person typed it (raw, not the folded typed value: （ stays （)
        raw = self.tables[link.source].frame
        values = pd.Series(display_column(raw[link.value]).to_numpy() if link.value in raw else "",
                           index=self.ids[link.source].to_numpy())  # fmt: skip
        values = values[~values.index.duplicated() & (values.index != "")]
        wanted = typed[link.key].map(values).astype(object)
        wanted = wanted.where(wanted.notna(), "")
        here = self.tables[link.sheet].frame  # compared raw, as typed, like the source value
        current = (
            display_column(here[link.field])
            if link.field in here
            else pd.Series("", index=typed.index)
        )
        differs = (wanted != current) & (wanted != "") & (self.ids[link.sheet] != "")
        self.set_cells(link.sheet, typed.index[differs.to_numpy()], link.field, wanted)

    def suggestions(self, source: pd.DataFrame, keys: pd.Series, link: Any) -> None:
        """Keywords in each customer's latest follow-up suggest a stage ahead of the current one."""
        so = self.config.rules.stage_order
        if (
            not self.config.rules.suggest
            or so is None
            or link.content not in source
            or link.date not in source
        ):
            return
        latest = pd.DataFrame({"key": keys.to_numpy(), "date": source.loc[keys.index, link.date].to_numpy(),
                               "content": source.loc[keys.index, link.content].to_numpy()})  # fmt: skip
        latest = (
            latest.dropna(subset=["date"]).sort_values("date", kind="stable").groupby("key").last()
        )
        target = self.out.typed[link.target]
        ids = self.ids[link.target]
        content = ids.map(latest["content"]).astype(object).fillna("").astype(str)
        order = {s: i for i, s in enumerate(so.order)}
        stage = (
            target[so.field].map(lambda v: order.get(v, -1))
            if so.field in target
            else pd.Series(-1, index=ids.index)
        )
        label = self.config.sheet(link.target).field(so.field).label
        notes = pd.Series("", index=ids.index, dtype=object)
        for rule in self.config.rules.suggest:
            found = pd.Series(False, index=ids.index)
            for word in rule.keywords:
                found |= content.str.contains(word, regex=False)
            ahead = stage < order.get(rule.stage, len(order))
            hit = found & ahead & (notes == "")
            notes[hit] = f"建议：{label} → {rule.stage}（最近跟进提到「" + content[hit].map(
                lambda t, kw=tuple(rule.keywords): next(k for k in kw if k in t)) + "」，请确认）"  # fmt: skip
        self._add_note(link.target, notes)

    def permission(self, perm: Any) -> None:
        """Edits (changes detected this run) the editor's role may not make: flagged, told to the
        editor's manager, never reverted. A flag stays until the row is edited again."""
        key = perm.sheet
        change = self.changes.get(key)
        typed = self.out.typed[key]
        ids = self.ids[key]
        edited = (
            {e.record_id for e in change.events if e.kind in ("changed", STAGE)}
            if change
            else set()
        )
        # a flag stays until the row is edited again
        notes = self._flags_now(key, "权限").where(~ids.isin(edited), "")
        if not edited or perm.editor_field not in typed:
            self._add_note(key, notes)
            return
        sheet = self.config.sheet(key)
        owner_key = self.config.owner_field(sheet.key)
        row_of = {rid: row for row, rid in ids[ids.isin(edited)].items()}
        by_record: dict[str, list[Event]] = {}
        for e in change.events if change else []:
            if e.kind in ("changed", STAGE):
                by_record.setdefault(e.record_id, []).append(e)
        role_name = ROLE_NAMES.get(perm.role.value, perm.role.value)
        for rid, events in by_record.items():
            row = row_of.get(rid)
            editor = (
                self.people.get(str(typed.at[row, perm.editor_field])) if row is not None else None
            )
            if row is None or editor is None or editor.role is not perm.role:
                continue
            problems = [f"权限：{editor.name}（{role_name}）无权修改「{sheet.field(e.field).label}」"
                        for e in events
                        if e.field is not None and e.field in perm.may_not_edit]  # fmt: skip
            owner = typed.at[row, owner_key] if owner_key and owner_key in typed else None
            owner_p = self.people.get(str(owner)) if owner else None
            if perm.records == "own" and owner and owner != editor.name:
                problems.append(f"权限：{editor.name} 修改了 {owner} 的客户")
            elif perm.records == "team" and owner_p is not None and owner_p.team != editor.team:
                problems.append(f"权限：{editor.name} 修改了其他团队的客户")
            if not problems:
                continue
            notes.at[row] = "；".join(problems)
            if editor.manager:
                self.notify("permission", key, row, [editor.manager], f"越权修改：{self.name_of(key, row)}",
                            "；".join(problems), ident=f"{self.now:%Y%m%d}")  # fmt: skip
        self._add_note(key, notes)

    def duplicate_notices(self, wanted: pd.Series) -> None:
        """A record newly marked as a duplicate: tell the owners of both records."""
        notice = self.config.rules.duplicates
        assert notice is not None
        key = notice.sheet
        table = self.tables[key]
        ids = self.ids[key]
        before = display_column(table.status["duplicate_of"].reindex(ids.index)) if "duplicate_of" in table.status \
            else pd.Series("", index=ids.index)  # fmt: skip
        wanted = wanted.reindex(ids.index).fillna("")
        new = (wanted != "") & (wanted != before) & (ids != "")
        row_of_id = {rid: row for row, rid in ids.items() if rid}
        for row in ids.index[new.to_numpy()]:
            other = str(wanted.at[row]).split()[0]
            to = self.recipients(key, row, notice.notify)
            if other in row_of_id:
                to += [
                    p for p in self.recipients(key, row_of_id[other], notice.notify) if p not in to
                ]
            self.notify("duplicate", key, row, to, f"疑似重复客户：{self.name_of(key, row)}",
                        f"{ids[row]} 与 {wanted.at[row]}", ident=other)  # fmt: skip

    def trigger(self, rule: Any) -> None:
        key = rule.sheet
        rows = self.out.typed[key].index[self.when(key, rule.when).to_numpy()]
        for row in rows:
            to = self.recipients(key, row, rule.notify)
            cc = self.recipients(key, row, rule.cc)
            kind = "customer" if rule.notify == ["customer"] else "trigger"
            self.notify(kind, key, row, to, f"{self.name_of(key, row)}：{rule.message}", rule.message,
                        ident=f"{rule.name}:{self.now:%Y%m%d}", cc=cc, template=rule.template)  # fmt: skip


def _join(a: pd.Series, b: pd.Series) -> pd.Series:
    """Two text columns joined with "；" where both say something (vectorised; few rows do)."""
    a, b = a.astype(object).fillna(""), b.astype(object).fillna("")
    out = a.where(b == "", b.where(a == "", a + "；" + b))
    return out.astype(object)
