"""The scheduler, driven in-process by a fake clock: which jobs run when, overlap refused, a missed
run caught up once, a failing job rescheduled, SIGTERM ending cleanly (in-process and as a real
`sheetcrm schedule` process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sheetcrm.config import Config, Schedule, load_config
from sheetcrm.errors import ConfigError
from sheetcrm.scheduler import Scheduler, last_due, zone_clock
from sheetcrm.store import Store

from .conftest import ROOT

JOBS = """
[jobs]
nightly = "every day at 02:00"
digest = "every weekday at 08:00"
weekly_report = "every monday at 07:00"
sync = "every 30 minutes"
"""

QUICK_JOB = "def run(job):\n    job.say('ran')\n"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def instance(tmp_path: Path, jobs: str = JOBS, files: dict[str, str] | None = None) -> Config:
    """The bundled config with these [jobs], and job files that only say they ran (so a week of
    runs takes a second); the real nightly and digest jobs have their own tests."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    start = text.index("[jobs]")
    end = text.index("# ----", start)
    (tmp_path / "config.toml").write_text(text[:start] + jobs + "\n" + text[end:], encoding="utf-8")
    (tmp_path / "jobs").mkdir()
    for name in ("nightly", "digest", "weekly_report", "sync"):
        (tmp_path / "jobs" / f"{name}.py").write_text(QUICK_JOB, encoding="utf-8")
    for name, code in (files or {}).items():
        (tmp_path / "jobs" / f"{name}.py").write_text(code, encoding="utf-8")
    return load_config(tmp_path / "config.toml")


def drive(scheduler: Scheduler, clock: FakeClock, until: datetime, step: timedelta) -> None:
    while clock.t < until:
        clock.sleep(step.total_seconds())
        scheduler.tick()


def test_a_week_of_ticks_runs_each_job_at_its_times(tmp_path):
    config = instance(tmp_path)
    clock = FakeClock(datetime(2026, 11, 22, 0, 0))  # a Sunday
    scheduler = Scheduler(config, clock=clock, log=lambda line: None)
    drive(scheduler, clock, datetime(2026, 12, 1, 0, 0), timedelta(minutes=1))
    ran: dict[str, list[datetime]] = {}
    for r in scheduler.reports:
        assert r.outcome == "ok", r.error
        ran.setdefault(r.job, []).append(r.now)
    days = [datetime(2026, 11, 22) + timedelta(days=i) for i in range(9)]
    assert ran["nightly"] == [d.replace(hour=2) for d in days]
    assert ran["digest"] == [d.replace(hour=8) for d in days if d.weekday() < 5]
    assert ran["weekly_report"] == [datetime(2026, 11, 23, 7, 0), datetime(2026, 11, 30, 7, 0)]
    sync = ran["sync"]
    assert len(sync) == 9 * 48 and all(
        b - a == timedelta(minutes=30) for a, b in zip(sync, sync[1:], strict=False)
    )
    store = Store(config.store_url)
    assert len(store.runs("nightly")) == 9 and store.runs("nightly")[0]["outcome"] == "ok"


def test_schedules_follow_the_configured_zone_not_the_machine():
    shanghai = zone_clock("Asia/Shanghai")()
    utc = datetime.now(UTC).replace(tzinfo=None)
    assert abs((shanghai - utc) - timedelta(hours=8)) < timedelta(seconds=5)


def test_last_due_times():
    at = datetime(2026, 11, 23, 7, 59)  # a Monday, before the digest's 08:00
    assert last_due(Schedule.parse("every weekday at 08:00"), at) == datetime(2026, 11, 20, 8, 0)
    assert last_due(Schedule.parse("every day at 02:00"), at) == datetime(2026, 11, 23, 2, 0)
    assert last_due(Schedule.parse("every monday at 07:00"), at) == datetime(2026, 11, 23, 7, 0)
    assert last_due(Schedule.parse("every sunday at 09:00"), at) == datetime(2026, 11, 22, 9, 0)
    assert last_due(Schedule.parse("every 30 minutes"), at) == datetime(2026, 11, 23, 7, 29)


def test_a_missed_run_is_caught_up_once_and_a_never_run_job_waits(tmp_path):
    config = instance(tmp_path)
    store = Store(config.store_url)
    for job, when in (("nightly", datetime(2026, 11, 20, 2, 0)),  # missed 21st, 22nd, 23rd
                      ("digest", datetime(2026, 11, 23, 8, 0))):  # fmt: skip
        run = store.start_run(job, now=when)
        store.finish_run(run, now=when, outcome="ok", counts={})
    clock = FakeClock(datetime(2026, 11, 23, 10, 0))
    scheduler = Scheduler(config, clock=clock, log=lambda line: None)
    assert scheduler.catch_up() == ["nightly"]  # once, not three times; digest ran at 08:00
    assert [r.job for r in scheduler.reports] == ["nightly"]
    assert Scheduler(config, clock=clock, log=lambda line: None).catch_up() == []  # a restart
    assert [r["job"] for r in store.runs()].count("weekly_report") == 0
    # the caught-up job keeps its schedule: next at 02:00 tomorrow
    assert scheduler.next_runs()["nightly"] == datetime(2026, 11, 24, 2, 0)


def test_an_overlapping_run_is_refused_and_recorded(tmp_path):
    config = instance(tmp_path)
    other = Store(config.store_url)
    other.owner = "machine-b:99"
    assert other.acquire("nightly", now=datetime.now())
    clock = FakeClock(datetime(2026, 11, 23, 1, 59))
    scheduler = Scheduler(config, clock=clock, log=lambda line: None)
    drive(scheduler, clock, datetime(2026, 11, 23, 2, 1), timedelta(minutes=1))
    nightly = [r for r in scheduler.reports if r.job == "nightly"]
    assert [r.outcome for r in nightly] == ["skipped"] and "machine-b:99" in (
        nightly[0].error or ""
    )
    assert Store(config.store_url).runs("nightly")[0]["outcome"] == "skipped"
    other.release("nightly")
    drive(scheduler, clock, datetime(2026, 11, 24, 2, 1), timedelta(minutes=1))
    assert [r.outcome for r in scheduler.reports if r.job == "nightly"] == ["skipped", "ok"]


def test_a_failing_job_is_logged_and_runs_again_next_time(tmp_path):
    config = instance(
        tmp_path, files={"nightly": "def run(job):\n    raise RuntimeError('disk full')\n"}
    )
    lines: list[str] = []
    clock = FakeClock(datetime(2026, 11, 23, 1, 0))
    scheduler = Scheduler(config, clock=clock, log=lines.append)
    drive(scheduler, clock, datetime(2026, 11, 25, 3, 0), timedelta(minutes=5))
    failed = [r for r in scheduler.reports if r.job == "nightly"]
    assert [r.now.day for r in failed] == [23, 24, 25]  # `schedule` did not drop it
    assert all(r.outcome == "failed" and r.error == "RuntimeError: disk full" for r in failed)
    assert any("nightly at 2026-11-24 02:00: failed" in line for line in lines)


def test_a_missing_or_broken_job_file_fails_when_the_scheduler_starts(tmp_path):
    config = instance(
        tmp_path, jobs='[jobs]\nnightly = "every day at 02:00"\nweekly = "every monday at 07:00"\n'
    )
    with pytest.raises(ConfigError, match="no job 'weekly'"):
        Scheduler(config, clock=FakeClock(datetime(2026, 11, 23)))
    (tmp_path / "b").mkdir()
    config = instance(tmp_path / "b", files={"nightly": "import does_not_exist\n"})
    with pytest.raises(ConfigError, match="nightly.py cannot be loaded: ModuleNotFoundError"):
        Scheduler(config, clock=FakeClock(datetime(2026, 11, 23)))


SIGNALLING_JOB = """
import os, signal

def run(job):
    job.begin("first")
    os.kill(os.getpid(), signal.SIGTERM)  # as systemd would, in the middle of the run
    job.say("first step finished")
    job.begin("second")
    job.say("second step ran")
"""


def test_sigterm_lets_the_current_step_finish_then_stops(tmp_path):
    config = instance(tmp_path, files={"nightly": SIGNALLING_JOB})
    clock = FakeClock(datetime(2026, 11, 23, 1, 58))
    lines: list[str] = []
    scheduler = Scheduler(config, clock=clock, log=lines.append)
    before = signal.getsignal(signal.SIGTERM)
    scheduler.serve(sleep=clock.sleep)
    assert signal.getsignal(signal.SIGTERM) == before  # handlers are given back
    (report,) = scheduler.reports
    assert report.outcome == "stopped" and report.lines == ["first step finished"]
    run = Store(config.store_url).runs("nightly")[0]
    assert run["outcome"] == "stopped" and Store(config.store_url).holder("nightly") is None
    assert lines[-1] == "scheduler stopped"
    assert clock.t < datetime(2026, 11, 23, 8, 0)  # the loop ended; it did not go on to the digest


def test_sheetcrm_schedule_exits_cleanly_on_sigterm(tmp_path):
    config = instance(tmp_path)
    exe = Path(sys.executable).parent / "sheetcrm"
    proc = subprocess.Popen([exe, "--config", str(config.base_dir / "config.toml"), "schedule"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        started = ""
        while time.monotonic() < deadline and "scheduler started" not in started:
            started += proc.stderr.readline()  # type: ignore[union-attr]
        assert "scheduler started (Asia/Shanghai)" in started
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert "scheduler stopped" in err


def test_each_scheduler_keeps_its_own_clock_and_patches_nothing_global(tmp_path):
    """Two schedulers with clocks a day apart see their own due jobs, and the `schedule` module
    anyone else imports still reads the real clock."""
    import schedule

    config = instance(tmp_path, jobs='[jobs]\nnightly = "every day at 02:00"\n')
    early, late = FakeClock(datetime(2026, 11, 23, 1, 0)), FakeClock(datetime(2026, 11, 24, 1, 0))
    a = Scheduler(config, clock=early, runner=lambda *a, **k: None)
    b = Scheduler(config, clock=late, runner=lambda *a, **k: None)
    assert a.next_runs()["nightly"] == datetime(2026, 11, 23, 2, 0)
    assert b.next_runs()["nightly"] == datetime(2026, 11, 24, 2, 0)
    early.sleep(3600)
    assert a.seconds_to_next() == 0 and b.seconds_to_next() == 3600
    assert schedule.datetime.datetime is datetime  # the real module, untouched
    probe = schedule.Scheduler()
    probe.every().day.at("02:00").do(lambda: None)
    assert abs((probe.get_jobs()[0].next_run - datetime.now()).total_seconds()) <= 86400
