"""What a real machine does to a run: a lock left by a killed process, a lock renewed while its job
works, a full disk while the backup is written, folders and workbooks made read-only on purpose, a
database driver that is not installed, a restore of an archive taken while the backup job ran."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetcrm.backup import archives, make_archive, restore
from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.demo import generate_demo
from sheetcrm.errors import ConfigError
from sheetcrm.job import run_job
from sheetcrm.processes import machine, process_started
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.store import Store

from .conftest import ROOT
from .workbooks import demo_instance

NIGHT = datetime(2026, 11, 23, 2, 0)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def example(tmp_path) -> Config:
    return demo_instance(tmp_path, rows=60, seed=4, today=NIGHT.date())


def dead_pid() -> int:
    """The PID of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- the run lock ---------------------------------------------------------------------------------
def test_a_lock_left_by_a_killed_process_on_this_machine_is_taken_over_at_once(example):
    config = example
    killed = Store(config.store_url)
    killed.owner = f"{machine()}:{dead_pid()}:12345:deadbeef"
    wall = datetime.now()
    assert killed.acquire("nightly", now=wall)
    run = killed.start_run("nightly", now=NIGHT)
    killed.record_progress(run, {"step": "plan", "steps": {"read": 0.4}})
    report = run_job("nightly", config, now=NIGHT)  # minutes later, not hours
    assert report.outcome == "ok", report.error
    runs = {r["id"]: r for r in Store(config.store_url).runs("nightly")}
    assert runs[run]["outcome"] == "interrupted"
    assert "during the step 'plan' after finishing read" in runs[run]["warnings"]


def test_a_live_holder_keeps_its_lock_by_its_heartbeat_and_a_silent_one_expires(example):
    config = example
    holder, other = Store(config.store_url), Store(config.store_url)
    ttl = timedelta(seconds=0.6)
    with holder.locked("nightly", now=datetime.now(), ttl=ttl):
        time.sleep(1.5)  # more than twice the lock's life: only the heartbeat keeps it
        assert not other.acquire("nightly", now=datetime.now(), ttl=ttl)
    assert holder.holder("nightly") is None
    far = Store(config.store_url)
    far.owner = "another-host:4242:999:cafe"  # alive as far as we can tell, but silent
    assert far.acquire("nightly", now=datetime.now(), ttl=ttl)
    assert not other.acquire("nightly", now=datetime.now(), ttl=ttl)
    time.sleep(0.7)
    assert other.acquire("nightly", now=datetime.now(), ttl=ttl)


def test_a_reused_pid_does_not_keep_a_dead_runners_lock(example):
    config = example
    me = os.getppid()  # alive, but started at another time than the lock says
    stale = Store(config.store_url)
    stale.owner = f"{machine()}:{me}:{(process_started(me) or 0) + 1}:0ld"
    assert stale.acquire("nightly", now=datetime.now())
    assert Store(config.store_url).acquire("nightly", now=datetime.now())


# -- a full disk ----------------------------------------------------------------------------------
@contextlib.contextmanager
def full_disk(folder: Path, size_kb: int = 24):
    """`folder` on a tiny file system of its own that fills up (a tmpfs: the kernel's own ENOSPC).
    Mounting needs root, which CI and this project's machines have."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)], check=True
    )
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_during_the_workbook_backup_leaves_nothing_and_says_so(example):
    config = example
    backups = config.path(config.backup.dir)
    before = sha(config.workbook_path)
    with full_disk(backups):
        report = run_job("nightly", config, now=NIGHT)
        assert report.outcome == "failed"
        assert (
            report.error == f"disk full while writing the backup to {backups}; nothing was written"
        )
        assert list(backups.iterdir()) == []  # no damaged or empty backup under any name
    assert sha(config.workbook_path) == before
    assert [p.name for p in config.workbook_path.parent.iterdir() if p.name.startswith(".")] == []
    again = run_job("nightly", config, now=NIGHT)  # room again: the next run does it all
    assert again.outcome == "ok" and again.counts["rows_written"] > 0


def test_a_full_disk_during_the_archive_leaves_nothing_and_says_so(example):
    config = example
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    folder = config.path(config.backup.archive_dir)
    with full_disk(folder, size_kb=48):
        report = run_job("backup", config, now=NIGHT.replace(hour=3))
        assert report.outcome == "failed"
        assert report.error.startswith(f"disk full while writing the backup to {folder}")
        assert list(folder.iterdir()) == []
    assert run_job("backup", config, now=NIGHT.replace(hour=3)).outcome == "ok"
    (archive,) = archives(config)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None


def test_an_archive_killed_before_its_name_leaves_nothing_the_next_one_keeps(example):
    config = example
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    env = {**os.environ, "SHEETCRM_CRASH_AT": "archive-staged"}
    killed = subprocess.run([sys.executable, "-m", "sheetcrm.cli", "--config",
                             str(config.base_dir / "config.toml"), "run", "backup"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert killed.returncode == -9
    folder = config.path(config.backup.archive_dir)
    assert archives(config) == [] and any(p.name.startswith(".backup-") for p in folder.iterdir())
    assert run_job("backup", config, now=NIGHT.replace(hour=3)).outcome == "ok"
    assert [p.name for p in folder.iterdir()] == ["sheetcrm-20261123-030000.zip"]


# -- read-only on purpose -------------------------------------------------------------------------
def test_a_read_only_workbook_is_refused_not_replaced(example):
    config = example
    config.workbook_path.chmod(0o444)
    before = sha(config.workbook_path)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "failed"
    assert report.error.startswith("workbook 'customers.xlsx' is read-only; nothing was written")
    assert (
        sha(config.workbook_path) == before and config.workbook_path.stat().st_mode & 0o777 == 0o444
    )


@pytest.mark.parametrize("folder", ["data", "backups", "state"])
def test_a_read_only_folder_gets_one_sentence_naming_it(example, folder):
    config = example
    path = config.base_dir / folder
    path.mkdir(exist_ok=True)
    if folder == "state":
        Store(config.store_url).engine.dispose()  # the store exists; its folder is then locked
    path.chmod(0o555)
    try:
        result = CliRunner().invoke(cli, ["--config", str(config.base_dir / "config.toml"), "run",
                                          "nightly", "--now", NIGHT.isoformat()])  # fmt: skip
    finally:
        path.chmod(0o755)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{path} is read-only" in result.output, result.output


# -- the state store ------------------------------------------------------------------------------
def test_a_store_url_whose_driver_is_missing_fails_at_load_naming_the_extra(example, monkeypatch):
    config = example
    monkeypatch.setitem(sys.modules, "psycopg", None)  # not installed, whatever this machine has
    text = (config.base_dir / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///state/sheetcrm.sqlite"',
                        'url = "postgresql+psycopg://crm@db.example/crm"')  # fmt: skip
    (config.base_dir / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"store\.url.*pip install 'sheetcrm\[postgres\]'"):
        load_config(config.base_dir / "config.toml")
    result = CliRunner().invoke(cli, ["--config", str(config.base_dir / "config.toml"), "config",
                                      "check"])  # fmt: skip
    assert result.exit_code == 1 and "sheetcrm[postgres]" in result.output


def test_a_restored_archive_brings_back_no_lock_and_no_running_run(example):
    config = example
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    assert run_job("backup", config, now=NIGHT.replace(hour=3)).outcome == "ok"
    (archive,) = archives(config)
    restore(archive, config, key=None, now=NIGHT.replace(hour=9))
    store = Store(config.store_url)
    assert store.active_locks(datetime.now()) == [] and store.holder("backup") is None
    assert all(r["outcome"] for r in store.runs())  # none shows "running"
    assert run_job("backup", config, now=NIGHT.replace(hour=4, day=24)).outcome == "ok"
    assert len(archives(config)) == 2
    make_archive(config, now=NIGHT.replace(hour=5, day=24), key=None)  # and by hand, too


# -- bad input that used to wedge the store or change what a person typed ------------------------
def copy_row(path: Path, sheet_name: str, row: int) -> int:
    """Append a copy of `row` (ID and all), as a person copying a row does; returns its row number."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    ws = wb[sheet_name]
    ws.append([c.value for c in ws[row]])
    wb.save(path)
    return ws.max_row


def test_a_copied_row_with_its_id_is_flagged_on_both_rows_and_the_run_finishes(example):
    config = example
    sheet = config.sheet("customers")
    copy = copy_row(config.workbook_path, sheet.name, 3)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "ok", report.error
    table = ExcelSource(config.workbook_path, config).read("customers")
    rid = table.ids[3]
    assert table.ids[copy] == rid
    for row in (3, copy):
        assert table.status.at[row, "validation"] == "✗"
        assert f'客户ID 重复："{rid}" 出现在第 3、{copy} 行' in table.status.at[row, "problems"]
    for day in (24, 25):  # later nights on the unchanged sheet: the store took the first commit
        later = run_job("nightly", config, now=NIGHT.replace(day=day))
        assert later.outcome == "ok", later.error
        assert "changed" not in later.counts.get("events", {})
    kinds = [e["kind"] for e in Store(config.store_url).history(rid, "customers")]
    assert kinds[0] == "created" and "changed" not in kinds


@pytest.mark.parametrize("typed_name", ["马云", "周杰"])  # not a person; a person of another role
def test_an_invalid_owner_is_reported_never_overwritten(example, typed_name):
    import openpyxl

    config = example
    sheet = config.sheet("customers")
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb[sheet.name]
    header = [str(c.value or "").lstrip("*").strip() for c in ws[1]]
    col = header.index(sheet.field("owner").label) + 1
    for row in range(2, ws.max_row + 1):
        ws.cell(row, col).value = typed_name  # every customer: the assignment rule would match some
    wb.save(config.workbook_path)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "ok", report.error
    table = ExcelSource(config.workbook_path, config).read("customers")
    assert set(table.frame["owner"]) == {typed_name}  # what people typed, untouched
    assert (table.status["validation"] == "✗").all()
    assert table.status["problems"].str.contains(f'负责人: "{typed_name}"').all()
    said = {"马云": "不是团队成员", "周杰": "是客服，负责人只能填销售或销售经理"}[typed_name]
    assert table.status["problems"].str.contains(said).all()  # who may be entered (#27 item 4)
    events = Store(config.store_url).events()
    assert not [e for e in events if e["kind"] == "rule" and e["field"] == "owner"]


def test_a_sheet_whose_only_field_is_its_id_under_a_numeric_header(tmp_path):
    import tomllib

    import openpyxl

    from sheetcrm.config import parse_config

    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["sheets"].append({"key": "tags", "name": "标签", "id_field": "tag_id", "id_prefix": "T",
                          "fields": [{"key": "tag_id", "label": "123"}],
                          "status": raw["sheets"][0]["status"][:2]})  # fmt: skip
    config = parse_config(raw, base_dir=tmp_path)
    generate_demo(config, config.workbook_path, rows=20, seed=1, today=NIGHT.date())
    wb = openpyxl.load_workbook(config.workbook_path)
    del wb["标签"]
    ws = wb.create_sheet("标签")
    for row in ([123], ["T000001"], ["T000002"], ["T000001"]):  # the header typed as a number
        ws.append(row)
    wb.save(config.workbook_path)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "ok", report.error
    table = ExcelSource(config.workbook_path, config).read("tags")
    assert table.status["validation"].to_dict() == {2: "✗", 3: "✓", 4: "✗"}
    assert run_job("nightly", config, now=NIGHT.replace(day=24)).outcome == "ok"


def test_a_first_run_killed_while_creating_the_store_leaves_it_usable(example):
    """SQLite commits each CREATE TABLE at once: a first run killed in between leaves the tables
    without the schema version row (found by benchmarks/kill_loop.py)."""
    import sqlite3

    from sheetcrm.store import SCHEMA_VERSION, sqlite_file

    config = example
    Store(config.store_url).engine.dispose()
    with sqlite3.connect(sqlite_file(config.store_url)) as db:
        db.execute("DELETE FROM meta")
    assert Store(config.store_url).schema_version == SCHEMA_VERSION
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"


def test_a_first_release_store_whose_upgrade_was_killed_is_upgraded_on_the_next_open(tmp_path):
    """The upgrade created the new tables (meta among them) and was killed before the version
    row: the runs table without v2's columns says it is still the first release's."""
    import sqlite3

    from sqlalchemy import inspect

    from sheetcrm.store import SCHEMA_VERSION

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, job VARCHAR(64) NOT NULL, "
                     "started DATETIME NOT NULL, finished DATETIME, outcome VARCHAR(32), counts TEXT)")  # fmt: skip
        conn.execute("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)")
    store = Store(f"sqlite:///{db}")
    assert store.schema_version == SCHEMA_VERSION
    assert {"plan_key", "warnings"} <= {
        c["name"] for c in inspect(store.engine).get_columns("runs")
    }


def test_only_this_machines_dead_leftovers_are_removed(example):
    """A share may hold another machine's write in progress: only a temporary file of a process of
    this machine that is gone is removed."""
    config = example
    folder = config.workbook_path.parent
    mine = folder / f".customers.xlsx.sheetcrm-{machine()}-{dead_pid()}.tmp"
    theirs = folder / ".customers.xlsx.sheetcrm-other-host.example.com-4242.tmp"
    for path in (mine, theirs):
        path.write_bytes(b"half a workbook")
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    assert not mine.exists() and theirs.exists()


def test_a_copied_row_with_its_id_cleared_points_at_the_original(example):
    """What the duplicate-ID message says to do: clear the copy's ID. The copy gets a new ID and is
    the duplicate; the original is never marked with an empty "original" (found by a new user)."""
    import openpyxl

    config = example
    sheet = config.sheet("customers")
    copy = copy_row(config.workbook_path, sheet.name, 3)
    wb = openpyxl.load_workbook(config.workbook_path)
    wb[sheet.name].cell(copy, 1).value = None  # 客户ID is the first column of the template
    wb.save(config.workbook_path)
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    table = ExcelSource(config.workbook_path, config).read("customers")
    original, new = table.ids[3], table.ids[copy]
    assert new and new != original
    assert table.status.at[3, "duplicate_of"] in ("", None)
    assert table.status.at[copy, "duplicate_of"] == original


def test_a_journal_table_without_its_newer_columns_gets_them(tmp_path):
    """A store made while the journal did not yet name its workbook (an earlier build of this
    version) is brought up to date when opened, instead of every job failing on a missing column."""
    import sqlite3

    from sqlalchemy import inspect

    db = tmp_path / "s.sqlite"
    Store(f"sqlite:///{db}").engine.dispose()
    with sqlite3.connect(db) as conn:
        for column in ("source", "proof"):
            conn.execute(f"ALTER TABLE pending_commits DROP COLUMN {column}")
    store = Store(f"sqlite:///{db}")
    assert {"source", "proof"} <= {
        c["name"] for c in inspect(store.engine).get_columns("pending_commits")
    }
    assert store.pending() == []


def test_a_save_by_someone_while_sheetcrm_writes_is_never_overwritten(example, monkeypatch):
    """The last look for edits is the backup's check against the fingerprint read: someone saving
    the workbook while the new one is written keeps their save, and no backup is left."""
    import openpyxl

    config = example
    real = ExcelSource._rewrite

    def rewrite_while_someone_saves(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        out = real(self, *args, **kwargs)
        wb = openpyxl.load_workbook(self.path)
        wb["客户信息"]["B2"] = "刚刚改过的名字有限公司"
        wb.save(self.path)
        return out

    monkeypatch.setattr(ExcelSource, "_rewrite", rewrite_while_someone_saves)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "failed" and "was saved by someone while sheetcrm was writing" in (
        report.error or ""
    )
    wb = openpyxl.load_workbook(config.workbook_path)
    assert wb["客户信息"]["B2"].value == "刚刚改过的名字有限公司"
    backups = config.path(config.backup.dir)
    assert not backups.exists() or list(backups.iterdir()) == []
    assert [p.name for p in config.workbook_path.parent.iterdir() if p.name.startswith(".")] == []
