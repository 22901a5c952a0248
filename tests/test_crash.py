"""A crash at any moment leaves the next run able to go on: the nightly job is killed (SIGKILL, as
kill -9 does) at each named point of its write (sheetcrm/faults.py), then run again; the workbook,
the history, the notifications and the snapshots must equal those of a run that was never
interrupted, the next run must not be refused, and nothing of the killed run may be left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from sheetcrm.config import Config
from sheetcrm.demo import generate_demo
from sheetcrm.store import Store, snapshots

from .workbooks import demo_instance

NIGHT = datetime(2026, 11, 23, 2, 0)
POINTS = ["before-backup", "before-swap", "after-swap", "after-commit"]


def instance(folder: Path) -> Config:
    return demo_instance(folder, rows=120, seed=5, today=NIGHT.date())


def nightly(config: Config, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SHEETCRM_CRASH_AT"}
    if crash_at:
        env["SHEETCRM_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "sheetcrm.cli", "--config", str(config.base_dir / "config.toml"),
         "run", "nightly", "--now", NIGHT.isoformat()],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def state(config: Config) -> dict[str, object]:
    """What a run leaves behind that a person or the next run relies on (run IDs left out)."""
    store = Store(config.store_url)
    with CalamineWorkbook.from_path(str(config.workbook_path)) as wb:
        cells = {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}
    with store.engine.connect() as conn:
        snaps = sorted(conn.execute(select(snapshots.c.sheet, snapshots.c.record_id,
                                           snapshots.c.row_hash, snapshots.c.data)).all())  # fmt: skip
    store.engine.dispose()
    return {
        "workbook": cells,
        "history": sorted(
            (
                e["sheet"],
                e["record_id"],
                e["kind"],
                e["field"] or "",
                e["old"] or "",
                e["new"] or "",
            )
            for e in store.events()
        ),  # fmt: skip
        "notifications": sorted(
            (n["key"], n["kind"], n["recipient"], n["status"], n["subject"])
            for n in store.notifications()
        ),  # fmt: skip
        "snapshots": snaps,
        "round_robin": {k: store.get(k) for k in ("round_robin:customers:华东销售部",)},
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, object]:
    config = instance(tmp_path_factory.mktemp("uninterrupted") / "team")
    done = nightly(config)
    assert done.returncode == 0, done.stdout + done.stderr
    return state(config)


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_each_point_of_its_write_is_finished_by_the_next(
    point, tmp_path, reference
):
    config = instance(tmp_path / "team")
    before = config.workbook_path.read_bytes()
    killed = nightly(config, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    if point in ("before-backup", "before-swap"):
        assert (
            config.workbook_path.read_bytes() == before
        )  # not swapped: the file as people left it
    again = nightly(config)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipped" not in again.stdout  # the dead run's lock was taken over at once
    assert state(config) == reference
    leftovers = [p.name for p in config.workbook_path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the killed run's temporary workbook is gone
    backups = sorted(config.path(config.backup.dir).iterdir())
    assert backups and all(not p.name.startswith(".") for p in backups)
    for backup in backups:  # every backup under a real name reads back whole
        with zipfile.ZipFile(backup) as zf:
            assert zf.testzip() is None
    runs = Store(config.store_url).runs("nightly")
    if point == "after-commit":  # everything was recorded: that run did its work
        assert [r["outcome"] for r in runs] == ["ok", "ok"]
        return
    assert [r["outcome"] for r in runs] == ["ok", "interrupted"]
    warning = json.loads(runs[1]["warnings"])[0]
    assert warning.startswith("interrupted")
    if point == "before-backup":
        assert "during the step 'write'" in warning and "after finishing read, plan" in warning


def test_a_journal_of_a_run_still_at_work_is_left_to_it(tmp_path, reference):
    """Another job (the weekly report) reading while the nightly holds its lock must not finish or
    drop the nightly's journal: only a run whose lock is free or dead is finished by others."""
    from sheetcrm.job import run_job

    config = instance(tmp_path / "team")
    assert nightly(config, crash_at="after-swap").returncode == -signal.SIGKILL
    busy = Store(config.store_url)
    busy.owner = "another-host:4242:999:cafe"  # alive as far as this machine can tell
    busy.release("nightly")
    busy.engine.dispose()
    with Store(config.store_url).engine.begin() as conn:  # the dead run's lock now another's
        from sheetcrm.store import locks

        conn.execute(locks.delete())
    assert busy.acquire("nightly", now=datetime.now())
    assert run_job("weekly_report", config, now=NIGHT.replace(hour=7)).outcome == "ok"
    assert len(Store(config.store_url).pending()) == 1  # untouched
    busy.release("nightly")
    assert nightly(config).returncode == 0
    assert Store(config.store_url).pending() == []
    after = state(config)  # the report job queued its own mails; the rest is the nightly's
    after["notifications"] = [n for n in after["notifications"] if n[1] != "report"]
    assert after == reference


def edit_a_cell(config: Config) -> None:
    """A person adds a note in a column nobody configured, and saves (the file's bytes change)."""
    import openpyxl

    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    ws.cell(1, ws.max_column + 1).value = "备忘（个人）"
    wb.save(config.workbook_path)


def test_a_journal_is_finished_after_people_edited_the_written_workbook(tmp_path):
    config = instance(tmp_path / "team")
    assert nightly(config, crash_at="after-swap").returncode == -signal.SIGKILL
    edit_a_cell(config)  # the next morning, before any run: the fingerprint is neither
    assert nightly(config).returncode == 0
    reference_dir = tmp_path / "reference"
    ref = instance(reference_dir)
    assert nightly(ref).returncode == 0
    edit_a_cell(ref)
    assert nightly(ref).returncode == 0
    got, want = state(config), state(ref)
    for key in ("history", "notifications", "snapshots", "round_robin"):
        assert got[key] == want[key], key  # the rules' writes were not taken for people's edits
    kinds = {e[2] for e in got["history"]}
    assert "rule" in kinds and "changed" not in kinds


def test_a_check_of_another_workbook_leaves_the_nightlys_journal(tmp_path, reference):
    from .test_jobs import invoke

    config = instance(tmp_path / "team")
    assert nightly(config, crash_at="after-swap").returncode == -signal.SIGKILL
    other = tmp_path / "other.xlsx"
    generate_demo(config, other, rows=30, seed=2, today=NIGHT.date())
    result = invoke(
        config.base_dir / "config.toml", "check", str(other), "--now", NIGHT.isoformat()
    )
    assert result.exit_code == 0, result.output
    assert len(Store(config.store_url).pending()) == 1  # still the nightly's to finish
