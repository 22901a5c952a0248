"""The report workbook and exports: built from a demo workbook and a store with four weeks of runs,
re-read with openpyxl and checked against pandas computations made here from the workbook itself;
charts point at their tables; LibreOffice opens it; CSVs are safe; per-person views are filtered."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
import shutil
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.demo import advance_demo, generate_demo
from sheetcrm.job import run_job
from sheetcrm.output import csv_safe
from sheetcrm.permissions import visible_owners
from sheetcrm.report import period_of
from sheetcrm.store import Store

from .conftest import ROOT

START = datetime(2026, 10, 26, 2, 0)  # four Mondays before the report
REPORT_AT = datetime(2026, 11, 23, 7, 0)
WEEK = (date(2026, 11, 16), date(2026, 11, 23))
PREVIOUS = (date(2026, 11, 9), date(2026, 11, 16))


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Config:
    """A demo team after four weeks: nightly runs each Monday, stage moves and follow-ups between,
    one customer whose industry was typed as a formula."""
    folder = tmp_path_factory.mktemp("report")
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml")
    generate_demo(config, config.workbook_path, rows=240, seed=4, today=date(2026, 11, 22))
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    col = {str(c.value).lstrip("*"): c.column for c in ws[1]}
    ws.cell(2, col["所属行业"]).value = "=1+1"  # typed by someone as text: must never run
    ws.cell(2, col["所属行业"]).data_type = "s"
    for r in range(3, 15):  # customers without an owner: the first night assigns them
        ws.cell(r, col["负责人"]).value = None
    wb.save(config.workbook_path)
    for week in range(4):
        night = START + timedelta(days=7 * week)
        assert run_job("nightly", config, now=night).ok
        advance_demo(config.workbook_path, config, moves=20, today=(night + timedelta(days=3)).date(),
                     seed=week)  # fmt: skip
    assert run_job("nightly", config, now=START + timedelta(days=28)).ok
    return config


@pytest.fixture(scope="module")
def built(instance):
    config = instance
    result = CliRunner().invoke(cli, ["--config", str(config.base_dir / "config.toml"), "report",
                                      "--now", REPORT_AT.isoformat(), "--csv",
                                      str(config.base_dir / "csv")], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    path = config.path("reports/report-2026-11-23.xlsx")
    assert f"已写入 {path}" in result.output
    return path


def customers(config: Config) -> pd.DataFrame:
    """The customers sheet as pandas reads it, headers without the required-mark."""
    df = pd.read_excel(config.workbook_path, sheet_name="客户信息", engine="calamine", dtype=object)
    df.columns = [str(c).lstrip("*").strip() for c in df.columns]
    return df


def amount(v: object) -> float:
    s = re.sub(r"[¥,，\s]", "", str(v))
    if s in ("", "nan", "None"):
        return float("nan")
    return float(s[:-1]) * 10_000 if s.endswith("万") else float(s)


def table(ws, name: str) -> pd.DataFrame:
    """An Excel table of the sheet, by its name, as a frame."""
    ref = ws.tables[name].ref
    rows = [[c.value for c in row] for row in ws[ref]]
    return pd.DataFrame(rows[1:], columns=rows[0])


def dates(values: pd.Series) -> pd.Series:
    """Dates as people type them: real dates, ISO text, or 2026年8月23日."""
    text = values.map(lambda v: re.sub(r"(\d+)年(\d+)月(\d+)日", r"\1-\2-\3", v)
                      if isinstance(v, str) else v)  # fmt: skip
    return pd.to_datetime(text, errors="coerce", format="mixed")


def in_period(values: pd.Series, period: tuple[date, date]) -> pd.Series:
    d = dates(values)
    return (d >= pd.Timestamp(period[0])) & (d < pd.Timestamp(period[1]))


def test_periods():
    def span(p):
        return (p.start, p.end, p.previous_start)

    assert span(period_of("week", REPORT_AT)) == (*WEEK, PREVIOUS[0])
    assert span(period_of("month", REPORT_AT)) == (
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 9, 1),
    )
    assert span(period_of("quarter", datetime(2026, 2, 3))) == (date(2025, 10, 1), date(2026, 1, 1),
                                                                date(2025, 7, 1))  # fmt: skip


def test_tables_match_an_independent_computation(instance, built):
    config = instance
    df = customers(config)
    wb = openpyxl.load_workbook(built)
    assert wb.sheetnames == ["概览", "客户分布", "销售业绩", "销售漏斗", "跟进效率", "数据质量",
                             "错误清单", "重复客户"]  # fmt: skip

    industry = table(wb["客户分布"], "t_by_industry").set_index("所属行业")["客户数"]
    choices = instance.sheet("customers").field("industry").choices
    typed = df["所属行业"].astype(str).str.strip()
    expected = typed.where(
        typed.isin(choices), "（未填）"
    ).value_counts()  # not a choice: a problem
    assert industry.sum() == len(df) == 240
    assert industry.to_dict() == {k: int(v) for k, v in expected.items()}

    won = df["销售阶段"].isin(["成交", "售后维护"])
    kpis = table(wb["概览"], "t_kpis").set_index("指标")
    for period, column in ((WEEK, "本期"), (PREVIOUS, "上期")):
        new = int(in_period(df["首次接触日期"], period).sum())
        deals = won & in_period(df["合同开始日期"], period)
        assert kpis.at["新增客户", column] == new
        assert kpis.at["成交数", column] == int(deals.sum())
        assert kpis.at["成交金额", column] == pytest.approx(
            df.loc[deals, "年合同金额"].map(amount).sum()
        )
    assert kpis.at["成交数", "本期"] > 0  # the played weeks closed deals in the report's week

    owners = table(wb["销售业绩"], "t_by_owner").set_index("负责人")
    counts = df["负责人"].fillna("").astype(str).str.strip().replace("", "（未填）").value_counts()
    assert owners["客户数"].to_dict() == {k: int(v) for k, v in counts.items()}
    assert owners["团队"].get("王明") == "华东销售部"

    stages = table(wb["销售漏斗"], "t_stages").set_index("阶段")
    now = df["销售阶段"].value_counts()
    assert {k: int(v) for k, v in stages["当前客户数"].items() if v} == {
        k: int(v) for k, v in now.items()
    }
    order = ["线索", "初步接触", "需求确认", "方案提交", "商务谈判", "成交", "售后维护"]
    reached = [int(df["销售阶段"].isin(order[i:]).sum()) for i in range(len(order))]
    assert [int(v) for v in stages.loc[order, "到达该阶段"]] == reached
    with sqlite3.connect(instance.store_url.removeprefix("sqlite:///")) as db:
        moved = db.execute(
            "SELECT julianday(s.at) - julianday(c.at) FROM events s JOIN events c"
            " ON c.record_id = s.record_id AND c.sheet = s.sheet AND c.kind = 'created'"
            " WHERE s.kind = 'stage' AND s.old = '线索' AND s.sheet = 'customers'"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.record_id = s.record_id"
            "   AND e.kind = 'stage' AND e.sheet = 'customers' AND e.id < s.id)"
        ).fetchall()
    db.close()
    assert len(moved) > 5
    median = float(pd.Series([m for (m,) in moved]).median())
    assert stages.loc["线索", "停留天数（中位数）"] == pytest.approx(median)
    quality = wb["数据质量"]
    trend = table(quality, "t_trend")
    assert [d.date() for d in trend["日期"]] == [
        (START + timedelta(days=7 * w)).date() for w in range(5)
    ]
    errors = table(wb["错误清单"], "t_errors")
    first = errors[(errors["工作表"] == "客户信息") & (errors["行号"] == 2)]
    assert "=1+1" in set(first["填写内容"])
    cell = next(c for row in wb["错误清单"].iter_rows() for c in row if c.value == "=1+1")
    assert cell.data_type == "s"  # text, never a formula


def test_every_chart_points_at_its_table(built):
    wb = openpyxl.load_workbook(built)
    total = 0
    for ws in wb.worksheets:
        refs = {name: ws.tables[name].ref for name in ws.tables}
        for chart in ws._charts:
            total += 1
            for series in chart.series:
                values = series.val.numRef.f
                categories = (series.cat.strRef or series.cat.numRef).f
                sheet, cells = values.split("!")
                assert sheet.strip("'") == ws.title
                col, r1, r2 = re.fullmatch(r"\$([A-Z]+)\$(\d+):\$[A-Z]+\$(\d+)", cells).groups()
                inside = [n for n, ref in refs.items()
                          if _within(ref, col, int(r1), int(r2))]  # fmt: skip
                assert len(inside) == 1, (ws.title, values, refs)
                assert categories.endswith(f"$A${r1}:$A${r2}")
    per_sheet = {ws.title: len(ws._charts) for ws in wb.worksheets}
    assert per_sheet["客户分布"] == 5 and per_sheet["销售业绩"] == 4 and per_sheet["数据质量"] == 1
    assert total >= 14


def _within(ref: str, col: str, r1: int, r2: int) -> bool:
    a, b = ref.split(":")
    ca, ra = re.fullmatch(r"([A-Z]+)(\d+)", a).groups()
    cb, rb = re.fullmatch(r"([A-Z]+)(\d+)", b).groups()
    return ca <= col <= cb and int(ra) + 1 == r1 and r2 == int(rb)


@pytest.mark.libreoffice
def test_libreoffice_converts_the_report_to_pdf(built, libreoffice, tmp_path):
    pdf = libreoffice(built, "pdf", tmp_path)
    assert pdf.stat().st_size > 10_000 and pdf.read_bytes().startswith(b"%PDF")


def test_csv_tables_are_utf8_with_bom_and_escape_formulas(instance, built):
    folder = instance.base_dir / "csv"
    files = {p.name for p in folder.glob("*.csv")}
    assert {"overview-kpis.csv", "customers-by_industry.csv", "errors-errors.csv"} <= files
    raw = (folder / "customers-by_industry.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "所属行业".encode() in raw
    with (folder / "errors-errors.csv").open(encoding="utf-8-sig") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert "'=1+1" in cells and "=1+1" not in cells
    assert [csv_safe(v) for v in ("=A1", "+1", "-x", "@sum", "a=b", 5, -5)] == [
        "'=A1", "'+1", "'-x", "'@sum", "a=b", 5, -5]  # fmt: skip


def test_a_rep_sees_own_customers_and_a_manager_the_team(instance):
    config = instance
    assert visible_owners(config, "王明") == {"王明"}
    team = visible_owners(config, "刘洋")
    assert "刘洋" in team and "王明" in team and "张伟" not in team
    assert visible_owners(config, "张伟") is None
    df = customers(config)
    for viewer, allowed in (("王明", {"王明"}), ("刘洋", team)):
        out = config.base_dir / f"view-{viewer}.xlsx"
        result = CliRunner().invoke(cli, ["--config", str(config.base_dir / "config.toml"), "report",
                                          "--now", REPORT_AT.isoformat(), "--for", viewer,
                                          "--out", str(out)])  # fmt: skip
        assert result.exit_code == 0, result.output
        wb = openpyxl.load_workbook(out)
        owners = table(wb["销售业绩"], "t_by_owner")
        assert set(owners["负责人"]) <= allowed
        visible = df[df["负责人"].fillna("").astype(str).str.strip().isin(allowed)]
        assert owners["客户数"].sum() == len(visible)
        errors = table(wb["错误清单"], "t_errors")
        theirs = set(visible["客户ID"].astype(str))
        mine = errors[errors["工作表"] == "客户信息"]["记录编号"].dropna()
        assert set(mine) <= theirs
        assert "查看人" in str(wb["概览"]["A2"].value)
        # the data-quality trend is the viewer's too (#27 item 6): each day's problems of their rows
        trend = table(wb["数据质量"], "t_trend")
        assert len(trend) >= 2  # a point per night the store recorded
        runs = [r for r in Store(config.store_url).runs("nightly")]
        counts = json.loads(runs[0]["counts"])  # every sheet, as the table beside the chart
        last = [counts[k]["problems_by_owner"] for k in ("customers", "followups", "requests")
                if "problems_by_owner" in counts.get(k, {})]  # fmt: skip
        assert trend["问题合计"].iloc[-1] == sum(
            sum(per.get(o, {}).values()) for per in last for o in allowed
        )


def test_export_filters_rows_and_keeps_them_as_typed(instance):
    config = instance
    df = customers(config)
    base = ["--config", str(config.base_dir / "config.toml"), "export"]
    out = config.base_dir / "wm.csv"
    result = CliRunner().invoke(cli, [*base, "--owner", "王明", "--stage", "商务谈判", "--format", "csv",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = df[(df["负责人"].astype(str).str.strip() == "王明") & (df["销售阶段"] == "商务谈判")]
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(expected) > 0
    assert {r["客户ID"] for r in rows} == set(expected["客户ID"].astype(str))
    assert "校验结果" in rows[0]

    since = config.base_dir / "since.xlsx"
    result = CliRunner().invoke(cli, [*base, "--since", "2026-06-01", "--out", str(since)])
    assert result.exit_code == 0, result.output
    got = pd.read_excel(since, engine="calamine", dtype=object)
    first = dates(df["首次接触日期"])
    assert len(got) == int((first >= pd.Timestamp("2026-06-01")).sum())

    formula = config.base_dir / "all.csv"
    CliRunner().invoke(cli, [*base, "--format", "csv", "--out", str(formula)])
    with formula.open(encoding="utf-8-sig") as fh:
        assert "'=1+1" in {c for row in csv.reader(fh) for c in row}


def test_the_weekly_report_job_writes_and_mails_the_report_once(instance):
    config = instance
    outbox = config.path(config.mail.outbox_dir)
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    report = run_job("weekly_report", config, now=datetime(2026, 11, 30, 7, 0))
    assert report.ok, report.error
    path = Path(report.counts["report"])
    assert path.name == "report-2026-11-30.xlsx" and path.is_file()
    assert "2026-11-23 – 2026-11-29" in " ".join(report.lines)
    mails = {}
    for eml in set(outbox.glob("*.eml")) - before:
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        (attachment,) = list(msg.iter_attachments())
        mails[msg["To"].addresses[0].addr_spec] = (
            attachment.get_filename(),
            attachment.get_content(),
        )
    managers = {
        p.email: p.name for p in config.people if str(p.role) in ("sales_manager", "sales_director")
    }
    assert set(mails) == set(managers)
    director = next(p for p in config.people if str(p.role) == "sales_director")
    name, data = mails[director.email]
    assert name == "report-2026-11-30.xlsx" and data == path.read_bytes()  # everything
    manager = next(p for p in config.people if str(p.role) == "sales_manager")
    name, data = mails[manager.email]
    assert name == f"report-2026-11-30-{manager.name}.xlsx"  # the team's view
    ws = openpyxl.load_workbook(io.BytesIO(data))["销售业绩"]
    assert set(table(ws, "t_by_owner")["负责人"]) <= visible_owners(config, manager.name)
    again = run_job("weekly_report", config, now=datetime(2026, 11, 30, 7, 0))
    assert again.ok and len(set(outbox.glob("*.eml")) - before) == len(mails)  # not twice
    after_report = set(outbox.glob("*.eml"))
    assert run_job("digest", config, now=datetime(2026, 11, 30, 8, 0)).ok
    for eml in set(outbox.glob("*.eml")) - after_report:  # digests never carry the report
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert not list(msg.iter_attachments()) and "报告" not in str(msg["Subject"])


def test_assignment_to_first_followup_matches_the_stored_events(instance):
    config = instance
    from sheetcrm.check import check_workbook
    from sheetcrm.report import build_report
    from sheetcrm.sources.excel import ExcelSource
    from sheetcrm.store import Store

    source = ExcelSource(config.workbook_path, config)
    tables = {s.key: source.read(s.key) for s in config.sheets}
    results = check_workbook(tables, config, now=REPORT_AT)
    report = build_report(
        results, None, config, Store(config.store_url), now=REPORT_AT, period="month"
    )
    row = report.table("response").rows[1]  # assigned → first follow-up, in October
    with sqlite3.connect(config.store_url.removeprefix("sqlite:///")) as db:
        assigned = db.execute(
            "SELECT record_id, date(at) FROM events WHERE sheet = 'customers' AND kind = 'rule'"
            " AND field = 'owner' AND at >= '2026-10-01' AND at < '2026-11-01'"
        ).fetchall()
    db.close()
    assert assigned  # the first night assigned the customers without an owner
    f = results["followups"].typed
    days = []
    for rid, day in assigned:
        dates = [d for c, d in zip(f["customer_id"], f["date"], strict=True)
                 if c == rid and isinstance(d, date) and d >= date.fromisoformat(day)]  # fmt: skip
        if dates:
            days.append((min(dates) - date.fromisoformat(day)).days)
    assert days and row[1] == len(days)
    assert row[2] == pytest.approx(sum(days) / len(days))


def test_reminders_per_owner_match_the_stored_notifications(instance, built):
    ws = openpyxl.load_workbook(built)["跟进效率"]
    overdue = table(ws, "t_overdue").set_index("负责人")
    customers_ids = set(customers(instance)["客户ID"].astype(str))
    with sqlite3.connect(instance.store_url.removeprefix("sqlite:///")) as db:
        rows = db.execute(
            "SELECT kind, recipient, record_id FROM notifications WHERE kind IN"
            " ('escalation', 'reminder', 'catch_up') AND created >= ? AND created < ?",
            (str(WEEK[0]), str(WEEK[1])),
        ).fetchall()
    db.close()
    expected: dict[tuple[str, str], int] = {}
    for kind, who, rid in rows:
        kind = "reminder" if kind == "catch_up" else kind  # a catch-up is a reminder, spread out
        if rid in customers_ids:
            expected[(kind, who)] = expected.get((kind, who), 0) + 1
    assert sum(v for (k, _), v in expected.items() if k == "reminder") > 0
    for who, row in overdue.iterrows():
        assert row["本期逾期升级"] == expected.get(("escalation", who), 0)
        assert row["本期提醒"] == expected.get(("reminder", who), 0)


def test_the_duplicates_table_names_each_original(instance, built):
    """#27 item 6: the original's ID and name, and the reason in a column of its own (the 重复客户
    cell's "C000035 同手机号" was taken for an ID: no name in any row)."""
    wb = openpyxl.load_workbook(built)
    ws = next(ws for ws in wb.worksheets if any(n.startswith("t_duplicates") for n in ws.tables))
    t = table(ws, next(n for n in ws.tables if n.startswith("t_duplicates")))
    assert len(t) > 0
    assert t["原客户"].str.fullmatch(r"C\d{6}").all()
    assert (t["原客户名称"].fillna("") != "").all() and (t["重复原因"].fillna("") != "").all()
