"""The report managers open on Monday: KPIs against the previous period, where customers come from,
who sells what, the funnel, how fast people follow up, and the state of the data.

`build_report` computes every table from the checked sheets and the state store (its runs, stage
and assignment events, and reminders), without writing anything; `write_report` lays the tables out
as formatted Excel tables, each with a native Excel chart (xlsxwriter), and `write_csv` writes each
table as UTF-8 CSV with a BOM (so Excel shows Chinese) and with text that would start a formula
escaped. `viewer` limits everything to what a person may see: a sales rep their own customers, a
manager their team's, a director or admin everything.

The period is the last complete week (Monday to Sunday), month or quarter before `now`; the previous
period is the one before it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, ReportSettings
from .errors import ConfigError
from .expr import to_datetime64
from .messages import labels, problem_kind
from .output import print_setup, write_cell, write_csv_rows, xlsx_book
from .permissions import visible_owners
from .store import Store
from .table import CheckResult
from .text import display_column, text_width

PERIODS = ("week", "month", "quarter")
TREND_SERIES = 8  # field/problem lines in the trend chart; the rest are in the total


# -- shapes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    kind: str  # pie, bar, column, line
    values: tuple[int, ...]  # columns of the table plotted as series
    categories: int = 0
    title: str = ""


@dataclass
class ReportTable:
    key: str  # a stable, file-name-safe name (CSV files, tests)
    title: str
    columns: list[str]
    formats: list[str]  # per column: text, int, money, pct, days, date
    rows: list[list[Any]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    row_formats: list[str] | None = None  # for columns whose format is "row": one per row

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # exclusive
    previous_start: date

    @property
    def previous_end(self) -> date:
        return self.start


@dataclass
class Report:
    period: Period
    viewer: str | None
    sheets: dict[str, list[ReportTable]]  # sheet key → its tables, in order
    titles: dict[str, str]  # sheet key → the tab's name
    subtitle: str

    def table(self, key: str) -> ReportTable:
        for tables in self.sheets.values():
            for t in tables:
                if t.key == key:
                    return t
        raise KeyError(key)


# -- periods and viewers --------------------------------------------------------------------------
def period_of(kind: str, now: datetime) -> Period:
    """The last complete week/month/quarter before `now`, and the one before it."""
    today = now.date()
    if kind == "week":
        end = today - timedelta(days=today.weekday())
        return Period(kind, end - timedelta(days=7), end, end - timedelta(days=14))
    if kind == "month":
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
        return Period(kind, start, end, (start - timedelta(days=1)).replace(day=1))
    if kind == "quarter":
        end = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        start = _months_back(end, 3)
        return Period(kind, start, end, _months_back(start, 3))
    raise ValueError(f"period {kind!r}: expected one of {', '.join(PERIODS)}")


def _months_back(d: date, n: int) -> date:
    m = d.year * 12 + d.month - 1 - n
    return date(m // 12, m % 12 + 1, 1)


# -- building -----------------------------------------------------------------------------------
def build_report(results: dict[str, CheckResult], duplicate_of: pd.Series | None, config: Config,
                 store: Store | None, *, now: datetime, period: str = "week",
                 viewer: str | None = None, duplicate_reason: pd.Series | None = None,
                 ) -> Report:  # fmt: skip
    """Every table of the report, computed from the checked sheets and the store; writes nothing.

    `duplicate_of`, `duplicate_reason`: the report sheet's 重复客户 and 重复原因 statuses by row
    (as the nightly run wrote them; without a 重复原因 column the reason follows the ID)."""
    settings = config.report
    if settings is None:
        raise ConfigError("config.toml has no [report] section; see the README for one")
    lab = labels(config.locale, "report.label.")
    p = period_of(period, now)
    owners = visible_owners(config, viewer)
    data = _Data(results, config, settings, owners, duplicate_of, duplicate_reason)
    store = store or Store("sqlite://")
    subtitle = lab["period"].format(start=p.start, end=p.end - timedelta(days=1),
                                    pstart=p.previous_start, pend=p.previous_end - timedelta(days=1))  # fmt: skip
    if viewer:
        subtitle += "；" + lab["for"].format(name=viewer)
    sheets = {
        "overview": [_kpis(data, store, p, lab)],
        "customers": [_breakdown(data, key, lab) for key in settings.breakdowns],
        "sales": [_by_owner(data, p, config, lab), _by_month(data, p, lab)],
        "funnel": [*_funnel(data, store, config, lab)],
        "followup": [*_followup(data, store, p, now, lab)],
        "quality": [*_quality(data, store, owners, lab)],
        "errors": [_errors(data, lab)],
        "duplicates": [_duplicates(data, lab)],
    }
    return Report(p, viewer, sheets, {k: lab[k] for k in sheets}, subtitle)


class _Data:
    """The typed columns the report needs, filtered to what the viewer may see."""

    def __init__(self, results: dict[str, CheckResult], config: Config, s: ReportSettings,
                 owners: set[str] | None, duplicate_of: pd.Series | None,
                 duplicate_reason: pd.Series | None = None) -> None:  # fmt: skip
        self.config, self.s = config, s
        sheet = config.sheet(s.sheet)
        self.sheet = sheet
        c = results[s.sheet].typed
        self.owner_key = config.owner_field(s.sheet) or ""
        owner = c[self.owner_key].fillna("").astype(str)
        keep = owner.isin(owners) if owners is not None else pd.Series(True, index=c.index)
        self.c = c[keep]
        self.owner = owner[keep]
        self.ids = self.c[sheet.id_field].fillna("").astype(str)
        self.stage = self.c[sheet.stage_field].fillna("").astype(str)
        self.created = to_datetime64(self.c[s.created])
        self.deal_date = to_datetime64(self.c[s.deal_date])
        self.amount = pd.to_numeric(self.c[s.deal_amount], errors="coerce")
        self.won = self.stage.isin(s.won_stages)
        link = config.rules.followups
        if link is not None and link.sheet in results:
            f = results[link.sheet].typed
            cust = f[link.key].fillna("").astype(str)
            visible = cust.isin(set(self.ids))
            self.f_customer = cust[visible]
            self.f_date = to_datetime64(f[link.date])[visible]
            by = f[s.followup_by] if s.followup_by else pd.Series("", index=f.index)
            self.f_by = by.fillna("").astype(str)[visible]
        else:
            self.f_customer = self.f_by = pd.Series([], dtype=object)
            self.f_date = pd.Series([], dtype="datetime64[ns]")
        visible_rows = {s.sheet: set(self.c.index)}
        if link is not None:
            visible_rows[link.sheet] = set(self.f_customer.index)
        self.problems: dict[str, tuple[str, pd.DataFrame]] = {}
        for key, r in results.items():
            pr = r.problems
            if owners is not None:  # the viewer's customers, and the rows about them
                pr = pr[pr["row"].isin(visible_rows.get(key, set()))]
            self.problems[key] = (r.sheet_name, pr)
        self.rows_total = len(self.c)
        self.duplicate_of, self.duplicate_reason = (
            display_column(s.reindex(self.c.index)) if s is not None
            else pd.Series("", index=self.c.index, dtype=object)
            for s in (duplicate_of, duplicate_reason)
        )  # fmt: skip
        self.names = self.c["name"].fillna("").astype(str) if "name" in self.c else self.ids

    @cached_property
    def first_followup(self) -> pd.Series:
        """Each customer's first follow-up date (by customer ID)."""
        return self.f_date.groupby(self.f_customer).min()

    def response_days(self, start: date, end: date) -> pd.Series:
        """Days from first contact to first follow-up of the customers new in [start, end)."""
        new = _in(self.created, start, end)
        ids = self.ids[new]  # NaT where a customer has no follow-up (or there is no such sheet)
        first = pd.Series(pd.to_datetime(self.first_followup.reindex(ids.to_numpy())).to_numpy(),
                          index=ids.index)  # fmt: skip
        days = (first - self.created[new]).dt.days.dropna()
        return days[days >= 0].astype(float)


def _in(dates: pd.Series, start: date, end: date) -> pd.Series:
    return (dates >= pd.Timestamp(start)) & (dates < pd.Timestamp(end))


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _kpis(d: _Data, store: Store, p: Period, lab: dict[str, str]) -> ReportTable:
    def figures(start: date, end: date) -> list[Any]:
        new = int(_in(d.created, start, end).sum())
        follow = int(_in(d.f_date, start, end).sum())
        deals_mask = d.won & _in(d.deal_date, start, end)
        deals = int(deals_mask.sum())
        amount = float(d.amount[deals_mask].sum())
        gaps = d.response_days(start, end)
        return [
            new,
            follow,
            deals,
            amount,
            _ratio(deals, new),
            float(gaps.mean()) if len(gaps) else None,
        ]

    this, prev = figures(p.start, p.end), figures(p.previous_start, p.previous_end)
    rows_with_problems = d.problems[d.s.sheet][1]["row"].nunique()
    share_now = _ratio(rows_with_problems, d.rows_total)
    share_then = _stored_problem_share(store, d.s.sheet, p.start)
    names = ["new_customers", "followups", "deals", "deal_amount", "conversion", "first_response",
             "problem_share"]  # fmt: skip
    formats = ["int", "int", "int", "money", "pct", "days", "pct"]
    rows = []
    for name, fmt, a, b in zip(
        names, formats, [*this, share_now], [*prev, share_then], strict=True
    ):
        if a is None or b is None:
            change = None
        elif fmt == "pct":  # rates change in percentage points
            change = a - b
        else:
            change = _ratio(a - b, b)
        rows.append([lab[name], a, b, change, fmt])
    return ReportTable("kpis", lab["kpis"], [lab["kpi"], lab["this"], lab["previous"], lab["change"]],
                       ["text", "row", "row", "pct"], [r[:4] for r in rows],
                       row_formats=[r[4] for r in rows])  # fmt: skip


def _stored_problem_share(store: Store, sheet: str, before: date) -> float | None:
    """The share of rows with problems at the last check before `before`, from the stored runs."""
    for run in _check_runs(store):
        if run["started"] < datetime.combine(before, datetime.min.time()):
            info = json.loads(run["counts"] or "{}").get(sheet) or {}
            return _ratio(info.get("rows_with_problems", 0), info.get("rows", 0))
    return None


def _check_runs(store: Store) -> list[dict[str, Any]]:
    """Successful runs that checked the sheets (whatever the job is called: nightly, check, one a
    team wrote), newest first: those whose counts hold a sheet's data-quality figures."""
    runs = [r for r in store.runs(limit=100_000) if r["outcome"] == "ok" and _checked(r)]
    return sorted(runs, key=lambda r: r["started"], reverse=True)


def _checked(run: dict[str, Any]) -> bool:
    counts = json.loads(run["counts"] or "{}")
    return any(isinstance(v, dict) and "rows_with_problems" in v for v in counts.values())


def _breakdown(d: _Data, key: str, lab: dict[str, str]) -> ReportTable:
    f = d.sheet.field(key)
    values = d.c[key].fillna("").astype(str).replace("", lab["empty"])
    counts = values.value_counts()
    order = [c for c in (f.choices or []) if c in counts.index]
    order += sorted(c for c in counts.index if c not in order and c != lab["empty"])
    order += [lab["empty"]] if lab["empty"] in counts.index else []
    total = int(counts.sum())
    rows = [[v, int(counts[v]), _ratio(int(counts[v]), total)] for v in order]
    title = f.label
    kind = "pie" if len(rows) <= 6 else "bar"
    return ReportTable(f"by_{key}", title, [title, lab["count"], lab["share"]], ["text", "int", "pct"],
                       rows, [Chart(kind, (1,), 0, title)])  # fmt: skip


def _by_owner(d: _Data, p: Period, config: Config, lab: dict[str, str]) -> ReportTable:
    teams = {x.name: x.team or "" for x in config.people}
    new = _in(d.created, p.start, p.end)
    deals = d.won & _in(d.deal_date, p.start, p.end)
    follow = _in(d.f_date, p.start, p.end)
    by_owner = pd.DataFrame({"owner": d.owner, "new": new, "deals": deals, "won": d.won,
                             "amount": d.amount.where(deals, 0.0)})  # fmt: skip
    g = by_owner.groupby("owner", sort=False).agg(customers=("owner", "size"), new=("new", "sum"),
                                                  deals=("deals", "sum"), won=("won", "sum"),
                                                  amount=("amount", "sum"))  # fmt: skip
    follows = d.f_by[follow].value_counts()
    rows: list[list[Any]] = []
    for owner, r in g.iterrows():
        name = str(owner) or lab["empty"]
        rows.append([name, teams.get(str(owner), ""), int(r["customers"]), int(r["new"]),
                     int(follows.get(owner, 0)), int(r["deals"]), float(r["amount"]),
                     _ratio(int(r["won"]), int(r["customers"]))])  # fmt: skip
    rows.sort(key=lambda r: (-r[6], -r[5], r[0]))
    cols = [lab["owner"], lab["team"], lab["customers_owned"], lab["new"], lab["followups"],
            lab["deals"], lab["deal_amount"], lab["won_rate"]]  # fmt: skip
    return ReportTable("by_owner", lab["by_owner"], cols,
                       ["text", "text", "int", "int", "int", "int", "money", "pct"], rows,
                       [Chart("column", (3, 4, 5), 0, lab["by_owner"]),
                        Chart("column", (6,), 0, lab["deal_amount"])])  # fmt: skip


def _by_month(d: _Data, p: Period, lab: dict[str, str]) -> ReportTable:
    """The twelve months up to the period's end."""
    last = (p.end - timedelta(days=1)).replace(day=1)
    months = [_months_back(last, n) for n in range(11, -1, -1)]
    rows = []
    for m in months:
        end = _months_back(m, -1)
        deals = d.won & _in(d.deal_date, m, end)
        rows.append([f"{m:%Y-%m}", int(_in(d.created, m, end).sum()), int(_in(d.f_date, m, end).sum()),
                     int(deals.sum()), float(d.amount[deals].sum())])  # fmt: skip
    cols = [lab["month"], lab["new_customers"], lab["followups"], lab["deals"], lab["deal_amount"]]
    return ReportTable("by_month", lab["by_month"], cols, ["text", "int", "int", "int", "money"],
                       rows, [Chart("column", (1, 2, 3), 0, lab["by_month"]),
                              Chart("line", (4,), 0, lab["deal_amount"])])  # fmt: skip


def stage_durations(store: Store, sheet: str, stage_field: str) -> pd.DataFrame:
    """Days each record spent in a stage before moving on: from its creation or its previous move
    to the move out (stored events). Columns: record_id, stage, days."""
    ev = store.events_frame(sheet, ["created", "stage"], field=stage_field, records_with="stage")
    ev = ev[(ev["kind"] == "created") | (ev["field"] == stage_field)]
    if ev.empty:
        return pd.DataFrame(columns=["record_id", "stage", "days"])
    ev = ev.sort_values(["record_id", "at"], kind="stable")
    entered = ev.groupby("record_id")["at"].shift(1)
    moves = ev[(ev["kind"] == "stage") & entered.notna()]
    days = (
        pd.to_datetime(moves["at"]) - pd.to_datetime(entered[moves.index])
    ).dt.total_seconds() / 86400
    return pd.DataFrame({"record_id": moves["record_id"], "stage": moves["old"].fillna(""),
                         "days": days})  # fmt: skip


def _funnel(d: _Data, store: Store, config: Config, lab: dict[str, str]) -> list[ReportTable]:
    order, anytime = config.stage_order(d.s.sheet)
    counts = d.stage.value_counts()
    position = d.stage.map({s: i for i, s in enumerate(order)})
    reached = [int((position >= i).sum()) for i in range(len(order))]
    stage_field = d.sheet.stage_field
    assert stage_field is not None  # the config check requires one on the report's sheet
    durations = stage_durations(store, d.s.sheet, stage_field)
    durations = durations[durations["record_id"].isin(set(d.ids))]
    medians = durations.groupby("stage")["days"].median()
    rows = []
    for i, s in enumerate(order):
        nxt = _ratio(reached[i + 1], reached[i]) if i + 1 < len(order) else None
        med = medians.get(s)
        rows.append([s, int(counts.get(s, 0)), reached[i], nxt,
                     float(med) if med is not None and not np.isnan(med) else None])  # fmt: skip
    for s in anytime:
        med = medians.get(s)
        rows.append([s, int(counts.get(s, 0)), None, None,
                     float(med) if med is not None and not np.isnan(med) else None])  # fmt: skip
    stages = ReportTable("stages", lab["stages"],
                         [lab["stage"], lab["now"], lab["reached"], lab["to_next"], lab["median_days"]],
                         ["text", "int", "int", "pct", "days"], rows,
                         [Chart("bar", (2,), 0, lab["reached"])])  # fmt: skip
    lost_mask = d.stage.isin(d.s.lost_stages)
    reasons = (d.c.loc[lost_mask, d.s.lost_reason].fillna("").astype(str).replace("", lab["empty"])
               if d.s.lost_reason else pd.Series([], dtype=object))  # fmt: skip
    rc = reasons.value_counts()
    lost = ReportTable("lost", lab["lost"], [lab["reason"], lab["count"], lab["share"]],
                       ["text", "int", "pct"],
                       [[str(k), int(v), _ratio(int(v), int(rc.sum()))] for k, v in rc.items()],
                       [Chart("bar", (1,), 0, lab["lost"])])  # fmt: skip
    return [stages, lost]


def _followup(d: _Data, store: Store, p: Period, now: datetime,
              lab: dict[str, str]) -> list[ReportTable]:  # fmt: skip
    gaps = d.response_days(p.start, p.end)
    assigned = store.events_frame(d.s.sheet, ["rule"], field=d.owner_key)
    assigned = assigned[(assigned["field"] == d.owner_key) & assigned["record_id"].isin(set(d.ids))]
    at = pd.to_datetime(assigned["at"])
    assigned = assigned[(at >= pd.Timestamp(p.start)) & (at < pd.Timestamp(p.end))]
    lag = pd.Series([], dtype=float)
    if len(assigned):  # each assignment: days to the first follow-up on or after its day
        f = pd.DataFrame(
            {"record_id": d.f_customer.to_numpy(), "date": d.f_date.to_numpy()}
        ).dropna()
        a = pd.DataFrame({"record_id": assigned["record_id"].to_numpy(),
                          "when": pd.to_datetime(assigned["at"]).dt.normalize().to_numpy()})  # fmt: skip
        m = a.merge(f, on="record_id")
        m = m[m["date"] >= m["when"]]
        first = m.groupby(["record_id", "when"])["date"].min().reset_index()
        lag = (first["date"] - first["when"]).dt.days.astype(float)

    def row(name: str, s: pd.Series) -> list[Any]:
        return [lab[name], len(s), float(s.mean()) if len(s) else None,
                float(s.median()) if len(s) else None]  # fmt: skip

    response = ReportTable("response", lab["response"],
                           [lab["measure"], lab["samples"], lab["avg_days"], lab["median"]],
                           ["text", "int", "days", "days"],
                           [row("contact_to_followup", gaps),
                            row("assigned_to_followup", lag)],
                           [Chart("bar", (2, 3), 0, lab["response"])])  # fmt: skip
    notes = store.notifications_frame(
        ["escalation", "reminder", "catch_up"], since=p.start, until=p.end
    )
    notes = notes[notes["record_id"].isin(set(d.ids))]
    esc = notes[notes["kind"] == "escalation"]["recipient"].value_counts()
    rem = notes[notes["kind"].isin(["reminder", "catch_up"])]["recipient"].value_counts()
    nf = d.c["next_followup"] if "next_followup" in d.c else pd.Series(None, index=d.c.index)
    open_ = ~d.stage.isin([*d.s.won_stages, *d.s.lost_stages])
    past = (to_datetime64(nf) < pd.Timestamp(now.date())) & open_
    past_due = d.owner[past].value_counts()
    owners = sorted(set(esc.index) | set(rem.index) | set(past_due.index) | set(d.owner) - {""})
    rows = [[o, int(esc.get(o, 0)), int(rem.get(o, 0)), int(past_due.get(o, 0))] for o in owners]
    rows.sort(key=lambda r: (-r[1], -r[3], r[0]))
    overdue = ReportTable("overdue", lab["overdue"],
                          [lab["owner"], lab["escalations"], lab["reminders"], lab["past_due"]],
                          ["text", "int", "int", "int"], rows,
                          [Chart("bar", (1, 3), 0, lab["overdue"])])  # fmt: skip
    return [response, overdue]


def _quality(d: _Data, store: Store, owners: set[str] | None,
             lab: dict[str, str]) -> list[ReportTable]:  # fmt: skip
    loc = d.config.locale
    rows_by = []
    for _key, (sheet_name, pr) in d.problems.items():
        if len(pr):
            for (label, code), n in pr.groupby(["label", "code"]).size().items():
                rows_by.append([sheet_name, label, problem_kind(loc, code), int(n), code])
    rows_by.sort(key=lambda r: (-r[3], r[0], r[1], r[4]))
    by_field = ReportTable("problems_by_field", lab["by_field"],
                           [lab["sheet"], lab["field"], lab["problem"], lab["count"], lab["code"]],
                           ["text", "text", "text", "int", "text"], rows_by)  # fmt: skip
    per_day: dict[date, dict[str, int]] = {}
    keys = [s.key for s in d.config.sheets]  # every sheet, as the table beside the chart
    for run in sorted(_check_runs(store), key=lambda r: r["started"]):
        counts = json.loads(run["counts"] or "{}")
        day: dict[str, int] | None = None
        for info in (counts.get(k) or {} for k in keys):
            if owners is None and "problems_by" in info:
                found = [info["problems_by"]]
            elif owners is not None and "problems_by_owner" in info:  # the viewer's owners only
                found = [c for name, c in info["problems_by_owner"].items() if name in owners]
            else:
                continue
            day = day if day is not None else {}
            for c in found:
                for k, n in c.items():
                    day[k] = day.get(k, 0) + n
        if day is not None:  # the last run of a day stands for the day
            per_day[run["started"].date()] = day
    totals: dict[str, int] = {}
    for day in per_day.values():
        for k, n in day.items():
            totals[k] = totals.get(k, 0) + n
    top = [k for k, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TREND_SERIES]]
    rows = [
        [day, sum(v.values()), *[v.get(k, 0) for k in top]] for day, v in sorted(per_day.items())
    ]
    shown = [_kind_key(k, loc) for k in top]
    trend = ReportTable("trend", lab["trend"], [lab["date"], lab["total"], *shown],
                        ["date", "int", *["int"] * len(top)], rows,
                        [Chart("line", tuple(range(1, 2 + len(top))), 0, lab["trend"])] if rows
                        else [])  # fmt: skip
    return [trend, by_field]


def _kind_key(key: str, locale: Any) -> str:
    """A trend series "联系电话/invalid_phone" as people read it: 联系电话/电话格式不对."""
    label, _, code = key.rpartition("/")
    return f"{label}/{problem_kind(locale, code)}" if label else problem_kind(locale, code)


def _errors(d: _Data, lab: dict[str, str]) -> ReportTable:
    rows = []
    for _key, (sheet_name, pr) in d.problems.items():
        kinds = {c: problem_kind(d.config.locale, c) for c in pr["code"].unique()}
        for row, rid, label, code, value, message in pr[
            ["row", "record_id", "label", "code", "value", "message"]
        ].itertuples(index=False):
            rows.append([sheet_name, int(row), str(rid or ""), label, kinds[code], str(value),
                         message, code])  # fmt: skip
    return ReportTable("errors", lab["errors"],
                       [lab["sheet"], lab["row"], lab["record"], lab["field"], lab["problem"],
                        lab["entered"], lab["message"], lab["code"]],
                       ["text", "int", "text", "text", "text", "text", "text", "text"], rows)  # fmt: skip


def _duplicates(d: _Data, lab: dict[str, str]) -> ReportTable:
    marked = d.duplicate_of[d.duplicate_of != ""]
    name_of = dict(zip(d.ids, d.names, strict=True))
    rows = []
    for row, cell in marked.items():  # 重复客户: the ID, or "C000012 同手机号" without 重复原因
        orig, _, reason = str(cell).partition(" ")
        reason = d.duplicate_reason[row] or reason
        rows.append([orig, name_of.get(orig, ""), str(d.ids[row]), str(d.names[row]), reason])
    rows.sort(key=lambda r: (r[0], r[2]))
    return ReportTable("duplicates", lab["groups"],
                       [lab["original"], lab["original_name"], lab["duplicate"],
                        lab["duplicate_name"], lab["dup_reason"]], ["text"] * 5, rows)  # fmt: skip


# -- writing ------------------------------------------------------------------------------------
FORMATS = {"int": "#,##0", "money": "#,##0.00", "pct": "0.0%", "days": "0.0", "date": "yyyy-mm-dd"}


def write_report(report: Report, out: Path) -> Path:
    """Write the report workbook: each table an Excel table (filter buttons, banded rows, number
    formats) with its charts beside it; header rows frozen where a tab has one table."""
    with xlsx_book(out, nan_inf_to_errors=True) as book:
        _fill_report(book, report)
    return out


def _fill_report(book: Any, report: Report) -> None:
    fmt = {k: book.add_format({"num_format": v}) for k, v in FORMATS.items()}
    title = book.add_format({"bold": True, "font_size": 14})
    heading = book.add_format({"bold": True, "font_size": 11, "font_color": "#1F4E79"})
    names: set[str] = set()
    for sheet_key, tables in report.sheets.items():
        ws = book.add_worksheet(report.titles[sheet_key])
        print_setup(ws, repeat_rows=None)  # a table and its charts side by side on one page width
        ws.write_string(0, 0, report.titles[sheet_key], title)
        ws.write_string(1, 0, report.subtitle)
        r = 3
        widths: dict[int, float] = {}
        for t in tables:
            ws.write_string(r, 0, t.title, heading)
            top = r + 1
            n = max(len(t.rows), 1)
            last_col = len(t.columns) - 1
            columns = []
            for c, (h, f) in enumerate(zip(t.columns, t.formats, strict=True)):
                spec: dict[str, Any] = {"header": h}
                if f in fmt:
                    spec["format"] = fmt[f]
                columns.append(spec)
                widths[c] = max(widths.get(c, 8), _width(h) + 3)
            name = _table_name(t.key, names)
            ws.add_table(top, 0, top + n, last_col, {"columns": columns, "name": name,
                                                      "style": "Table Style Medium 2"})  # fmt: skip
            for i, values in enumerate(t.rows):
                for c, v in enumerate(values):
                    f = t.formats[c]
                    if f == "row" and t.row_formats:
                        f = t.row_formats[i]
                    write_cell(ws, top + 1 + i, c, v, fmt.get(f))
                    if i < 2000:  # widths from a sample: enough to read, cheap at 100k rows
                        widths[c] = max(widths.get(c, 8), min(_width(v, f) + 2, 50))
            ccol = last_col + 2
            for k, chart in enumerate(t.charts):
                if not t.rows:
                    continue
                ws.insert_chart(top, ccol + 8 * k, _chart(book, ws.name, t, chart, top),
                                {"x_scale": 1.0, "y_scale": 1.0})  # fmt: skip
            r = top + n + 2 + (max(0, 16 - n - 1) if t.charts and t.rows else 0)
        for c, w in widths.items():
            ws.set_column(c, c, w)
        if len(tables) == 1:
            ws.freeze_panes(5, 0)  # the title, the subtitle, the table title and its header


def _chart(book: Any, sheet: str, t: ReportTable, c: Chart, top: int) -> Any:
    chart = book.add_chart({"type": c.kind})
    first, last = top + 1, top + len(t.rows)
    for col in c.values:
        series: dict[str, Any] = {
            "name": [sheet, top, col],
            "categories": [sheet, first, c.categories, last, c.categories],
            "values": [sheet, first, col, last, col],
        }
        if c.kind == "pie":
            series["data_labels"] = {"percentage": True, "category": False}
        if c.kind == "line":  # a single day is a point: without a marker it is not drawn at all
            series["marker"] = {"type": "circle", "size": 6}
        chart.add_series(series)
    chart.set_title({"name": c.title or t.title})
    values_axis: dict[str, Any] = {"min": 0}  # from zero: 330 vs 360 is not a fourfold difference
    if c.kind == "bar":  # Excel draws bar categories bottom-up; read them top-down like the table
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis(values_axis)
    elif c.kind != "pie":
        chart.set_y_axis(values_axis)
    if c.kind != "pie" and t.formats[c.categories] == "date":  # dates, not serials (46357)
        chart.set_x_axis(
            {"date_axis": True, "num_format": "yyyy-mm-dd", "num_font": {"rotation": -45}}
        )
    if c.kind != "pie" and len(c.values) == 1:
        chart.set_legend({"none": True})
    return chart


def _width(v: Any, f: str = "text") -> float:
    if v is None:
        return 0
    if f in ("int", "money"):
        return len(f"{v:,.2f}") if isinstance(v, int | float) else 8
    if f in ("pct", "days", "date"):
        return 10
    return text_width(str(v))


def _table_name(key: str, used: set[str]) -> str:
    base = "t_" + re.sub(r"\W", "_", key)
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


# -- CSV ----------------------------------------------------------------------------------------
def write_csv(report: Report, folder: Path) -> list[Path]:
    """One CSV per table: <tab>-<table key>.csv."""
    out = []
    for sheet_key, tables in report.sheets.items():
        for t in tables:
            path = folder / f"{sheet_key}-{t.key}.csv"
            write_csv_rows(path, t.columns, t.rows)
            out.append(path)
    return out


# -- from a workbook to files -------------------------------------------------------------------
def make_report(tables: dict[str, Any], config: Config, store: Store | None, *, now: datetime,
                results: dict[str, CheckResult], period: str = "week", viewer: str | None = None,
                out: Path | None = None, csv_dir: Path | None = None,
                ) -> tuple[Report, Path, list[Path]]:  # fmt: skip
    """Build the report from the tables read and their check `results`, and write it (and its
    CSVs): `Job.report`, for the weekly_report job and the report command. Duplicates are those
    the nightly run marked in the sheet."""
    if config.report is None:
        raise ConfigError("config.toml has no [report] section; see the README for one")
    status = tables[config.report.sheet].status
    report = build_report(results, status.get("duplicate_of"), config, store, now=now,
                          period=period, viewer=viewer,
                          duplicate_reason=status.get("duplicate_reason"))  # fmt: skip
    suffix = f"-{viewer}" if viewer else ""
    out = out or config.path(f"reports/report-{now:%Y-%m-%d}{suffix}.xlsx")
    write_report(report, out)
    return report, out, write_csv(report, csv_dir) if csv_dir else []
