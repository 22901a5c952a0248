"""One front door: `sheetcrm check` by hand and the scheduled `sheetcrm run nightly` run the same
steps (lock, run record, write-back, error list, store), so on the same input they leave the same
workbook, store and error list."""

from __future__ import annotations

from python_calamine import CalamineWorkbook

from .test_crash import NIGHT, instance, state
from .test_jobs import invoke


def error_lists(config) -> dict[str, list[list[object]]]:
    """Every error list written, by file name, with the instance's folder taken out of links."""
    out = {}
    here = str(config.base_dir.resolve())
    for path in sorted(config.path("reports").glob("校验错误清单-*.xlsx")):
        with CalamineWorkbook.from_path(str(path)) as wb:
            rows = [r for name in wb.sheet_names for r in wb.get_sheet_by_name(name).to_python()]
        out[path.name] = [[str(v).replace(here, "<instance>") for v in row] for row in rows]
    return out


def test_cli_check_and_the_nightly_job_leave_the_same_workbook_store_and_error_list(tmp_path):
    by_hand, scheduled = instance(tmp_path / "by-hand"), instance(tmp_path / "scheduled")
    for night in (NIGHT, NIGHT.replace(day=24), NIGHT.replace(day=24, minute=5)):  # then unchanged
        cli = invoke(by_hand.base_dir / "config.toml", "check", "--now", night.isoformat())
        assert cli.exit_code == 0, cli.output
        job = invoke(
            scheduled.base_dir / "config.toml", "run", "nightly", "--now", night.isoformat()
        )
        assert job.exit_code == 0, job.output
        assert state(by_hand) == state(scheduled)
        assert error_lists(by_hand) == error_lists(scheduled)


def test_a_byte_identical_copy_is_its_own_workbook_with_its_own_checks(tmp_path):
    """#27 item 5: checking a copy of a workbook made before it was written, at the same time,
    was taken for "already processed": nothing was written into the copy and its lock not looked at."""
    import shutil

    config = instance(tmp_path / "team")
    copy = tmp_path / "copy.xlsx"
    shutil.copyfile(config.workbook_path, copy)  # byte-identical, before the run
    cfg = config.base_dir / "config.toml"
    assert invoke(cfg, "check", "--now", NIGHT.isoformat()).exit_code == 0
    lock = copy.with_name("~$" + copy.name)
    lock.write_bytes(b"\x05alice" + b"\x00" * 60)
    locked = invoke(cfg, "check", str(copy), "--now", NIGHT.isoformat())
    assert locked.exit_code == 1 and "is open by alice" in locked.output
    lock.unlink()
    done = invoke(cfg, "check", str(copy), "--now", NIGHT.isoformat())
    assert done.exit_code == 0 and "行的状态写入" in done.output, done.output


def test_every_command_runs_through_the_steps_and_is_recorded(tmp_path):
    """`sheetcrm report` and `sheetcrm import` run as steps (lock, run record) like the jobs; a
    team's own job that checks the sheets counts in the report's data-quality trend whatever its
    name (the report used to know only "nightly" and "check")."""
    import json

    from sheetcrm.job import run_steps
    from sheetcrm.report import _check_runs
    from sheetcrm.store import Store

    config = instance(tmp_path / "team")
    cfg = config.base_dir / "config.toml"
    report = run_steps("evening_check", lambda job: job.apply(job.plan(job.read())), config,
                       now=NIGHT)  # fmt: skip
    assert report.ok, report.error
    done = invoke(cfg, "report", "--now", NIGHT.replace(hour=7).isoformat())
    assert done.exit_code == 0, done.output
    store = Store(config.store_url)
    jobs = [r["job"] for r in store.runs()]
    assert jobs[:2] == ["report", "evening_check"]
    assert [r["job"] for r in _check_runs(store)] == ["evening_check"]
    counts = json.loads(store.runs("report")[0]["counts"])
    assert counts["report"].endswith("report-2026-11-23.xlsx") and counts["kpis"]
    assert "已写入" in done.output and "关键指标" in done.output
