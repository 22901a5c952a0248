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
