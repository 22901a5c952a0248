"""When jobs run: the schedules in `[jobs]`, kept by the `schedule` library in the configured zone.

The `schedule` library keeps nothing across restarts and stops rescheduling a job whose function
raised. So here:

- every run goes through `run_job`, which never raises (a failing run is recorded and logged) and
  takes the job's lock in the state store, so two schedulers on two machines never overlap;
- the run history lives in the store: at start, a job whose last due time passed while no scheduler
  was running (and that has run before) is caught up, once;
- SIGTERM (and Ctrl-C) asks the current run to stop after its current step, then the loop ends.

`schedule` reads the machine's clock (`datetime.datetime.now()`, local time) and has no parameter
for another. Each Scheduler therefore loads its own private copy of the `schedule` module whose
`datetime` is one whose `now()` is our clock: in production the wall time in `timezone` of
config.toml (so "02:00" is 02:00 in Shanghai on a server in UTC), in tests a fake clock. Nothing
global is patched (other code importing `schedule` is unaffected, and two Schedulers never share a
clock); the production path and the tested path are the same code.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import signal
import threading
import types
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .config import WEEKDAYS, Config, Schedule
from .job import RunReport, load_job, run_job
from .progress import log_line
from .store import Store

Clock = Callable[[], datetime]


def zone_clock(zone: str) -> Clock:
    """The wall time in `zone`, without tzinfo (every time in sheetcrm is the team's local time)."""
    tz = ZoneInfo(zone)
    return lambda: datetime.now(tz).replace(tzinfo=None)


def last_due(s: Schedule, now: datetime) -> datetime:
    """The latest time at or before `now` when the schedule wanted a run."""
    if s.every in ("minutes", "hours"):
        assert s.interval is not None
        return now - timedelta(**{s.every: s.interval})
    assert s.at is not None
    day = now.date()
    for back in range(8):
        d = day - timedelta(days=back)
        due = datetime.combine(d, s.at)
        if due > now:
            continue
        if s.every == "day" or (s.every == "weekday" and d.weekday() < 5):
            return due
        if s.every in WEEKDAYS and d.weekday() == WEEKDAYS.index(s.every):
            return due
    raise AssertionError(f"no due time for {s.text}")  # every schedule is due within a week


class _ClockedDatetime(types.ModuleType):
    """A stand-in for the `datetime` module inside `schedule`: the same, except that
    `datetime.now()` is our clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__("datetime")

        class ClockedDateTime(_dt.datetime):
            @classmethod
            def now(cls, tz: Any = None) -> _dt.datetime:  # type: ignore[override]
                return clock()

        self.datetime = ClockedDateTime

    def __getattr__(self, name: str) -> Any:
        return getattr(_dt, name)


def clocked_schedule(clock: Clock) -> Any:
    """A private copy of the `schedule` module that tells time by `clock`."""
    spec = importlib.util.find_spec("schedule")
    assert spec is not None and spec.loader is not None, "the schedule package is not installed"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.datetime = _ClockedDatetime(clock)  # type: ignore[attr-defined]
    return module


class Scheduler:
    """The jobs of `config` on their schedules. `tick()` runs what is due; `serve()` loops."""

    def __init__(self, config: Config, *, clock: Clock | None = None,
                 runner: Callable[..., RunReport] = run_job, wall: Clock = datetime.now,
                 log: Callable[[str], None] = log_line) -> None:  # fmt: skip
        for name in config.jobs:  # a missing or broken job file fails now, not at 2 a.m.
            load_job(name, config)
        self.config = config
        self.clock = clock or zone_clock(config.timezone)
        self.runner, self.wall, self.log = runner, wall, log
        self.stopping = threading.Event()
        self.reports: list[RunReport] = []
        self.inner = clocked_schedule(self.clock).Scheduler()
        for name, s in config.jobs.items():
            self._register(name, s)

    def _register(self, name: str, s: Schedule) -> None:
        every = self.inner.every
        if s.every == "minutes":
            assert s.interval is not None  # Schedule.parse sets it for minutes and hours
            jobs = [every(s.interval).minutes]
        elif s.every == "hours":
            assert s.interval is not None
            jobs = [every(s.interval).hours]
        else:
            days = WEEKDAYS[:5] if s.every == "weekday" else [s.every]
            at = f"{s.at:%H:%M}"
            jobs = [every().day.at(at)] if s.every == "day" else [
                getattr(every(), d).at(at) for d in days]  # fmt: skip
        for j in jobs:
            j.do(self.run, name).tag(name)

    # -- running ------------------------------------------------------------------------------
    def run(self, name: str) -> RunReport:
        """Run a job now (by the clock); log one line; never raise, so it stays scheduled."""
        now = self.clock().replace(second=0, microsecond=0)
        try:
            report = self.runner(name, self.config, now=now, stop=self.stopping.is_set,
                                 wall=self.wall)  # fmt: skip
        except Exception as e:  # run_job does not raise; this guards a custom runner
            report = RunReport(name, now, "failed", error=f"{type(e).__name__}: {e}")
        self.reports.append(report)
        line = f"{name} at {now:%Y-%m-%d %H:%M}: {report.outcome} in {report.seconds:.1f} s"
        self.log(line + (f": {report.error}" if report.error else ""))
        return report

    def catch_up(self) -> list[str]:
        """Run once each job whose last due time passed without a run (the scheduler was down).
        A job that never ran has missed nothing: it waits for its time."""
        now = self.clock()
        try:
            store = Store(self.config.store_url)
        except Exception as e:  # a server store that is down: the jobs will say so when they run
            self.log(f"catch-up skipped: the state store cannot be opened ({e})")
            return []
        caught = []
        for name, s in self.config.jobs.items():
            if self.stopping.is_set():
                break
            last = store.last_run(name)
            if last is not None and last["started"] < last_due(s, now):
                self.log(
                    f"{name}: missed its run at {last_due(s, now):%Y-%m-%d %H:%M}; running it now"
                )
                self.run(name)
                caught.append(name)
        return caught

    def tick(self) -> None:
        """Run every job that is due by the clock."""
        if not self.stopping.is_set():
            self.inner.run_pending()

    def next_runs(self) -> dict[str, datetime]:
        """Each job's next run time (in the configured zone)."""
        out: dict[str, datetime] = {}
        for j in self.inner.get_jobs():
            name = str(next(iter(j.tags)))  # _register tags each job with its name
            if j.next_run is not None and (name not in out or j.next_run < out[name]):
                out[name] = j.next_run
        return out

    def seconds_to_next(self) -> float:
        idle = self.inner.idle_seconds
        return idle if idle is not None else 60.0

    def stop(self, *_: object) -> None:
        """Ask to stop: the running job ends after its current step, then the loop ends."""
        if not self.stopping.is_set():
            self.log("stop requested: finishing the current step")
        self.stopping.set()

    def serve(self, *, sleep: Callable[[float], object] | None = None,
              signals: bool = True) -> None:  # fmt: skip
        """Catch up, then run jobs on their schedules until stopped (SIGTERM, SIGINT or stop())."""
        previous = {}
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self.stop)
        try:
            wait = sleep or self.stopping.wait
            nexts = ", ".join(
                f"{n} {t:%Y-%m-%d %H:%M}" for n, t in sorted(self.next_runs().items())
            )
            self.log(f"scheduler started ({self.config.timezone}); next: {nexts or 'no jobs'}")
            self.catch_up()
            while not self.stopping.is_set():
                self.tick()
                if not self.stopping.is_set():
                    wait(min(max(self.seconds_to_next(), 1.0), 60.0))
            self.log("scheduler stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
