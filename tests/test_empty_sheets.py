"""A sheet with its header row and no data (every fresh template, every demo's 重复判定) is an empty
table in every source: a workbook, a Google Sheet and the file an import reads. On pandas 2.x this
crashed the read ("Must pass non-zero number of levels/codes"), so `sheetcrm run nightly` failed on
a team's first night; CI runs this at the lowest versions pyproject allows (.ci/lowest.txt)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import openpyxl
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.config import load_config
from sheetcrm.job import run_job
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.sources.gsheet import GSheetSource
from sheetcrm.templates import build_template

from .conftest import ROOT
from .fake_sheets import FakeSheets

NOW = datetime(2026, 11, 23, 2, 0)
KEY = "1EmptySheetsKey_abc"


def fresh_instance(folder):
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml")
    build_template(config, config.workbook_path)  # every sheet: headers, no rows
    return config


def test_a_fresh_template_reads_as_empty_tables_and_the_nightly_job_runs(tmp_path):
    config = fresh_instance(tmp_path)
    tables = ExcelSource(config.workbook_path, config).read_sheets([s.key for s in config.sheets])
    for sheet in config.sheets:
        table = tables[sheet.key]
        assert len(table) == 0 and table.ids.empty
        assert sheet.id_field in table.frame.columns  # the columns are there, only the rows are not
    report = run_job("nightly", config, now=NOW)
    assert report.outcome == "ok", report.error
    assert report.counts["customers"]["rows"] == 0


def test_an_empty_google_sheet_is_an_empty_table(tmp_path):
    config = fresh_instance(tmp_path)
    wb = openpyxl.load_workbook(config.workbook_path)
    grid = {ws.title: [[c.value or "" for c in row] for row in ws.iter_rows(max_row=1)]
            for ws in wb.worksheets}  # fmt: skip
    fake = FakeSheets.start()
    try:
        fake.add_spreadsheet(KEY, grid)
        (tmp_path / "sa.json").write_text(json.dumps({"type": "service_account",
                                                      "client_email": "bot@example.iam.gserviceaccount.com"}))  # fmt: skip
        text = (tmp_path / "config.toml").read_text(encoding="utf-8")
        text = text.replace('source = "data/customers.xlsx"', f'source = "gsheet://{KEY}"')
        text = text.replace("[store]", f'[gsheet]\ncredentials = "sa.json"\nendpoint = "{fake.url}"'
                            "\n\n[store]")  # fmt: skip
        (tmp_path / "config.toml").write_text(text, encoding="utf-8")
        config = load_config(tmp_path / "config.toml")
        tables = GSheetSource(KEY, config).read_sheets([s.key for s in config.sheets])
        assert all(len(t) == 0 for t in tables.values())
        report = run_job("nightly", config, now=NOW)
        assert report.outcome == "ok", report.error
    finally:
        fake.stop()


def test_an_import_into_an_empty_workbook_and_from_a_header_only_file(tmp_path):
    config = fresh_instance(tmp_path)
    legacy = tmp_path / "legacy.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["公司名称", "手机", "姓名"])  # headers only: nothing to bring in
    wb.save(legacy)
    runner = CliRunner()
    args = [
        "--config",
        str(tmp_path / "config.toml"),
        "import",
        str(legacy),
        "--now",
        NOW.isoformat(),
    ]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    wb.active.append(["上海新锐科技有限公司", "13812345678", "张三"])
    wb.save(legacy)
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    table = ExcelSource(config.workbook_path, config).read("customers")
    assert table.frame["name"].tolist() == ["上海新锐科技有限公司"]
