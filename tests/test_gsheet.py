"""Google Sheets through gspread's real client, over real HTTP to a Sheets API v4 emulator on
loopback (tests/fake_sheets.py): the nightly job with the same assertions as on a workbook, retries
on 429, a permanent 403, sorting between read and write, and batched calls."""

from __future__ import annotations

import csv
import email
import email.policy
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.demo import generate_demo
from sheetcrm.errors import SheetLayoutError, SheetServiceError
from sheetcrm.fields import excel_serial
from sheetcrm.job import run_job
from sheetcrm.pipeline import apply_plan, build_plan
from sheetcrm.sources.gsheet import GSheetSource

from .conftest import ROOT
from .fake_sheets import FakeSheets, Formula

KEY = "1TestKeyForSheetcrm_abc-XYZ"
ACCOUNT = "crm-bot@sheetcrm-test.iam.gserviceaccount.com"
NIGHT = datetime(2026, 11, 23, 2, 0)


@pytest.fixture
def fake():
    server = FakeSheets.start()
    yield server
    server.stop()


def grid_of(path: Path) -> dict[str, list[list[object]]]:
    """A workbook's sheets as Google keeps them: dates as serial numbers, empty cells as ""."""
    out = {}
    with CalamineWorkbook.from_path(str(path)) as wb:
        for name in wb.sheet_names:
            rows = []
            for row in wb.get_sheet_by_name(name).to_python():
                rows.append([excel_serial(v) if isinstance(v, date) else v for v in row])
            out[name] = rows
    return out


def make_instance(folder: Path, fake: FakeSheets | None, rows: int = 60) -> Config:
    """The bundled instance with a demo workbook; with `fake`, the workbook's sheets are put into
    the emulator and config.toml points at it instead."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml")
    generate_demo(config, config.workbook_path, rows=rows, seed=9, today=NIGHT.date())
    if fake is None:
        return config
    fake.add_spreadsheet(KEY, grid_of(config.workbook_path))
    (folder / "sa.json").write_text(
        json.dumps({"type": "service_account", "client_email": ACCOUNT})
    )
    text = text.replace('source = "data/customers.xlsx"', f'source = "gsheet://{KEY}"')
    text = text.replace(
        "[store]", f'[gsheet]\ncredentials = "sa.json"\nendpoint = "{fake.url}"\n\n[store]'
    )
    (folder / "config.toml").write_text(text, encoding="utf-8")
    return load_config(folder / "config.toml")


def status_by_id(config: Config, fake: FakeSheets | None, label: str) -> dict[str, str]:
    """{customer ID: that status cell}, from the workbook file or the emulator's grid."""
    sheet = config.sheet("customers")
    if fake is None:
        rows = grid_of(config.workbook_path)[sheet.name]
    else:
        rows = fake.books[KEY].sheets[sheet.name].rows
    header = [str(h).lstrip("*").strip() for h in rows[0]]
    i, c = header.index("客户ID"), header.index(label)
    return {str(r[i]): str(r[c] if c < len(r) else "") for r in rows[1:] if len(r) > i and r[i]}


@pytest.mark.parametrize("kind", ["workbook", "gsheet"])
def test_the_nightly_job_works_the_same_on_both_sources(kind, tmp_path, fake):
    config = make_instance(tmp_path / kind, fake if kind == "gsheet" else None)
    truth_file = tmp_path / kind / "data" / "customers.truth.csv"
    with truth_file.open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    nightly = run_job("nightly", config, now=NIGHT)
    assert nightly.outcome == "ok", nightly.error
    digest = run_job("digest", config, now=NIGHT.replace(hour=8))
    assert digest.outcome == "ok", digest.error
    src = fake if kind == "gsheet" else None
    validation = status_by_id(config, src, "校验结果")
    assert len(validation) == 60 and set(validation.values()) <= {"✓", "✗"}
    planted = {
        t["record_id"] for t in truth if t["sheet"] == "customers" and t["kind"] == "problem"
    }
    assert planted and all(validation[rid] == "✗" for rid in planted)
    clean = set(validation) - {t["record_id"] for t in truth if t["sheet"] == "customers"}
    assert clean and all(validation[rid] == "✓" for rid in clean)
    problems = status_by_id(config, src, "问题说明")
    assert all(problems[rid] for rid in planted)
    assert nightly.counts["rows_written"] >= 60 and nightly.counts["customers"]["rows"] == 60
    mails = list(config.path("outbox").glob("*.eml"))
    assert mails and digest.counts["mails_sent"] == len(mails)
    (errors,) = config.path("reports").glob("校验错误清单-*.xlsx")
    link = openpyxl.load_workbook(errors)["校验错误清单"]["I2"].hyperlink
    target = link.target + (f"#{link.location}" if link.location else "")  # openpyxl splits at #
    if kind == "gsheet":  # the error list opens the Google Sheet at the cell
        gid = fake.books[KEY].sheets["客户信息"].sheet_id
        assert target.startswith(
            f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid={gid}&range="
        )
    else:
        assert "customers.xlsx#'客户信息'!" in target  # the workbook at the cell
    htmls = [email.message_from_bytes(m.read_bytes(), policy=email.policy.default)
             .get_body(("html",)).get_content() for m in mails]  # fmt: skip
    if kind == "gsheet":  # a digest line opens the Google Sheet at its record's row
        assert any(
            f'href="https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=' in h for h in htmls
        )
    else:  # ... or the workbook, as a file: URL
        assert any('href="file://' in h and "customers.xlsx#" in h for h in htmls)

    writes_before = fake.count("values_batch_update")
    again = run_job("nightly", config, now=NIGHT.replace(hour=3))
    assert again.outcome == "ok" and again.counts["rows_written"] == 0
    assert status_by_id(config, src, "校验结果") == validation
    assert fake.count("values_batch_update") == writes_before  # nothing written the second time
    assert run_job("digest", config, now=NIGHT.replace(hour=9)).counts["mails_sent"] == 0


def test_api_calls_per_run_do_not_grow_with_rows(tmp_path):
    counts = {}
    for rows in (20, 400):
        server = FakeSheets.start()
        try:
            config = make_instance(tmp_path / str(rows), server, rows=rows)
            assert run_job("nightly", config, now=NIGHT).outcome == "ok"
            counts[rows] = len(server.calls)
            assert server.count("values_batch_get") == 2  # the read and the fresh ID read
        finally:
            server.stop()
    assert counts[20] == counts[400] <= 5, counts


def test_429_is_retried_with_backoff_and_the_result_is_right(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    source = GSheetSource.from_config(config)
    waits: list[float] = []
    source.http.sleep = waits.append
    fake.fail_next(429, 3)
    table = source.read("customers")
    assert len(table) == 60 and table.ids.iloc[0] == "C000001"
    assert source.http.calls == 5 and len(fake.calls) == 5  # 3 refused + metadata + batchGet
    assert len(waits) == 3 and all(0 < w <= source.http.max_delay for w in waits)
    assert waits[2] > waits[0] * 1.4  # exponential (jitter takes at most half)


def test_server_errors_past_the_retries_leave_the_sheet_as_it_was(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    before = [list(r) for r in fake.books[KEY].sheets["客户信息"].rows]
    source = GSheetSource.from_config(config)
    source.http.sleep = lambda s: None
    tables = {s.key: source.read(s.key) for s in config.sheets}
    plan = build_plan(tables, config, now=NIGHT)
    fake.fail_next(500, source.http.retries + 1)
    with pytest.raises(SheetServiceError, match="after 5 retries.*next run tries again"):
        apply_plan(plan, source, config)
    assert fake.books[KEY].sheets["客户信息"].rows == before


def test_a_permanent_403_is_not_retried_and_names_the_account(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    fake.forbid()
    source = GSheetSource.from_config(config)
    source.http.sleep = lambda s: pytest.fail("a 403 must not be retried")
    with pytest.raises(SheetServiceError, match=f"share the spreadsheet with {ACCOUNT}"):
        source.read("customers")
    assert len(fake.calls) == 1
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "failed" and ACCOUNT in (report.error or "")


def test_a_wrong_key_or_missing_sheet_is_named(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    other = GSheetSource("NoSuchKey", config)
    with pytest.raises(SheetServiceError, match="no Google Sheet with the key NoSuchKey"):
        other.read("customers")
    del fake.books[KEY].sheets["客户信息"]  # a sheet not marked optional
    with pytest.raises(SheetLayoutError, match="no sheet named '客户信息'.*跟进记录"):
        GSheetSource.from_config(config).read("customers")


def test_sorting_between_read_and_write_keeps_statuses_with_their_rows(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    source = GSheetSource.from_config(config)
    tables = {s.key: source.read(s.key) for s in config.sheets}
    plan = build_plan(tables, config, now=NIGHT)
    fake.sort(KEY, "客户信息", column=1, reverse=True)  # someone sorts by 客户名称 meanwhile
    apply_plan(plan, source, config)
    written = status_by_id(config, fake, "问题说明")
    expected = {rid: v.get("problems", "") for rid, v in plan.patches["customers"].values.items()}
    assert {rid: written[rid] for rid in expected} == expected
    assert any(expected.values())


def test_writes_are_raw_so_text_never_becomes_a_formula(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    sheet = fake.books[KEY].sheets["客户信息"]
    header = [str(h).lstrip("*") for h in sheet.rows[0]]
    sheet.rows[1][header.index("所属行业")] = "=IMPORTXML(1)"
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    updates = [b for b in fake.bodies if "valueInputOption" in b]
    assert updates and all(b["valueInputOption"] == "RAW" for b in updates)
    cells = [v for s in fake.books[KEY].sheets.values() for r in s.rows for v in r]
    assert not any(isinstance(v, Formula) for v in cells)
    assert any(isinstance(v, str) and "=IMPORTXML(1)" in v for v in cells[len(header) :])


def test_templates_set_up_a_new_google_sheet(tmp_path, fake):
    config = make_instance(tmp_path, fake)
    fake.add_spreadsheet("NewKey", {"Sheet1": []})
    args = ["--config", str(config.base_dir / "config.toml"), "templates", "--gsheet",
            "https://docs.google.com/spreadsheets/d/NewKey/edit#gid=0"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    book = fake.books["NewKey"]
    customers = config.sheet("customers")
    ws = book.sheets[customers.name]
    assert ws.rows[0] == [f.header for f in customers.fields] + [s.label for s in customers.status]
    assert ws.frozen_rows == 1 and ws.column_count >= len(ws.rows[0])
    industry = next(v for v in ws.validations if v["range"]["startColumnIndex"] == 3)
    assert [x["userEnteredValue"] for x in industry["rule"]["condition"]["values"]] == \
        customers.field("industry").choices  # fmt: skip
    (protected,) = ws.protected
    assert protected["warningOnly"] and protected["range"]["startColumnIndex"] == len(
        customers.fields
    )
    assert len(fake.calls) <= 5
    again = CliRunner().invoke(cli, args)
    assert "has headers already" in again.output and ws.rows[0][0] == customers.fields[0].header


def test_import_appends_rows_to_a_google_sheet(tmp_path, fake):
    import openpyxl

    config = make_instance(tmp_path / "inst", fake, rows=30)
    wb = openpyxl.Workbook()
    wb.active.append(["公司名称", "手机", "姓名", "客户来源", "意向"])
    wb.active.append(["上海新锐科技有限公司", "13812345678", "张三", "展会推荐", "高意向"])
    wb.save(tmp_path / "old.xlsx")
    args = ["--config", str(config.base_dir / "config.toml"), "import", str(tmp_path / "old.xlsx"),
            "--now", "2026-11-23T10:00"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "新客户 1 (C000031)" in result.output, result.output
    rows = fake.books[KEY].sheets["客户信息"].rows
    header = [str(h).lstrip("*") for h in rows[0]]
    added = dict(zip(header, rows[-1], strict=False))
    assert (added["客户ID"], added["客户名称"], added["联系电话"]) == (
        "C000031",
        "上海新锐科技有限公司",
        "13812345678",
    )
    assert added["校验结果"] == "✗"
    again = CliRunner().invoke(cli, args)
    assert "新客户 0" in again.output and len(fake.books[KEY].sheets["客户信息"].rows) == len(rows)


def test_rows_without_an_id_get_their_id_and_their_statuses_the_same_night(tmp_path, fake):
    """#27 item 1: on a Google Sheet they got the new ID but no status columns until the next night
    (on a workbook they get both at once)."""
    config = make_instance(tmp_path, fake)
    rows = fake.books[KEY].sheets["客户信息"].rows
    header = [str(h).lstrip("*").strip() for h in rows[0]]
    i = header.index("客户ID")
    last = len(rows) - 1  # a new customer typed at the bottom: Google trims its empty ID cell
    for r in (3, 5, last):
        rows[r][i] = ""
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "ok", report.error
    rows = fake.books[KEY].sheets["客户信息"].rows
    header = [str(h).lstrip("*").strip() for h in rows[0]]
    v = header.index("校验结果")
    for r in (3, 5, last):
        assert rows[r][i] and rows[r][v] in ("✓", "✗"), rows[r]
