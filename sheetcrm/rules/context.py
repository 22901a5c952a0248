"""What every rule kind works on: the per-run context (typed frames as the rules change them, IDs,
`now`, this run's changes, what the store remembers) and the outcome the kinds add to.

A rule kind never writes: it calls `set_cell` / `set_cells` (cells a rule owns, never over what a
person typed that failed typing), `notify`, `add_note` (规则提示) and `keep_flag` (a flag a rule keeps
between runs, remembered in the store, not parsed back from the sheet's text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ..changes import canonical_frame
from ..config import Config, FieldType, Person, SheetConfig
from ..expr import Env
from ..messages import role_name, text
from ..store import Decision
from ..table import ChangeSet, Event, Notification, Table
from ..text import canonical, display, display_column

RULE = "rule"  # the event kind of a cell a rule wrote
FLAG = "flag"  # the decision kind of a flag a rule keeps (a stage move, an edit outside a role)
NOTE_SEPARATOR = "；"


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


# sheet → {(record ID, flag kind): text}; "" is a flag that was cleared
Flags = dict[str, dict[tuple[str, str], str]]


class RuleContext:
    """One run of the rules: built once, handed to every rule kind in turn."""

    def __init__(self, config: Config, tables: dict[str, Table], typed: dict[str, pd.DataFrame],
                 ids: dict[str, pd.Series], changes: dict[str, ChangeSet], now: datetime,
                 state: dict[str, str], approvals: dict[str, dict[tuple[str, str], tuple[str, str]]],
                 flags: Flags | None, duplicates: dict[str, pd.Series]) -> None:  # fmt: skip
        self.config, self.tables, self.ids, self.changes = config, tables, ids, changes
        self.now, self.state, self.approvals, self.flags = now, state, approvals, flags
        self.duplicates = duplicates  # the 重复客户 text per row dedupe wants, per sheet
        self.out = RulesOutcome()
        for key in tables:
            self.out.sheets[key] = SheetOutcome()
            self.out.typed[key] = typed[key].copy()
        self.input = typed  # the typed values as read (before any rule)
        self._before: dict[str, dict[int, dict[str, str]]] = {}  # sheet → row → field → old text
        self._envs: dict[str, Env] = {}  # per sheet, until a rule writes into it
        self.people = {p.name: p for p in config.people}
        self._invalid: dict[tuple[str, str], pd.Series] = {}
        self._rows: dict[str, dict[str, int]] = {}

    def t(self, message_id: str, **values: object) -> str:
        """A text people read, in the team's locale."""
        return text(self.config.locale, message_id, **values)

    def shown(self, rule: Any) -> str:
        """A rule as people read it (config.NamedRule.shown), in the team's locale."""
        return str(rule.shown(self.config.sheet(rule.sheet), self.config.locale))

    def role(self, role: Any) -> str:
        return role_name(self.config.locale, getattr(role, "value", str(role)))

    def env(self, key: str) -> Env:
        """What conditions see: the values as the rules so far left them, and as the last run saw
        them, so changed_to() also holds for a value a rule set this run (derive's 高意向 sends
        the welcome mail, as a person's would). Built once per sheet until a rule writes."""
        cached = self._envs.get(key)
        if cached is not None:
            return cached
        sheet = self.config.sheet(key)
        change = self.changes.get(key)
        previous = change.previous if change is not None else None
        existed = change.existed if change is not None else None
        olds = self._before.get(key)
        if olds and change is not None and previous is not None and existed is not None:
            # rows people did not change that existed last run: it saw them as read now, except
            # the fields rules changed since (a new row has no "before")
            seen = set(previous.index)
            fresh = [r for r in olds if r not in seen and bool(existed.get(r, False))]
            if fresh:
                before = canonical_frame(self.input[key].loc[fresh], change.fields)
                by_field: dict[str, tuple[list[int], list[str]]] = {}
                for row in fresh:
                    for fld, old in olds[row].items():
                        rows_, values = by_field.setdefault(fld, ([], []))
                        rows_.append(row)
                        values.append(old)
                for fld, (rows_, values) in by_field.items():
                    if fld in before:
                        before.loc[rows_, fld] = values
                previous = pd.concat([previous, before]) if len(previous) else before
        env = self._envs[key] = Env(self.out.typed[key], sheet.kinds(), self.now, previous, existed)
        return env

    def _remember(self, key: str, row: int, fld: str, old: Any) -> None:
        """A rule is about to change `fld` of `row`: keep what it was before any rule ran."""
        self._before.setdefault(key, {}).setdefault(row, {}).setdefault(fld, canonical(old))
        self._envs.pop(key, None)

    def when(self, key: str, condition: str) -> pd.Series:
        return self.config.sheet(key).condition(condition)(self.env(key)) & (self.ids[key] != "")

    def has_status(self, key: str, status: str) -> bool:
        return self.config.sheet(key).has_status(status)

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
        if fld in typed:
            self._remember(key, row, fld, typed.at[row, fld])
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
            for row, value in zip(rows.tolist(), typed.loc[rows, fld].tolist(), strict=True):
                self._remember(key, row, fld, value)
        if fld in typed:
            typed.loc[rows, fld] = new.to_numpy()
        self.out.sheets[key].events.extend(
            Event(key, rid, RULE, fld, o, v)
            for rid, o, v in zip(rids, old.tolist(), display_column(new).tolist(), strict=True)
        )

    def owners(self, key: str) -> pd.Series:
        typed = self.out.typed[key]
        owner_key = self.config.owner_field(key)
        if owner_key and owner_key in typed:
            return typed[owner_key]
        return pd.Series(None, index=typed.index)

    def recipients(self, key: str, row: int, words: list[str]) -> list[str]:
        """Names (or a customer's e-mail) for owner / manager / service / customer / a name."""
        sheet = self.config.sheet(key)
        owner = self.owners(key).at[row]
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

    def notify(self, kind: str, key: str, row: int, recipients: list[str], subject: str, body: str,
               *, ident: str, cc: list[str] | None = None, template: str | None = None) -> None:  # fmt: skip
        rid = self.ids[key][row]
        cc_names = tuple(c for c in (cc or []) if c not in recipients)
        for who in recipients:
            self.out.notifications.append(Notification(
                key=f"{kind}:{ident}:{key}:{rid}:{who}", kind=kind, recipient=who, sheet=key, record_id=rid,
                subject=subject, text=body, cc=cc_names, template=template))  # fmt: skip

    def add_note(self, key: str, notes: pd.Series) -> None:
        """Add to 规则提示 (what the rules say about a row), after what earlier kinds said."""
        status = self.out.sheets[key].status
        if "rule_notes" in status:
            notes = join_notes(status["rule_notes"], notes)
        status["rule_notes"] = notes.where(self.ids[key] != "", "")

    def finish_notes(self) -> None:
        """Each part of 规则提示 once (two rules may say the same), in the order said."""
        for sheet_out in self.out.sheets.values():
            notes = sheet_out.status.get("rule_notes")
            if notes is None:
                continue
            repeated = notes.astype(str).str.contains(NOTE_SEPARATOR, regex=False)
            if repeated.any():
                notes = notes.copy()
                notes[repeated] = [NOTE_SEPARATOR.join(dict.fromkeys(str(t).split(NOTE_SEPARATOR)))
                                   for t in notes[repeated]]  # fmt: skip
                sheet_out.status["rule_notes"] = notes

    # -- flags a rule keeps between runs ---------------------------------------------------------
    def kept_flags(self, key: str, kind: str, legacy_prefix: str | None) -> pd.Series:
        """Each row's `kind` flag as the store remembers it ("" where none). A store from before
        flags were remembered (or no store) has none of this kind: then they are read once more from
        规则提示, where earlier versions kept them (the parts starting with `legacy_prefix`)."""
        index = self.out.typed[key].index
        stored = {rid: t for (rid, k), t in (self.flags or {}).get(key, {}).items() if k == kind}
        read = f"flags_read:{key}:{kind}"  # a store that read them from the sheet once already
        if (self.flags is not None and (stored or read in self.state)) or legacy_prefix is None:
            return (
                self.ids[key].map(stored).astype(object).fillna("").where(self.ids[key] != "", "")
            )
        status = self.tables[key].status
        current = (
            status["rule_notes"].reindex(index)
            if "rule_notes" in status
            else pd.Series("", index=index)
        )
        out = pd.Series("", index=index, dtype=object)
        has = current.astype("string").str.contains(legacy_prefix, regex=False).fillna(False)
        has = has.astype(bool)
        out[has] = [
            NOTE_SEPARATOR.join(
                p for p in str(t).split(NOTE_SEPARATOR) if p.startswith(legacy_prefix)
            )
            for t in current[has]
        ]
        for row in out.index[has.to_numpy()]:  # remembered from now on
            self.keep_flag(key, row, kind, out.at[row])
        if self.flags is not None:
            self.out.state[read] = "done"
        return out

    def keep_flag(self, key: str, row: int, kind: str, flag: str) -> None:
        """Remember `flag` ("" clears it) for the row's record, when it differs from the store's."""
        rid = self.ids[key][row]
        if not rid or self.flags is None:
            return
        if self.flags.get(key, {}).get((rid, kind), "") != flag:
            self.out.decisions.append(Decision(key, rid, kind, flag, kind=FLAG))

    def person(self, name: Any) -> Person | None:
        return self.people.get(str(name)) if name else None


def join_notes(a: pd.Series, b: pd.Series) -> pd.Series:
    """Two text columns joined with "；" where both say something (vectorised; few rows do)."""
    a, b = a.astype(object).fillna(""), b.astype(object).fillna("")
    out = a.where(b == "", b.where(a == "", a + NOTE_SEPARATOR + b))
    return out.astype(object)
