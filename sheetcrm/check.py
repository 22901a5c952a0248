"""The check: every row typed and validated against the fields in config.toml.

Two passes. Coercion (`fields.py`) types each value and reports what cannot be typed (a phone with 7
digits, 2024年2月30日). Then a pandera schema generated from the field list validates the typed frame
lazily, so every rule's failures on every row are collected in one pass: required, required-if, ranges,
length, pattern, not-before-today, uniqueness and references to other sheets. Each failure becomes a
problem with a message in the configured locale that names the field and what is expected.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from typing import Any

import pandas as pd

from .config import Config, Field, FieldType, SheetConfig
from .expr import Env
from .fields import Bad, coerce_column, parser_for
from .messages import problem_message
from .table import PROBLEM_COLUMNS, CheckResult, Table
from .text import display

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandera.pandas as pa


def check_workbook(
    tables: dict[str, Table], config: Config, *, now: datetime
) -> dict[str, CheckResult]:
    """Check every table read; references between sheets use the IDs of the tables given."""
    known_ids = {key: set(t.ids[t.ids != ""]) for key, t in tables.items()}
    return {key: check_table(t, config.sheet(key), config, now=now, known_ids=known_ids)
            for key, t in tables.items()}  # fmt: skip


def check_table(
    table: Table,
    sheet: SheetConfig,
    config: Config,
    *,
    now: datetime,
    known_ids: dict[str, set[str]] | None = None,
) -> CheckResult:
    """Return the typed frame and every problem of one sheet."""
    today = now.date()
    typed = pd.DataFrame(index=table.frame.index)
    bad: dict[str, pd.Series] = {}
    found: list[tuple[pd.Index, str, str, pd.Series]] = []  # rows, field key, code, shown values
    for f in sheet.fields:
        if f.key not in table.frame:
            continue
        values, problems = coerce_column(table.frame[f.key], parser_for(f, config))
        typed[f.key] = values
        is_bad = problems.notna()
        bad[f.key] = is_bad
        if is_bad.any():
            hits = problems[is_bad]
            for code in {b.code for b in hits}:
                sel = hits[hits.map(lambda b, c=code: b.code == c)]
                found.append((sel.index, f.key, code, sel.map(lambda b: b.shown)))
    schema = _schema(sheet, config, typed, bad, today, known_ids or {})
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        cases = cases[cases["index"].notna()]
        for check_name, group in cases.groupby("check"):
            code, key = str(check_name).split("|", 1)
            rows = pd.Index(group["index"].astype(int).unique())
            shown = typed.loc[rows, key].map(display)
            found.append((rows, key, code, shown))
    return CheckResult(sheet.key, sheet.name, typed, _problem_frame(found, table, sheet, config))


def _schema(sheet: SheetConfig, config: Config, typed: pd.DataFrame, bad: dict[str, pd.Series],
            today: date, known_ids: dict[str, set[str]]) -> pa.DataFrameSchema:  # fmt: skip
    """Return the pandera schema for this sheet; check names are "code|field key"."""
    columns: dict[str, pa.Column] = {}
    for f in sheet.fields:
        if f.key not in typed:
            continue
        checks = _field_checks(f, sheet, typed, bad[f.key], today, known_ids)
        columns[f.key] = pa.Column(object, checks=checks, nullable=True, required=False)
    return pa.DataFrameSchema(columns, strict=False)


def _field_checks(f: Field, sheet: SheetConfig, typed: pd.DataFrame, is_bad: pd.Series, today: date,
                  known_ids: dict[str, set[str]]) -> list[pa.Check]:  # fmt: skip
    def check(code: str, fn: Any, *, na: bool = True) -> pa.Check:
        return pa.Check(fn, name=f"{code}|{f.key}", ignore_na=na)

    present = lambda s: s.notna() | is_bad  # noqa: E731 - a value that failed typing is not missing
    checks: list[pa.Check] = []
    if f.required:
        checks.append(check("required", present, na=False))
    if f.required_if:
        when = datetime.combine(today, datetime.min.time())
        condition = sheet.condition(f.required_if)(Env(typed, sheet.kinds(), when))
        checks.append(check("required_if", lambda s: ~condition | present(s), na=False))
    lo, hi = f.bounds
    if f.type in (FieldType.number, FieldType.money, FieldType.rating):
        if lo is not None or hi is not None:
            lo_, hi_ = -float("inf") if lo is None else lo, float("inf") if hi is None else hi
            checks.append(check("out_of_range", lambda s: s.astype(float).between(lo_, hi_)))
        if f.type is FieldType.rating:
            checks.append(check("out_of_range", lambda s: s.astype(float) % 1 == 0))
    if f.max_length:
        n = f.max_length
        checks.append(check("too_long", lambda s: s.astype(str).str.len() <= n))
    if f.pattern:
        pattern = f.pattern
        checks.append(check("pattern_mismatch", lambda s: s.astype(str).str.fullmatch(pattern)))
    if f.not_before_today:
        checks.append(check("date_in_past", lambda s: s.map(lambda d: d >= today)))
    if f.key == sheet.id_field:  # a copied row: both rows are wrong until one gets its own ID
        checks.append(check("duplicate_id", lambda s: ~s.duplicated(keep=False)))
    elif f.unique:
        checks.append(check("not_unique", lambda s: ~s.duplicated(keep="first")))
    if f.references:
        ids = known_ids.get(f.references)
        if ids is not None:
            checks.append(check("unknown_reference", lambda s: s.isin(ids)))
    return checks


def _problem_frame(found: list[tuple[pd.Index, str, str, pd.Series]], table: Table,
                   sheet: SheetConfig, config: Config) -> pd.DataFrame:  # fmt: skip
    if not found:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    order = {f.key: i for i, f in enumerate(sheet.fields)}
    parts = []
    for rows, key, code, shown in found:
        f = sheet.field(key)
        part = pd.DataFrame({"row": rows.astype(int), "field": key, "label": f.label, "code": code,
                             "value": shown.reindex(rows).astype(str).to_numpy()})  # fmt: skip
        rows_of = {}
        if code == "duplicate_id":  # each row names all the rows that carry its ID
            rows_of = {v: "、".join(map(str, sorted(r))) for v, r in part.groupby("value")["row"]}
        roles = {p.name: str(p.role) for p in config.people} if code == "wrong_role" else {}
        names = {s.key: s.name for s in config.sheets}
        condition = sheet.phrase(f.required_if, config.locale) if f.required_if else ""
        part["message"] = [
            problem_message(config.locale, code, f, value, rows=rows_of.get(value, ""),
                            person_role=roles.get(value, ""), sheet_names=names,
                            condition=condition)
            for value in part["value"]
        ]  # fmt: skip
        parts.append(part)
    problems = pd.concat(parts, ignore_index=True)
    problems["record_id"] = table.ids.reindex(problems["row"]).to_numpy()
    problems["_order"] = problems["field"].map(order)
    problems = problems.sort_values(["row", "_order"], kind="stable").drop(columns="_order")
    return problems[PROBLEM_COLUMNS].reset_index(drop=True)


__all__ = ["Bad", "check_table", "check_workbook"]
