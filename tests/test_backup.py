"""The backup job and `sheetcrm restore`: real archives of a real workbook and SQLite store, plain
and encrypted, retention, and restoring in place and into a folder."""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from sheetcrm.backup import BackupError, archives, make_archive, read_archive, restore
from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.demo import generate_demo
from sheetcrm.job import run_job
from sheetcrm.store import Store

from .conftest import ROOT

NOW = datetime(2026, 11, 23, 3, 0)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def example(tmp_path) -> Config:
    """The example instance after a nightly run: a workbook and a store with runs in it."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("keep_archives = 14", "keep_archives = 3")
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "config.toml")
    generate_demo(config, config.workbook_path, rows=40, seed=5, today=NOW.date())
    assert run_job("nightly", config, now=NOW.replace(hour=2)).outcome == "ok"
    return config


def with_key(config: Config, monkeypatch, key: bytes | None = None) -> tuple[Config, bytes]:
    text = (config.base_dir / "config.toml").read_text(encoding="utf-8")
    text = text.replace('# key_env = "SHEETCRM_BACKUP_KEY"', 'key_env = "SHEETCRM_BACKUP_KEY"')
    (config.base_dir / "config.toml").write_text(text, encoding="utf-8")
    key = key or Fernet.generate_key()
    monkeypatch.setenv("SHEETCRM_BACKUP_KEY", key.decode())
    return load_config(config.base_dir / "config.toml"), key


def test_the_backup_job_archives_workbook_store_and_config(example, tmp_path):
    config = example
    report = run_job("backup", config, now=NOW)
    assert report.outcome == "ok", report.error
    (path,) = archives(config)
    assert path.name == "sheetcrm-20261123-030000.zip"
    info = read_archive(path, None)
    assert {f.role for f in info.files} == {"workbook", "store", "config"}
    with zipfile.ZipFile(path) as zf:
        assert zf.read("workbook/customers.xlsx") == config.workbook_path.read_bytes()
        zf.extract("store/sheetcrm.sqlite", tmp_path / "x")
    with sqlite3.connect(tmp_path / "x" / "store" / "sheetcrm.sqlite") as db:
        jobs = [r[0] for r in db.execute("SELECT job FROM runs ORDER BY id")]
    assert jobs == ["nightly", "backup"]  # a consistent copy, taken while the backup run was open
    db.close()


def test_encrypted_archives_need_the_key_and_refuse_damage(example, monkeypatch, tmp_path):
    config, key = with_key(example, monkeypatch)
    archive = make_archive(config, now=NOW, key=key)
    assert archive.path.name.endswith(".zip.enc") and archive.encrypted
    raw = archive.path.read_bytes()
    assert b"PK" not in raw[:64] and "客户信息".encode() not in raw
    assert read_archive(archive.path, key).files[0].role == "workbook"
    with pytest.raises(BackupError, match="wrong key"):
        read_archive(archive.path, Fernet.generate_key())
    with pytest.raises(BackupError, match="is encrypted"):
        read_archive(archive.path, None)
    cut = tmp_path / "cut.zip.enc"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BackupError, match="cut short|damaged|wrong key"):
        read_archive(cut, key)
    done = restore(archive.path, config, key=key, to=tmp_path / "out", now=NOW)
    assert sha(tmp_path / "out" / "customers.xlsx") == sha(config.workbook_path)
    assert {d.name for _, d in done} == {"customers.xlsx", "sheetcrm.sqlite", "config.toml"}


def test_a_configured_key_that_is_missing_fails_instead_of_writing_plain(example, monkeypatch):
    config, _ = with_key(example, monkeypatch)
    monkeypatch.delenv("SHEETCRM_BACKUP_KEY")
    report = run_job("backup", config, now=NOW)
    assert report.outcome == "failed" and "SHEETCRM_BACKUP_KEY" in (report.error or "")
    assert archives(config) == []
    monkeypatch.setenv("SHEETCRM_BACKUP_KEY", "not-a-key")
    assert "not hold a Fernet key" in (run_job("backup", config, now=NOW).error or "")


def test_only_the_newest_archives_are_kept(example):
    for i in range(5):
        make_archive(example, now=NOW + timedelta(days=i), key=None)
    assert [p.name for p in archives(example)] == [
        "sheetcrm-20261127-030000.zip", "sheetcrm-20261126-030000.zip",
        "sheetcrm-20261125-030000.zip"]  # fmt: skip


def test_restore_in_place_puts_back_the_workbook_and_store_and_keeps_the_current(example):
    config = example
    archive = make_archive(config, now=NOW, key=None).path
    original = sha(config.workbook_path)
    store_file = Path(config.store_url.removeprefix("sqlite:///"))
    assert run_job("nightly", config, now=NOW.replace(day=24)).outcome == "ok"
    damaged = b"not a workbook any more"
    config.workbook_path.write_bytes(damaged)

    lock = config.workbook_path.with_name(".~lock.customers.xlsx#")
    lock.write_text("王明,wm,host,2026-11-23;", encoding="utf-8")
    with pytest.raises(BackupError, match="open by 王明"):
        restore(archive, config, key=None, now=NOW)
    assert config.workbook_path.read_bytes() == damaged  # nothing replaced
    lock.unlink()
    running = Store(config.store_url)
    assert running.acquire("nightly", now=datetime.now())
    with pytest.raises(BackupError, match="a job is running \\(nightly"):
        restore(archive, config, key=None, now=NOW)
    running.release("nightly")
    running.engine.dispose()

    result = CliRunner().invoke(cli, ["--config", str(config.base_dir / "config.toml"), "restore",
                                      str(archive), "--yes"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "workbook/customers.xlsx" in result.output and "restored" in result.output
    assert sha(config.workbook_path) == original
    assert [r["job"] for r in Store(config.store_url).runs()] == ["nightly"]  # before the 24th
    (aside,) = (config.base_dir / "backups").glob("before-restore-*")
    assert (aside / "customers.xlsx").read_bytes() == damaged
    assert (aside / store_file.name).is_file()


def test_restore_lists_and_asks_before_changing_anything(example):
    config = example
    archive = make_archive(config, now=NOW, key=None).path
    before = sha(config.workbook_path)
    base = ["--config", str(config.base_dir / "config.toml"), "restore"]
    listing = CliRunner().invoke(cli, base)
    assert archive.name in listing.output
    answer_no = CliRunner().invoke(cli, [*base, str(archive)], input="n\n")
    assert "nothing was restored" in answer_no.output and sha(config.workbook_path) == before
    assert "sha256" in answer_no.output and "store/sheetcrm.sqlite" in answer_no.output
