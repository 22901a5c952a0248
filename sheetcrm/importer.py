"""Moving in: legacy spreadsheets and CSV exports into the customers sheet.

1. Read each file: .xlsx, .xls, .ods (python-calamine) or .csv (UTF-8 with or without BOM, UTF-16,
   else GB18030, the superset of GBK that Chinese Excel exports use; the delimiter is sniffed).
   The header row is the row among the first ten that names the most fields.
2. Map its columns to fields: by label or key (confidence 1.0), by an [import] synonym (0.95), else
   by a fuzzy match of label, key and synonyms (rapidfuzz, at least [import] min_score). Each field
   takes one column, the most confident. The mapping is saved as TOML for a person to correct and
   pass back with --map. Columns no field takes are kept in [import] notes_field ("列名: 值").
3. Check every row with the sheet's rules (the same typing and checks as the nightly run), match it
   against the customers already in the sheet and against the other imported rows (the duplicate
   matcher), and skip rows an earlier import brought in (their fingerprints are in the store).
4. New customers are appended with new IDs through the source's safe write (backup, atomic, refuses
   while the workbook is open), with ✓/✗ and their problems in the status columns; `strict` holds
   rows with problems back. The import report workbook lists every row's outcome and problem.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rapidfuzz import fuzz, process

from .check import check_table
from .config import CHOICE_TYPES, Config, Field, FieldType, SheetConfig
from .dedupe import match_existing
from .errors import SheetCRMError
from .fields import SPLIT_CHOICES
from .messages import how_matched, text
from .sources.base import build_table, next_id_number
from .store import Store
from .table import StatusPatch, Table
from .text import canonical, display, fold_label

SPREADSHEETS = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
HEADER_SCAN = 10


class ImportFileError(SheetCRMError):
    """A file cannot be imported as it is (unreadable, no header row, a bad mapping file)."""


@dataclass
class SourceFile:
    path: Path
    sheet: str  # the sheet read, or "" for a CSV
    encoding: str  # for a CSV
    header_row: int  # 1-based
    headers: list[str]
    rows: list[list[Any]]  # the data rows under the header, as read


@dataclass(frozen=True)
class ColumnMatch:
    column: str  # the source header
    field: str | None  # the field key, or None (kept in notes / dropped)
    confidence: float
    how: str  # label, key, synonym, fuzzy, map (from a mapping file), none


@dataclass(frozen=True)
class ValueMatch:
    """A choice value as a legacy file wrote it (展会) and the choice it becomes (展会推荐)."""

    field: str
    said: str
    choice: str | None  # None: no choice is close enough (the check will say so)
    confidence: float
    how: str  # synonym ([import.values]), fuzzy, map (from a mapping file), none


@dataclass
class FileMapping:
    """What a person corrected in a mapping file: columns → fields, values → choices."""

    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class ImportRow:
    file: str
    row: int  # 1-based row in the file
    values: dict[str, Any]  # field key → raw value
    outcome: str = ""  # new, existing, duplicate_in_file, imported_before, held
    record_id: str = ""
    note: str = ""  # why: the matched record, the reason
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""


@dataclass
class ImportPlan:
    sheet: SheetConfig
    mappings: dict[str, list[ColumnMatch]]  # file → its columns
    rows: list[ImportRow]
    values: dict[str, list[ValueMatch]] = field(default_factory=dict)  # file → its choice values

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)


# -- reading ------------------------------------------------------------------------------------
def read_file(
    path: Path, sheet: SheetConfig, config: Config, sheet_name: str | None = None
) -> SourceFile:
    """The header row and the data rows of a spreadsheet or CSV file."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    if suffix == ".csv" or suffix == ".txt":
        encoding, grid = _read_csv(path)
        name = ""
    elif suffix in SPREADSHEETS:
        name, grid = _read_spreadsheet(path, sheet_name)
        encoding = ""
    else:
        raise ImportFileError(f"{path}: expected .xlsx, .xls, .ods or .csv")
    known = _known_names(sheet, config)
    best, score = 0, -1
    for i, row in enumerate(grid[:HEADER_SCAN]):
        hits = sum(1 for v in row if fold_label(display(v)) in known)
        filled = sum(1 for v in row if display(v).strip())
        if (hits, filled >= 2) > (score, False) and filled >= 2:
            best, score = i, hits
    if score < 0:
        raise ImportFileError(f"{path}{' (' + name + ')' if name else ''}: no header row in the first "
                           f"{HEADER_SCAN} rows (a row with at least two column names)")  # fmt: skip
    headers = [display(v).strip() for v in grid[best]]
    rows = [list(r) for r in grid[best + 1 :]]
    return SourceFile(path, name, encoding, best + 1, headers, rows)


def _read_csv(path: Path) -> tuple[str, list[list[str]]]:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "gb18030"]
    for encoding in candidates:
        try:
            decoded = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError(
            f"{path}: not UTF-8, UTF-16 or GBK/GB18030 text; save it as CSV UTF-8"
        )
    sample = decoded[:20_000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    grid = [row for row in csv.reader(io.StringIO(decoded), dialect)]
    return encoding, grid


def _read_spreadsheet(path: Path, sheet_name: str | None) -> tuple[str, list[list[Any]]]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            names = wb.sheet_names
            if sheet_name is not None and sheet_name not in names:
                raise ImportFileError(f"{path} has no sheet {sheet_name!r}; its sheets are: "
                                   + "、".join(names))  # fmt: skip
            name = sheet_name or next(
                (n for n in names if wb.get_sheet_by_name(n).height > 1), names[0])  # fmt: skip
            return name, wb.get_sheet_by_name(name).to_python()
    except CalamineError as e:
        raise ImportFileError(f"{path} cannot be read: {e}") from None


def _known_names(sheet: SheetConfig, config: Config) -> set[str]:
    names = {fold_label(f.label) for f in sheet.fields} | {fold_label(f.key) for f in sheet.fields}
    for words in config.import_.synonyms.values():
        names |= {fold_label(w) for w in words}
    return names


# -- mapping ------------------------------------------------------------------------------------
def auto_map(headers: list[str], sheet: SheetConfig, config: Config) -> list[ColumnMatch]:
    """Each header's field and how sure the match is; a field takes one column, the surest."""
    exact: dict[str, tuple[str, str]] = {}
    for f in sheet.fields:
        exact[fold_label(f.label)] = (f.key, "label")
        exact.setdefault(fold_label(f.key), (f.key, "key"))
    synonyms = {fold_label(w): k for k, words in config.import_.synonyms.items() for w in words}
    choices = {**{name: key for name, (key, _) in exact.items()}, **synonyms}
    candidates: list[tuple[float, int, str, str]] = []  # confidence, column, field, how
    for i, h in enumerate(headers):
        folded = fold_label(h)
        if not folded:
            continue
        if folded in exact:
            candidates.append((1.0, i, exact[folded][0], exact[folded][1]))
        elif folded in synonyms:
            candidates.append((0.95, i, synonyms[folded], "synonym"))
        else:
            hit = process.extractOne(folded, list(choices), scorer=fuzz.WRatio,
                                     score_cutoff=config.import_.min_score)  # fmt: skip
            if hit is not None:
                candidates.append((round(hit[1] / 100 * 0.9, 2), i, choices[hit[0]], "fuzzy"))
    taken: dict[str, int] = {}
    chosen: dict[int, tuple[str, float, str]] = {}
    for conf, i, key, how in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if key in taken or i in chosen:
            continue
        taken[key] = i
        chosen[i] = (key, conf, how)
    out = []
    for i, h in enumerate(headers):
        if not h.strip():
            continue
        matched, conf, how = chosen.get(i, (None, 0.0, "none"))
        out.append(ColumnMatch(h, matched, conf, how))
    return out


def save_mapping(path: Path, mappings: dict[str, list[ColumnMatch]], sheet: SheetConfig,
                 values: dict[str, list[ValueMatch]] | None = None) -> Path:  # fmt: skip
    """A TOML file a person can correct: one [[file]] each, `"header" = "field_key"` ("" = none),
    and under [file.values.<field>] each choice value the file wrote, `"展会" = "展会推荐"`."""
    labels = {f.key: f.label for f in sheet.fields}
    lines = ["# sheetcrm import mapping: source column = field key (\"\" = not imported;",
             "# unmatched columns go to the notes field if one is configured).",
             f"# fields of {sheet.name}: " + ", ".join(f"{k} ({v})" for k, v in labels.items()), ""]  # fmt: skip
    for name, matches in mappings.items():
        lines += ["[[file]]", f"name = {_toml(name)}", "[file.columns]"]
        for m in matches:
            note = (
                f"  # {labels[m.field]}, {m.how} {m.confidence:.2f}" if m.field else "  # no match"
            )
            lines.append(f"{_toml(m.column)} = {_toml(m.field or '')}{note}")
        by_field: dict[str, list[ValueMatch]] = {}
        for v in (values or {}).get(name, []):
            by_field.setdefault(v.field, []).append(v)
        for key, found in by_field.items():
            lines += ["", f"[file.values.{key}]  # {labels[key]}: what the file wrote = the choice"]
            for v in found:
                guess = (
                    ": a guess, applied when this file is passed with --map"
                    if v.how == "fuzzy"
                    else ""
                )
                lines.append(f"{_toml(v.said)} = {_toml(v.choice or '')}  # {v.how} "
                             f"{v.confidence:.2f}{guess}")  # fmt: skip
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def load_mapping(path: Path, sheet: SheetConfig) -> dict[str, FileMapping]:
    """{file name: its columns and values} from a mapping file; unknown fields are refused."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ImportFileError(f"{path}: cannot read the mapping: {e}") from None
    keys = {f.key for f in sheet.fields}
    out: dict[str, FileMapping] = {}
    for i, entry in enumerate(data.get("file", [])):
        columns = {str(k): str(v) for k, v in entry.get("columns", {}).items()}
        for column, key in columns.items():
            if key and key not in keys:
                raise ImportFileError(f"{path}: file[{i}].columns.{column!r} = {key!r} is not a field "
                                   f"of {sheet.name}; expected one of {', '.join(sorted(keys))}")  # fmt: skip
        values: dict[str, dict[str, str]] = {}
        for key, said in entry.get("values", {}).items():
            if key not in keys:
                raise ImportFileError(
                    f"{path}: file[{i}].values.{key} is not a field of {sheet.name}"
                )
            f = sheet.field(key)
            for word, choice in said.items():
                if choice and choice not in (f.choices or []):
                    raise ImportFileError(f"{path}: file[{i}].values.{key}.{word!r} = {choice!r} is "
                                       f"not a choice of {f.label}: {'、'.join(f.choices or [])}")  # fmt: skip
            values[key] = {str(w): str(c) for w, c in said.items()}
        out[str(entry.get("name", ""))] = FileMapping(columns, values)
    return out


def map_values(rows: list[dict[str, Any]], sheet: SheetConfig, config: Config,
               given: dict[str, dict[str, str]] | None = None) -> list[ValueMatch]:  # fmt: skip
    """Each distinct value a file wrote in a choice field that is no choice (the check already takes
    a choice typed in other case or width), and the choice it becomes: a mapping file's
    correction, an [import.values] synonym. Else the closest choice (rapidfuzz,
    at least [import] min_score) is only a guess, shown with its confidence and written into the
    mapping file: it is applied once a person passes that file back with --map (非企业客户 is
    close to 企业客户 and means the opposite)."""
    out: list[ValueMatch] = []
    for f in sheet.fields:
        if f.type not in CHOICE_TYPES or not f.choices:
            continue
        seen: dict[str, None] = {}
        for values in rows:
            raw = display(values.get(f.key, "")).strip()
            parts = SPLIT_CHOICES.split(raw) if f.type is FieldType.multi_choice else [raw]
            seen.update((p.strip(), None) for p in parts if p.strip())
        synonyms = {fold_label(k): v for k, v in config.import_.values.get(f.key, {}).items()}
        corrected = (given or {}).get(f.key, {})
        folded = {fold_label(c): c for c in f.choices}
        for said in seen:
            if fold_label(said) in folded:  # a choice as typed: the check's coercion takes it
                continue
            if said in corrected:
                out.append(ValueMatch(f.key, said, corrected[said] or None, 1.0, "map"))
            elif fold_label(said) in synonyms:
                out.append(ValueMatch(f.key, said, synonyms[fold_label(said)], 0.95, "synonym"))
            else:
                hit = process.extractOne(fold_label(said), list(folded), scorer=fuzz.WRatio,
                                         score_cutoff=config.import_.min_score)  # fmt: skip
                if hit is None:
                    out.append(ValueMatch(f.key, said, None, 0.0, "none"))
                else:
                    out.append(ValueMatch(f.key, said, folded[hit[0]], round(hit[1] / 100 * 0.9, 2),
                                          "fuzzy"))  # fmt: skip
    return out


def _mapped(value: Any, f: Field, to: dict[str, str]) -> Any:
    """A cell's value with its choices mapped (each part of a multi-choice)."""
    raw = display(value).strip()
    if f.type is FieldType.multi_choice:
        parts = [p.strip() for p in SPLIT_CHOICES.split(raw) if p.strip()]
        return "、".join(to.get(p, p) for p in parts)
    return to.get(raw, value)


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- planning -----------------------------------------------------------------------------------
def plan_import(files: list[SourceFile], table: Table, config: Config, store: Store | None, *,
                now: datetime, mapping: dict[str, FileMapping] | None = None,
                strict: bool = False, defaults: dict[str, str] | None = None) -> ImportPlan:  # fmt: skip
    """What importing these files would do; nothing is written. Choice values are mapped
    (map_values); a field the file leaves empty gets [import.defaults] or `defaults` (负责人 = the
    manager importing), so legacy rows do not each carry the same 必填 problems."""
    sheet = config.sheet(config.import_.sheet)
    notes_key = config.import_.notes_field
    fill = {**config.import_.defaults, **(defaults or {})}
    fields = {f.key: f for f in sheet.fields}
    mappings: dict[str, list[ColumnMatch]] = {}
    value_maps: dict[str, list[ValueMatch]] = {}
    rows: list[ImportRow] = []
    for f in files:
        matches = auto_map(f.headers, sheet, config)
        given = (mapping or {}).get(f.path.name)
        if given is not None:
            cols = given.columns
            matches = [ColumnMatch(h, cols.get(h) or None, 1.0 if cols.get(h) else 0.0, "map")
                       for h in f.headers if h.strip()]  # fmt: skip
        mappings[f.path.name] = matches
        first = len(rows)
        where = {m.column: m.field for m in matches if m.field}
        index = {h: i for i, h in enumerate(f.headers) if h.strip()}
        for n, raw in enumerate(f.rows):
            cells = {h: (raw[i] if i < len(raw) else "") for h, i in index.items()}
            if not any(display(v).strip() for v in cells.values()):
                continue
            values = {where[h]: v for h, v in cells.items() if where.get(h) and display(v).strip()}
            extra = [f"{h}: {display(v).strip()}" for h, v in cells.items()
                     if not where.get(h) and display(v).strip()]  # fmt: skip
            if extra and notes_key and notes_key != sheet.id_field:
                kept = display(values.get(notes_key, "")).strip()
                values[notes_key] = "；".join([kept, *extra] if kept else extra)
            values.pop(sheet.id_field, None)  # IDs are sheetcrm's to give
            rows.append(ImportRow(f.path.name, f.header_row + 1 + n, values,
                                  fingerprint=_fingerprint(values)))  # fmt: skip
        mine = rows[first:]
        found = map_values([r.values for r in mine], sheet, config,
                           given.values if given is not None else None)  # fmt: skip
        value_maps[f.path.name] = found
        to: dict[str, dict[str, str]] = {}
        for v in found:
            if v.choice and v.how != "fuzzy":  # a guess waits for a person (the mapping file)
                to.setdefault(v.field, {})[v.said] = v.choice
        for r in mine:  # the fingerprint stays that of the file's own values: a re-import is known
            for key, mapped in to.items():
                if key in r.values:
                    r.values[key] = _mapped(r.values[key], fields[key], mapped)
            for key, value in fill.items():  # a row with nothing of its own stays held back
                if r.values and key in fields and not display(r.values.get(key, "")).strip():
                    r.values[key] = value
    plan = ImportPlan(sheet, mappings, rows, value_maps)
    if not rows:
        return plan
    before = store.imported([r.fingerprint for r in rows]) if store is not None else {}
    fresh = []
    for r in rows:
        if r.fingerprint in before:
            r.outcome, r.record_id = "imported_before", before[r.fingerprint]
        elif not r.values:
            r.outcome, r.problems = "held", [text(config.locale, "import.no_fields")]
        else:
            fresh.append(r)
    if not fresh:
        return plan
    frame = pd.DataFrame([{f.key: r.values.get(f.key) for f in sheet.fields} for r in fresh],
                         index=range(1, len(fresh) + 1), dtype=object)  # fmt: skip
    new_table = build_table(sheet, iter([[f.label for f in sheet.fields]]
                                        + frame.fillna("").to_numpy().tolist()))  # fmt: skip
    checked = check_table(new_table, sheet, config, now=now)
    problems = checked.problems.groupby("row")["message"].agg(list).to_dict() \
        if len(checked.problems) else {}  # fmt: skip
    existing = check_table(table, sheet, config, now=now).typed
    matched = match_existing(checked.typed, existing, table.ids, sheet)
    ok_rows = list(new_table.frame.index)
    date_fields = {f.key: checked.typed[f.key].to_dict() for f in sheet.fields
                   if str(f.type) == "date" and f.key in checked.typed}  # fmt: skip
    for r, sheet_row, (existing_id, reason, same_as) in zip(
        fresh, ok_rows, matched.itertuples(index=False), strict=True
    ):
        r.problems = problems.get(sheet_row, [])
        for key, typed_dates in date_fields.items():  # a date typed as text is written as a date
            typed_value = typed_dates.get(sheet_row)
            if isinstance(typed_value, date) and key in r.values:
                r.values[key] = typed_value
        if existing_id:
            r.outcome, r.record_id, r.note = "existing", existing_id, reason
        elif same_as >= 0:
            first = fresh[same_as]
            r.outcome, r.note = "duplicate_in_file", f"{first.file} 第{first.row}行 {reason}"
        elif strict and r.problems:
            r.outcome = "held"
        else:
            r.outcome = "new"
    issued = list(store.snapshot(sheet.key).hashes.index) if store is not None else []
    next_id = next_id_number(table, sheet, issued)  # never an ID the store has seen
    for r in fresh:
        if r.outcome == "new":
            r.record_id = sheet.id_for(next_id)
            next_id += 1
    return plan


def _fingerprint(values: dict[str, Any]) -> str:
    text_ = "\x1f".join(f"{k}={canonical(v)}" for k, v in sorted(values.items()))
    return hashlib.sha256(text_.encode()).hexdigest()


# -- applying -----------------------------------------------------------------------------------
def apply_import(plan: ImportPlan, source: Any, config: Config, store: Store | None, *,
                 now: datetime, fingerprint: str | None) -> int:  # fmt: skip
    """Append the new rows (with ✓/✗ and their problems) in one safe write, then remember their
    fingerprints. Returns the number of rows appended."""
    new = [r for r in plan.rows if r.outcome == "new"]
    if not new:
        return 0
    sheet = plan.sheet
    ok, bad = text(config.locale, "status.ok"), text(config.locale, "status.problem")
    status = {str(s.key) for s in sheet.status}
    rows = []
    for r in new:
        values = {k: v for k, v in r.values.items()}
        values[sheet.id_field] = r.record_id
        if "validation" in status:
            values["validation"] = bad if r.problems else ok
        if "problems" in status:
            values["problems"] = "；".join(r.problems)
        if "last_checked" in status:
            values["last_checked"] = f"{now:%Y-%m-%d %H:%M}"  # as the nightly run writes it
        rows.append(values)
    written = source.write_statuses({sheet.key: StatusPatch(append=rows)}, fingerprint=fingerprint,
                                    now=now)  # fmt: skip
    if store is not None:
        store.record_imports(sheet.key, [(r.fingerprint, r.record_id, f"{r.file}:{r.row}")
                                         for r in new], now=now)  # fmt: skip
    return written[sheet.key].rows_appended


OUTCOMES = {
    "zh_CN": {"new": "已导入（新客户）", "existing": "已存在，未导入", "duplicate_in_file": "文件内重复，未导入",
              "imported_before": "之前已导入", "held": "有问题，暂缓导入"},
    "en": {"new": "imported (new)", "existing": "already a customer, not imported",
           "duplicate_in_file": "repeated in the files, not imported",
           "imported_before": "imported before", "held": "held back (problems)"},
}  # fmt: skip


def write_import_report(plan: ImportPlan, config: Config, out: Path) -> Path:
    """The import report (like 导出校验错误清单): every row's outcome, record and problems, and the
    column mapping, so someone can fix the file and import it again."""
    from .output import write_cell, xlsx_book

    zh = config.locale == "zh_CN"
    names = OUTCOMES[config.locale]
    with xlsx_book(out) as book:
        bold = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
        name_col = (
            "name" if any(f.key == "name" for f in plan.sheet.fields) else plan.sheet.id_field
        )
        ws = book.add_worksheet("导入结果" if zh else "Rows")
        head = (["文件", "行号", "结果", "客户ID", "客户名称", "说明", "问题"] if zh else
                ["File", "Row", "Outcome", "Record", "Name", "Note", "Problems"])  # fmt: skip
        ws.write_row(0, 0, head, bold)
        for i, r in enumerate(plan.rows, start=1):
            for c, v in enumerate([r.file, r.row, names.get(r.outcome, r.outcome), r.record_id,
                                   display(r.values.get(name_col, "")), r.note, "；".join(r.problems)]):  # fmt: skip
                write_cell(ws, i, c, v)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(plan.rows), 1), len(head) - 1)
        for c, w in enumerate((18, 7, 18, 10, 28, 30, 60)):
            ws.set_column(c, c, w)
        mws = book.add_worksheet("列对应" if zh else "Columns")
        mhead = (
            ["文件", "源列名", "字段", "匹配方式", "可信度"]
            if zh
            else ["File", "Column", "Field", "How", "Confidence"]
        )
        mws.write_row(0, 0, mhead, bold)
        labels = {f.key: f.label for f in plan.sheet.fields}
        row = 1
        for name, matches in plan.mappings.items():
            for m in matches:
                mws.write_row(row, 0, [name, m.column, labels.get(m.field or "", ""),
                                       how_matched(config.locale, m.how, column=True)])  # fmt: skip
                mws.write_number(row, 4, m.confidence)
                row += 1
        for c, w in enumerate((18, 18, 18, 10, 8)):
            mws.set_column(c, c, w)
        vws = book.add_worksheet("选项对应" if zh else "Choice values")
        vws.write_row(0, 0, ["文件", "字段", "文件里写的", "对应选项", "匹配方式", "可信度"] if zh
                      else ["File", "Field", "In the file", "Choice", "How", "Confidence"], bold)  # fmt: skip
        row = 1
        for name, found in plan.values.items():
            for v in found:
                vws.write_row(row, 0, [name, labels.get(v.field, v.field), v.said, v.choice or "",
                                       how_matched(config.locale, v.how)])  # fmt: skip
                vws.write_number(row, 5, v.confidence)
                row += 1
        for c, w in enumerate((18, 14, 18, 18, 10, 8)):
            vws.set_column(c, c, w)
    return out
