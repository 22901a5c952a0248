"""The shapes data travels in between a source and the stages: Table, CellError, StatusPatch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class CellError:
    """A cell whose value is not a value: a formula error such as #N/A, or a formula whose result was
    never calculated (`code` empty). The check reports it; it is never mistaken for an empty cell."""

    code: str

    def __str__(self) -> str:
        return self.code or "(formula without a calculated value)"


@dataclass
class Table:
    """One sheet as read: raw cell values, one column per field key present in the sheet.

    `frame` has a column per field found (raw values, untouched: typing is the check's job) and is
    indexed by the rows' sheet row numbers (1-based, as people see them). `ids` are the record IDs as
    typed (blank ones are ""). `columns` maps each field key and status key found to its 0-based sheet
    column; `missing` lists optional fields that have no column; `extra` the headers nobody configured.
    `fingerprint` identifies the file content that was read, so a write can refuse if it changed.
    `status` holds the status columns' current values (same index), so unchanged ones need no write.
    `ids` are the record IDs in canonical form (trimmed, NFKC, "" when blank): key patches by them.
    """

    sheet_key: str
    sheet_name: str
    frame: pd.DataFrame
    columns: dict[str, int]
    status_columns: dict[str, int]
    header_row: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    fingerprint: str = ""
    status: pd.DataFrame = field(default_factory=pd.DataFrame)
    ids: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))

    @property
    def rows(self) -> pd.Index:
        """Sheet row numbers (1-based) of the data rows."""
        return self.frame.index

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class StatusPatch:
    """What to write into one sheet: status values by record ID, and IDs for rows that had none.

    Rows are found by their record ID at write time, not by row number, because people sort and
    insert rows between a read and a write. `new_ids` (sheet row → new ID) is the exception: a row
    without an ID can only be found by its position, so new IDs are written only if the workbook is
    unchanged since it was read.
    """

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_ids: dict[int, str] = field(default_factory=dict)
    # people's cells a rule owns and changes (an empty 负责人 assigned, 意向等级 raised): ID → {field: value}
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    # whole new rows added after the last one (import): {field or status key: value}
    append: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.values or self.new_ids or self.cells or self.append)


@dataclass(frozen=True)
class Notification:
    """Something to tell someone, produced by a rule; delivered by the digest (sent once, by key)."""

    key: str  # what it is about: the store refuses a second one with the same key
    kind: str  # assignment, derive, approval, trigger, customer
    recipient: str  # a person's name, or a customer's e-mail address (kind "customer")
    sheet: str
    record_id: str
    subject: str
    text: str = ""
    cc: tuple[str, ...] = ()
    template: str | None = None
    facts: dict[str, Any] | None = None  # what the digest shows of the record (name, stage, ...)

    def __str__(self) -> str:
        cc = f" (cc {', '.join(self.cc)})" if self.cc else ""
        return f"{self.kind} → {self.recipient}{cc}: {self.record_id} {self.subject}"


@dataclass
class WriteResult:
    """What a write did: rows written, IDs not found in the sheet, the backup made."""

    rows_written: int = 0
    ids_written: int = 0
    not_found: list[str] = field(default_factory=list)
    backup: str | None = None
    columns_added: list[str] = field(default_factory=list)
    cells_skipped: int = 0  # status cells inside merged ranges, left alone
    unchanged: bool = False
    rows_appended: int = 0  # whole new rows (import)

    def summary(self) -> dict[str, Any]:
        return {
            "rows_written": self.rows_written,
            "ids_written": self.ids_written,
            "not_found": len(self.not_found),
            "backup": self.backup,
        }


# -- what change detection finds and the store remembers (changes.py, store.py) ----------------
CREATED, CHANGED, STAGE, MISSING, RETURNED = "created", "changed", "stage", "missing", "returned"


class Event(NamedTuple):
    """Something that happened to a record between two runs (a tuple: a first run makes a million)."""

    sheet: str
    record_id: str
    kind: str
    field: str | None = None
    old: str | None = None
    new: str | None = None


@dataclass
class Snapshot:
    """What the store remembers of one sheet: hash and missing flag per record ID."""

    hashes: pd.Series  # record ID → int64 hash
    missing: pd.Series  # record ID → bool
    fields: list[str]  # the field order the stored rows were written in
    load: Callable[[list[str]], dict[str, str]]  # record IDs → stored row text

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(pd.Series(dtype=np.int64), pd.Series(dtype=bool), [], lambda ids: {})


@dataclass
class ChangeSet:
    """The changes of one sheet in one run, and what the snapshot becomes."""

    sheet: str
    fields: list[str]
    events: list[Event] = field(default_factory=list)
    upserts: dict[str, tuple[int, str]] = field(default_factory=dict)  # ID → (hash, row text)
    missing: list[str] = field(default_factory=list)  # IDs to mark missing
    first_run: bool = False
    previous: pd.DataFrame = field(default_factory=pd.DataFrame)  # old text of changed rows
    existed: pd.Series | None = None  # per sheet row: the record was in the last snapshot

    def __bool__(self) -> bool:
        return bool(self.events or self.upserts or self.missing)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.events:
            out[e.kind] = out.get(e.kind, 0) + 1
        return out


# -- what the check finds (check.py; read by the error list, the report, the plan) -----------
PROBLEM_COLUMNS = ["row", "record_id", "field", "label", "code", "value", "message"]


@dataclass
class CheckResult:
    """One sheet's check: typed values and one row per problem."""

    sheet_key: str
    sheet_name: str
    typed: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
