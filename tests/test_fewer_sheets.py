"""A team with fewer sheets: a workbook with only 客户信息 runs with the bundled config unchanged. The
sheets marked optional are skipped with one warning each naming the rules, links and reminders that
need them, and `config check` lists what is inactive for the workbook it finds."""

from __future__ import annotations

from datetime import datetime

import openpyxl
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.job import run_job
from sheetcrm.sources.excel import ExcelSource

from .workbooks import demo_instance

NIGHT = datetime(2026, 11, 23, 2, 0)


def only_customers(tmp_path):
    config = demo_instance(tmp_path, rows=80, seed=8, today=NIGHT.date())
    wb = openpyxl.load_workbook(config.workbook_path)
    for name in list(wb.sheetnames):
        if name != "客户信息":
            del wb[name]
    wb.save(config.workbook_path)
    return config


def test_a_workbook_with_only_the_customers_sheet_runs_every_job(tmp_path):
    config = only_customers(tmp_path)
    night = run_job("nightly", config, now=NIGHT)
    assert night.outcome == "ok", night.error
    missing = [w for w in night.warnings if w.startswith("the workbook has no sheet")]
    assert [w.split("'")[1] for w in missing] == ["跟进记录", "需求反馈", "重复判定"]
    followups = next(w for w in missing if "'跟进记录'" in w)
    assert "rules.followups" in followups and "rules.links[0]" in followups
    requests = next(w for w in missing if "'需求反馈'" in w)
    assert "rules.assign[3]" in requests and "rules.triggers[2]" in requests
    table = ExcelSource(config.workbook_path, config).read("customers")
    assert set(table.status["validation"]) <= {"✓", "✗"} and len(table) == 80
    for job, hour in (("digest", 8), ("weekly_report", 7)):
        report = run_job(job, config, now=NIGHT.replace(hour=hour))
        assert report.outcome == "ok", (job, report.error)
    again = run_job("nightly", config, now=NIGHT.replace(day=24))
    assert again.outcome == "ok" and again.counts.get("rows_written", 0) < 80


def test_config_check_lists_what_is_inactive_and_why(tmp_path):
    config = only_customers(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config.base_dir / "config.toml"), "config",
                                      "check"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "未启用：工作簿里没有工作表“跟进记录”（可选）" in result.output
    assert "rules.followups" in result.output


def test_an_optional_sheet_the_team_used_is_not_skipped_when_it_goes_missing(tmp_path):
    """跟进记录 renamed by mistake: skipping it would send stale reminders from wrong data."""
    config = demo_instance(tmp_path, rows=40, seed=8, today=NIGHT.date())
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    wb = openpyxl.load_workbook(config.workbook_path)
    wb["跟进记录"].title = "跟进记录（旧）"
    wb.save(config.workbook_path)
    before = config.workbook_path.read_bytes()
    report = run_job("nightly", config, now=NIGHT.replace(day=24))
    assert report.outcome == "failed"
    assert "no sheet '跟进记录' any more, though the last runs read it" in (report.error or "")
    assert config.workbook_path.read_bytes() == before
