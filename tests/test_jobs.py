"""Jobs: the README's first command end to end on a fresh copy of the example instance, and every way
a run can end (ok, failed, stopped, skipped, dry run) recorded in the store."""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.errors import ConfigError
from sheetcrm.job import load_job, run_job
from sheetcrm.store import Store

from .conftest import ROOT

NIGHT = datetime(2026, 11, 23, 2, 0)
MORNING = datetime(2026, 11, 23, 8, 0)


def fresh_instance(tmp_path: Path) -> Path:
    """A copy of the bundled example instance as a new user has it: config.toml and jobs/."""
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "config.toml"


def invoke(config_path: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config_path), *args], catch_exceptions=False)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def status_column(path: Path, config: Config, sheet_key: str, status_key: str) -> dict[str, str]:
    """{record ID: the status cell} of a sheet, re-read from the file."""
    sheet = config.sheet(sheet_key)
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = wb[sheet.name].iter_rows(values_only=True)
        header = [str(h or "").lstrip("*").strip() for h in next(rows)]
        id_col = header.index(sheet.field(sheet.id_field).label)
        col = header.index(next(s.label for s in sheet.status if s.key.value == status_key))
        return {str(r[id_col]): str(r[col] or "") for r in rows if r[id_col]}
    finally:
        wb.close()


def test_the_readme_first_command_runs_nightly_and_digest_on_the_example(tmp_path):
    config_path = fresh_instance(tmp_path)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "sheetcrm run nightly digest" in readme  # the command this test stands for
    env = {**os.environ, "SHEETCRM_CONFIG": str(config_path)}
    exe = Path(sys.executable).parent / "sheetcrm"
    subprocess.run([exe, "demo", "--if-missing", "--today", "2026-11-23", "--rows", "300"], env=env,
                   check=True, capture_output=True, cwd=tmp_path)  # fmt: skip
    proc = subprocess.run([exe, "run", "nightly", "digest", "--now", "2026-11-23T08:00"], env=env,
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "nightly（2026-11-23 08:00）：完成" in out and "digest（2026-11-23 08:00）：完成" in out
    assert "已检查 客户信息 300" in out and "发送" in out
    # cron-style log: one line per step with counts and seconds, on stderr
    assert "nightly: read" in proc.stderr and "nightly: write" in proc.stderr

    config = load_config(config_path)
    workbook = config.workbook_path
    validation = status_column(workbook, config, "customers", "validation")
    assert len(validation) == 300 and set(validation.values()) <= {"✓", "✗"}
    with (tmp_path / "data" / "customers.truth.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    planted = {
        t["record_id"] for t in truth if t["sheet"] == "customers" and t["kind"] == "problem"
    }
    assert planted and all(validation[rid] == "✗" for rid in planted)
    clean = set(validation) - {t["record_id"] for t in truth if t["sheet"] == "customers"}
    assert clean and all(validation[rid] == "✓" for rid in clean)
    problems = status_column(workbook, config, "customers", "problems")
    assert all(problems[rid] for rid in planted)

    mails = sorted((tmp_path / "outbox").glob("*.eml"))
    assert mails
    people = {p.email for p in config.people}
    addresses = {str(v) for v in pd.read_excel(workbook, sheet_name="客户信息", engine="calamine",
                                               dtype=object)["电子邮箱"].dropna()}  # fmt: skip
    digests = 0
    for m in mails:
        msg = email.message_from_bytes(m.read_bytes(), policy=email.policy.default)
        (to,) = [a.addr_spec for a in msg["To"].addresses]
        if to in people:  # a person's digest
            assert str(msg["Subject"]).startswith("sheetcrm 每日摘要 2026-11-23")
            digests += 1
        else:  # a customer's own mail (welcome, satisfaction), to an address from the sheet
            assert to in addresses
    assert digests >= 1
    store = Store(config.store_url)
    runs = store.runs()
    assert [(r["job"], r["outcome"]) for r in runs] == [("digest", "ok"), ("nightly", "ok")]
    nightly = json.loads(runs[1]["counts"])
    assert nightly["customers"]["rows"] == 300
    assert nightly["rows_written"] >= 300 and nightly["notifications"] > 0
    assert json.loads(runs[0]["counts"])["mails_sent"] == len(mails)

    # again on the unchanged workbook: nothing written, nothing sent twice
    before = sha(workbook)
    again = invoke(config_path, "run", "nightly", "digest", "--now", "2026-11-23T09:00")
    assert again.exit_code == 0, again.output
    assert sha(workbook) == before
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(mails)
    assert "工作簿没有改动" in again.output and "没有要发送的" in again.output

    listing = invoke(config_path, "runs")
    assert listing.output.count("\tok\t") == 4 and "nightly" in listing.output


@pytest.fixture
def example(tmp_path) -> Config:
    config_path = fresh_instance(tmp_path)
    config = load_config(config_path)
    from sheetcrm.demo import generate_demo

    generate_demo(config, config.workbook_path, rows=60, seed=3, today=NIGHT.date())
    return config


def test_a_locked_workbook_fails_the_run_clearly_and_the_next_run_works(example):
    config = example
    lock = config.workbook_path.with_name("~$" + config.workbook_path.name)
    lock.write_bytes(b"\x05alice" + b"\x00" * 60)
    before = sha(config.workbook_path)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "failed" and "is open by" in (report.error or "")
    assert sha(config.workbook_path) == before
    store = Store(config.store_url)
    failed = store.runs("nightly")[0]
    assert failed["outcome"] == "failed" and "is open by" in failed["warnings"]
    assert store.snapshot("customers").hashes.empty  # nothing of the run was committed
    assert store.holder("nightly") is None  # the lock was released
    lock.unlink()
    report = run_job("nightly", config, now=NIGHT.replace(hour=3))
    assert report.outcome == "ok" and sha(config.workbook_path) != before
    assert len(store.snapshot("customers").hashes) == 60


def test_a_dry_run_writes_sends_and_records_nothing(example):
    config = example
    before = sha(config.workbook_path)
    for name in ("nightly", "digest", "backup"):
        report = run_job(name, config, now=NIGHT, dry_run=True)
        assert report.outcome == "dry-run", report.error
        assert report.run_id is None
    assert sha(config.workbook_path) == before
    assert not (config.base_dir / "state").exists()
    assert not (config.base_dir / "outbox").exists()
    assert not config.path(config.backup.archive_dir).exists()


def test_a_second_run_is_skipped_while_the_first_holds_the_lock(example):
    config = example
    other = Store(config.store_url)
    other.owner = "other-machine:42"
    assert other.acquire("nightly", now=datetime.now())
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "skipped" and "other-machine:42" in (report.error or "")
    assert Store(config.store_url).runs("nightly")[0]["outcome"] == "skipped"
    result = invoke(config.base_dir / "config.toml", "run", "nightly", "--now", "2026-11-23T02:00")
    assert result.exit_code == 1 and "already running" in result.output


def test_a_team_job_file_is_found_and_a_broken_one_is_named(example):
    config = example
    (config.base_dir / "jobs" / "count.py").write_text(
        "def run(job):\n    tables = job.read()\n    job.say(f'rows {len(tables[\"customers\"])}')\n",
        encoding="utf-8",
    )
    report = run_job("count", config, now=NIGHT)
    assert report.outcome == "ok" and report.lines == ["rows 60"]
    (config.base_dir / "jobs" / "broken.py").write_text("def run(job)\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.py cannot be loaded: SyntaxError"):
        load_job("broken", config)
    with pytest.raises(ConfigError, match=r"no job 'weekly'.*known jobs: .*nightly"):
        load_job("weekly", config)
    assert run_job("weekly", config, now=NIGHT).outcome == "failed"


def test_a_bug_in_a_job_is_recorded_and_does_not_escape(example, capsys):
    config = example
    (config.base_dir / "jobs" / "buggy.py").write_text(
        "def run(job):\n    job.say('started')\n    raise ValueError('boom')\n", encoding="utf-8"
    )
    report = run_job("buggy", config, now=NIGHT)
    assert report.outcome == "failed" and report.error == "ValueError: boom"
    assert "Traceback" in capsys.readouterr().err
    run = Store(config.store_url).runs("buggy")[0]
    assert run["outcome"] == "failed" and "boom" in run["warnings"]
    assert json.loads(run["counts"])["summary"] == ["started"]
