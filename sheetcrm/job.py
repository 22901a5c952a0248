"""One run of a job: the steps a job file composes, and the run around them (lock, record, log).

A job is a Python file in the instance's `jobs/` folder (or the bundled one) with a function
`run(job: Job) -> None`; its name is the file name. `run_job` loads it, takes the job's lock in the
state store (one run of a job at a time, across machines), records the run, and turns every way a
run can end into a RunReport instead of an exception, so a scheduler survives a failing job:

- ok: every step finished;
- failed: a step failed as a whole (workbook locked, mail server down, a bug); the message says why,
  and whatever the step had not committed is left as it was (the write-back is all or nothing);
- partly failed: the mail server refused some mails (they wait for the next run);
- interrupted: the process was killed; the next run that takes the lock records it so;
- stopped: asked to stop (SIGTERM) between steps;
- skipped: another run of the job holds the lock;
- dry-run: computed and shown, nothing written, sent or recorded.
"""

from __future__ import annotations

import html
import importlib.util
import re
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from .config import Config, role_alias
from .errorlist import error_list_path
from .errors import ConfigError, SheetCRMError
from .instance import instance_files
from .mailer import PartlyDelivered
from .messages import Locale, list_separator, text, word
from .notify import Mail
from .output import unused_path
from .pipeline import (
    Applied,
    Plan,
    apply_plan,
    build_plan,
    finish_interrupted,
    missing_sheets,
    read_all,
)
from .progress import Update, log_line, progress
from .sources import open_source
from .sources.base import Source
from .store import RunLocked, Store, open_for_reading
from .table import Notification, Table

NAME = re.compile(r"[a-z][a-z0-9_]*")


class JobStopped(Exception):
    """The run was asked to stop; raised between steps, never inside one."""


@dataclass
class RunReport:
    """How a run ended, what it counted and what it wants the person reading the log to know."""

    job: str
    now: datetime
    outcome: str  # ok, failed, stopped, skipped, dry-run
    run_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    locale: Locale = "zh_CN"  # of the config: what a person reads of the report is in it

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "dry-run")


@dataclass(frozen=True)
class StepOptions:
    """What a person may choose when running steps by hand (the CLI's options); a scheduled job
    takes the defaults."""

    error_list: Path | None = None  # where the error list goes (default: reports/, by time)
    only: str | None = None  # the digest of this person only
    out: Path | None = None  # where a report or review workbook goes (default: reports/)
    csv_dir: Path | None = None  # the report's tables as CSV files too
    viewer: str | None = None  # the report as this person may see it
    mail_report: bool = True  # mail the report to [report] mail_to (a report by hand is not)


class Job:
    """What a job file's `run` receives: the config, the run's time, the store and the steps.

    Each step is one library call with a log line (counts and seconds); a stop request is honoured
    between steps."""

    def __init__(self, name: str, config: Config, *, now: datetime, store: Store, dry_run: bool,
                 run_id: int | None, stop: Callable[[], bool], update: Update,
                 options: StepOptions | None = None) -> None:  # fmt: skip
        self.name, self.config, self.now, self.store = name, config, now, store
        self.dry_run, self.run_id = dry_run, run_id
        self.options = options or StepOptions()
        self._stop, self._update = stop, update
        self._review_cache: dict[str, list[tuple[str, str, str, str]]] | None = None
        self.counts: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.lines: list[str] = []
        self._source: Source | None = None
        self._started: dict[str, float] = {}

    # -- the run's bookkeeping ----------------------------------------------------------------
    def t(self, message_id: str, **values: object) -> str:
        """A summary text in the team's locale."""
        return text(self.config.locale, message_id, **values)

    @property
    def sep(self) -> str:
        return list_separator(self.config.locale)

    def say(self, line: str) -> None:
        """A line of the run's summary (printed at the end, kept with the run in the store)."""
        self.lines.append(line)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def begin(self, step: str) -> None:
        """Start a step: refuse if a stop was requested, so a step is never cut in half."""
        if self._stop():
            raise JobStopped(f"stopped before the step {step!r}")
        self._started[step] = time.monotonic()
        self.counts["step"] = step
        self._record_progress()
        self._update(step, 0)

    def done(self, step: str, count: int) -> None:
        """End a step: its count and seconds go into the log line and the run's record."""
        seconds = time.monotonic() - self._started.get(step, time.monotonic())
        self.counts.setdefault("steps", {})[step] = round(seconds, 2)
        self.counts.pop("step", None)
        self._record_progress()
        self._update(step, count, True)

    def _record_progress(self) -> None:
        """The store keeps where the run is, so a run that is killed is recorded with what it had
        finished (by the next run that takes the lock)."""
        if self.run_id is not None and not self.dry_run:
            self.store.record_progress(self.run_id, {**self.counts, "summary": self.lines})

    @property
    def source(self) -> Source:
        if self._source is None:
            self._source = open_source(self.config)
        return self._source

    # -- steps --------------------------------------------------------------------------------
    def read(self) -> dict[str, Table]:
        """Read every sheet (headers by label)."""
        self.begin("read")
        tables = read_all(self.source, self.config)
        for line in missing_sheets(tables, self.config, None if self.dry_run else self.store):
            self.warn(line)
        self.done("read", sum(len(t) for t in tables.values()))
        return tables

    def plan(self, tables: dict[str, Table]) -> Plan:
        """Check → duplicates → rules → reminders, against the store: what the run would write."""
        self.begin("plan")
        plan = build_plan(tables, self.config, now=self.now, store=self.store, job=self.name,
                          reviewed=self._reviewed(tables))  # fmt: skip
        for n in plan.notifications:  # a digest line links to its record's row
            if n.facts is not None and n.sheet in tables and "row" in n.facts:
                n.facts["link"] = self.source.open_link(
                    tables[n.sheet].sheet_name, f"A{n.facts['row']}"
                )
        self.done("plan", sum(len(t) for t in tables.values()))
        parts = []
        for key, info in plan.counts().items():
            self.counts[key] = info
            if info["rows"]:
                dup = self.t("run.checked_dup", n=info["duplicates"]) if info["duplicates"] else ""
                parts.append(self.t("run.checked_sheet", sheet=self.config.sheet(key).name,
                                    rows=info["rows"], bad=info["rows_with_problems"], dup=dup))  # fmt: skip
        self.say(self.t("run.checked", parts=self.sep.join(parts or [self.t("run.no_rows")])))
        return plan

    def _reviewed(self, tables: dict[str, Table]) -> dict[str, list[tuple[str, str, str, str]]]:
        """The 判定 people chose in review workbooks (`sheetcrm dedupe`), per sheet."""
        from .reviewbook import read_review_decisions

        if self._review_cache is None:
            self._review_cache = {}
            for s in self.config.sheets:
                if s.dedupe is not None and s.key in tables:
                    found, skipped = read_review_decisions(self.config, s)
                    self._review_cache[s.key] = found
                    self.warnings += skipped
        return self._review_cache

    def apply(self, plan: Plan) -> Applied | None:
        """Write the status columns (all sheets or nothing), the error list, then record the run's
        changes and notifications in the store in one transaction."""
        self.begin("write")
        notes = len(plan.notifications)
        if self.dry_run:
            self.say(self.t("run.dry_write", rows=plan.rows_to_write, notes=notes))
            self.done("write", 0)
            return None
        kinds = plan.event_counts()
        error_list = self.options.error_list  # asked for by name: always written
        if error_list is None and (plan.rows_to_write or kinds):  # unchanged: no new files either
            error_list = unused_path(error_list_path(self.config, self.now))
        applied = apply_plan(plan, self.source, self.config, store=self.store,
                             error_list=error_list, run_id=self.run_id)  # fmt: skip
        if applied.already_applied:
            self.say(self.t("run.already_applied"))
            self.done("write", 0)
            return applied
        rows = sum(w.rows_written for w in applied.written.values())
        backup = next((w.backup for w in applied.written.values() if w.backup), None)
        self.counts["rows_written"] = rows
        self.counts["notifications"] = notes
        if rows:
            self.say(self.t("run.wrote", rows=rows, where=self.source.where,
                            backup=self.t("run.backup", path=backup) if backup else ""))  # fmt: skip
        else:
            self.say(self.t("run.untouched"))
        if error_list is not None:
            self.say(self.t("run.error_list", path=error_list))
        if kinds:
            self.counts["events"] = kinds
            self.say(self.t("run.events", parts=self.sep.join(
                f"{word(self.config.locale, 'event', k)} {n:,}" for k, n in kinds.items())))  # fmt: skip
        if notes:
            self.say(self.t("run.queued", n=notes))
        self.done("write", rows)
        return applied

    def digests(self) -> list[Mail]:
        """One mail per person from what the runs queued (and customers' mails)."""
        from .notify import build_mails

        self.begin("digests")
        chat = self.config.mail.transport == "webhook"  # customers' mails never go to a group chat
        mails = build_mails(self.store.notifications("pending"), self.config, now=self.now,
                            only=self.options.only, customers=not chat)  # fmt: skip
        self.done("digests", len(mails))
        return mails

    def send(self, mails: list[Mail]) -> None:
        """Send over one connection; each mail is recorded as sent, so none goes twice."""
        self.begin("send")
        if self.dry_run or not mails:
            if not self.dry_run:
                self.counts["mails_sent"] = 0
            for mail in mails:
                self.say(self.t("run.would_send", to=self.sep.join(mail.to), subject=mail.subject))
            self.say(self.t("run.dry_mails" if mails else "run.no_mails", n=len(mails)))
            self.done("send", 0)
            return
        self._deliver(mails, "send")

    def _deliver(self, mails: list[Mail], step: str) -> list[str]:
        """Deliver, count and say what went, note what did not as warnings, end the step. A mail
        server that went away or refused every mail fails the run, one that refused some makes it
        "partly failed" (after what was sent is recorded). Returns who got a mail."""
        from .mailer import deliver, destination, mailer_for

        report = deliver(mails, self.store, mailer_for(self.config), self.config, now=self.now)
        self.warnings += report.warnings()
        counts = {"mails_sent": len(report.sent), "mails_refused": len(report.failed),
                  "mails_in_doubt": len(report.in_doubt) + len(report.unknown)}  # fmt: skip
        for key, n in counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        doubt = (self.t("run.in_doubt", n=counts["mails_in_doubt"])
                 if counts["mails_in_doubt"] else "")  # fmt: skip
        refused = self.t("run.refused", n=len(report.failed)) if report.failed else ""
        transport = word(self.config.locale, "transport", self.config.mail.transport)
        self.say(self.t("run.sent", n=len(report.sent), transport=transport,
                        where=destination(self.config), refused=refused, doubt=doubt))  # fmt: skip
        self.done(step, len(report.sent))
        if (problem := report.problem()) is not None:
            raise problem
        return report.sent

    def report(self, tables: dict[str, Table], *, period: str = "week") -> Path | None:
        """The report workbook of the last complete period, with its charts; then, if [report]
        mail_to names people or roles, each gets it by mail (a manager their team's view), once."""
        from .check import check_workbook
        from .report import make_report

        self.begin("report")
        if self.dry_run:
            self.say(self.t("run.dry_report", period=self.t(f"period.{period}"),
                            path=self.config.path("reports")))  # fmt: skip
            self.done("report", 0)
            return None
        results = check_workbook(tables, self.config, now=self.now)
        opts = self.options
        report, out, csvs = make_report(tables, self.config, self.store, now=self.now, period=period,
                                        results=results, viewer=opts.viewer, out=opts.out,
                                        csv_dir=opts.csv_dir)  # fmt: skip
        p = report.period
        self.counts["report"] = str(out)
        self.counts["kpis"] = [list(r) for r in report.table("kpis").rows]
        self.say(report.subtitle)
        self.say(self.t("run.wrote_report", path=out, period=self.t(f"period.{period}"),
                        start=p.start, end=p.end - timedelta(days=1)))  # fmt: skip
        if csvs:
            self.say(self.t("run.wrote_csv", n=len(csvs), path=opts.csv_dir))
        self.done("report", sum(len(t.rows) for ts in report.sheets.values() for t in ts))
        recipients = self._report_recipients() if opts.mail_report else []
        if not recipients:
            return out
        from .messages import text
        from .permissions import visible_owners

        self.begin("mail report")
        loc, end = self.config.locale, p.end - timedelta(days=1)
        keys = {person.name: f"report:{period}:{p.start}:{person.name}" for person in recipients}
        known = self.store.notification_keys(list(keys.values()))
        pending = self.store.notification_keys(list(keys.values()), status="pending")
        notes, mails = [], []
        for person in recipients:
            key = keys[person.name]
            if key in known and key not in pending:
                continue  # sent before: a re-run sends nothing twice
            path = out
            scope = text(loc, "report.scope_all")
            if visible_owners(self.config, person.name) is not None:
                path = make_report(tables, self.config, self.store, now=self.now, period=period,
                                   viewer=person.name, results=results)[1]  # fmt: skip
                scope = text(loc, "report.scope_team")
            subject = text(loc, "report.subject", start=p.start, end=end)
            body = text(loc, "report.body", name=person.name, start=p.start, end=end, scope=scope)
            notes.append(Notification(key, "report", person.name, "", "", subject, body))
            mails.append(Mail([person.email], subject, body, f"<p>{html.escape(body)}</p>", [key],
                              person.name, [path]))  # fmt: skip
        if mails:
            assert self.run_id is not None
            self.store.queue(self.run_id, notes, now=self.now)
            sent = self._deliver(mails, "mail report")
            self.say(self.t("run.mailed_report", to=self.sep.join(sent) or self.t("run.nobody")))
        else:
            self.done("mail report", 0)
        return out

    def _report_recipients(self) -> list[Any]:
        wanted = (
            {role_alias(w) for w in self.config.report.mail_to} if self.config.report else set()
        )
        return [p for p in self.config.people
                if p.active and (p.name in wanted or str(p.role) in wanted)]  # fmt: skip

    def backup(self) -> None:
        """Archive the workbook, the state store and config.toml; keep the newest few."""
        from .backup import backup_key, make_archive

        self.begin("backup")
        key = backup_key(self.config)
        if self.dry_run:
            self.say(f"dry run: an archive{' (encrypted)' if key else ''} would be written to "
                     f"{self.config.path(self.config.backup.archive_dir)}")  # fmt: skip
            self.done("backup", 0)
            return
        archive = make_archive(self.config, now=self.now, key=key)
        size = archive.path.stat().st_size
        self.counts["archive"] = str(archive.path)
        self.say(f"archived {', '.join(f.role for f in archive.files)} into {archive.path} "
                 f"({size / 1e6:.1f} MB{', encrypted' if archive.encrypted else ''})")  # fmt: skip
        for w in archive.warnings:
            self.warn(w)
        if archive.pruned:
            self.say(f"removed {len(archive.pruned)} older archive(s) (keep_archives = "
                     f"{self.config.backup.keep_archives})")  # fmt: skip
        self.done("backup", len(archive.files))

    def review_duplicates(self, tables: dict[str, Table]) -> list[tuple[str, int, int, int, Path]]:
        """A review workbook per sheet with [sheets.dedupe] (groups side by side, people's
        decisions counted); nothing is written into the team's workbook. Returns per sheet its
        name, rows, groups, duplicates and the review workbook."""
        from .check import check_workbook
        from .dedupe import decide_duplicates
        from .reviewbook import review_path_pattern, write_review

        self.begin("dedupe")
        typed = {k: r.typed for k, r in check_workbook(tables, self.config, now=self.now).items()}
        out = []
        for sheet in self.config.sheets:
            if sheet.dedupe is None or sheet.key not in tables:
                continue
            table = tables[sheet.key]
            result, _ = decide_duplicates(sheet, typed, table.ids, self.store,
                                          self._reviewed(tables).get(sheet.key, []))  # fmt: skip
            target = self.options.out or unused_path(self.config.path(
                "reports/" + review_path_pattern(sheet).replace("*", f"{self.now:%Y%m%d-%H%M}")))  # fmt: skip
            groups = write_review(result, typed[sheet.key], table.ids, sheet, target,
                                  locale=self.config.locale, shown=table.frame)  # fmt: skip
            marked = int((result.duplicate_of != "").sum())
            self.say(self.t("run.duplicates", sheet=sheet.name, groups=groups, marked=marked,
                            path=target))  # fmt: skip
            out.append((sheet.name, len(table), groups, marked, target))
        self.done("dedupe", sum(r[3] for r in out))
        return out

    def import_files(self, files: list[Path], *, sheet_name: str | None = None,
                     mapping: Path | None = None, strict: bool = False,
                     save_map: bool = False, defaults: dict[str, str] | None = None) -> Imported:  # fmt: skip
        """Bring legacy files into [import]'s sheet: columns matched to fields (the mapping saved
        for a person to correct), rows already there or imported before left out, new ones
        appended with IDs and an import report written (not in a dry run, which writes only the
        mapping file, and that only with `save_map`)."""
        from .importer import (
            apply_import,
            load_mapping,
            plan_import,
            read_file,
            save_mapping,
            write_import_report,
        )

        self.begin("import")
        config = self.config
        sheet = config.sheet(config.import_.sheet)
        sources = [read_file(p, sheet, config, sheet_name) for p in files]
        mapped = load_mapping(mapping, sheet) if mapping else None
        table = self.source.read(sheet.key)
        plan = plan_import(sources, table, config, self.store, now=self.now, mapping=mapped,
                           strict=strict, defaults=defaults)  # fmt: skip
        appended = 0
        if not self.dry_run:
            appended = apply_import(plan, self.source, config, self.store, now=self.now,
                                    fingerprint=table.fingerprint)  # fmt: skip
        mapping_file = report = None
        stem = files[0].stem if len(files) == 1 else "import"
        if not self.dry_run or save_map:  # a dry run writes nothing unless the mapping is asked for
            mapping_file = save_mapping(config.path(f"reports/import-mapping-{stem}.toml"),
                                        plan.mappings, sheet, plan.values)  # fmt: skip
        if not self.dry_run:
            report = write_import_report(plan, config, unused_path(
                config.path(f"reports/导入报告-{self.now:%Y%m%d-%H%M}.xlsx")))  # fmt: skip
        self.counts["imported"] = appended
        self.done("import", appended)
        return Imported(plan, sources, appended, mapping_file, report)


@dataclass
class Imported:
    """What `Job.import_files` did: the plan (per row its outcome), the files read, how many rows
    were appended, the mapping file (in a dry run only with --save-map) and the import report
    (none in a dry run)."""

    plan: Any
    files: list[Any]
    appended: int
    mapping_file: Path | None
    report: Path | None


# -- finding and running jobs -----------------------------------------------------------------
def job_folders(config: Config) -> list[Path]:
    """Where job files are looked for: the instance's jobs/ first, then the bundled ones."""
    return [config.path("jobs"), instance_files().jobs]


def job_names(config: Config) -> list[str]:
    names: set[str] = set()
    for folder in job_folders(config):
        if folder.is_dir():
            names |= {p.stem for p in folder.glob("*.py") if NAME.fullmatch(p.stem)}
    return sorted(names)


def load_job(name: str, config: Config) -> Callable[[Job], None]:
    """The `run` function of jobs/NAME.py; ConfigError naming the file when it is missing or
    broken (so the scheduler finds out when it starts, not at 2 a.m.)."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a job name (a lower-case file name such as 'nightly')")
    path = next((f / f"{name}.py" for f in job_folders(config) if (f / f"{name}.py").is_file()),
                None)  # fmt: skip
    if path is None:
        raise ConfigError(f"no job {name!r}: there is no jobs/{name}.py beside config.toml "
                          f"(known jobs: {', '.join(job_names(config)) or 'none'})")  # fmt: skip
    module = _import(path, name)
    run = getattr(module, "run", None)
    if not callable(run):
        raise ConfigError(f"{path}: a job file must define run(job)")
    return run


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sheetcrm_jobs.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise ConfigError(f"{path} cannot be loaded: {type(e).__name__}: {e}") from None
    return module


def run_job(name: str, config: Config, *, now: datetime, dry_run: bool = False,
            stop: Callable[[], bool] = lambda: False, wall: Callable[[], datetime] = datetime.now,
            log: Callable[[str], None] = log_line) -> RunReport:  # fmt: skip
    """Run job `name` (jobs/NAME.py) at time `now` and return how it ended; never raises for a
    failing job. See `run_steps`."""
    try:
        run = load_job(name, config)
    except SheetCRMError as e:
        return RunReport(name, now, "failed", error=str(e), locale=config.locale)
    return run_steps(name, run, config, now=now, dry_run=dry_run, stop=stop, wall=wall, log=log)


def run_steps(name: str, run: Callable[[Job], None], config: Config, *, now: datetime,
              dry_run: bool = False, stop: Callable[[], bool] = lambda: False,
              wall: Callable[[], datetime] = datetime.now, log: Callable[[str], None] = log_line,
              options: StepOptions | None = None) -> RunReport:  # fmt: skip
    """Run `run(job)` as job `name`: the one way steps run, for a job file and for the CLI's
    commands alike (lock, run record, interrupted runs finished, every ending a RunReport).

    `wall` is the real clock, used for the lock's expiry only (a lock must expire in real time
    even when `now` is a date in a test)."""
    report = RunReport(name, now, "ok", locale=config.locale)
    try:
        store = open_for_reading(config.store_url) if dry_run else Store(config.store_url)
    except SheetCRMError as e:
        report.outcome, report.error = "failed", str(e)
        return report
    except Exception as e:  # the store's database cannot be reached
        report.outcome, report.error = "failed", f"the state store cannot be opened: {e}"
        return report
    try:
        with nullcontext() if dry_run else store.locked(name, now=wall(), clock=wall):
            _run(run, name, config, store, report, now=now, dry_run=dry_run, stop=stop, log=log,
                 options=options)  # fmt: skip
    except RunLocked as e:  # another run holds the job: recorded, so `sheetcrm runs` shows it
        report.outcome, report.error = "skipped", str(e)
        report.run_id = store.start_run(name, now=now)
        store.finish_run(report.run_id, now=now, outcome="skipped", counts={},
                         warnings=[report.error])  # fmt: skip
    return report


def _run(run: Callable[[Job], None], name: str, config: Config, store: Store, report: RunReport,
         *, now: datetime, dry_run: bool, stop: Callable[[], bool],
         log: Callable[[str], None], options: StepOptions | None) -> None:  # fmt: skip
    """One run under the job's lock: record it, run the job file, record how it ended."""
    started = time.monotonic()
    if not dry_run:
        report.run_id = store.start_run(name, now=now)
    with progress(name, 0) as update:
        job = Job(name, config, now=now, store=store, dry_run=dry_run, run_id=report.run_id,
                  stop=stop, update=update, options=options)  # fmt: skip
        try:
            if not dry_run and store.pending():  # a run killed between its swap and its commit
                try:
                    for line in finish_interrupted(store, job.source, now=now):
                        job.warn(line)
                except SheetCRMError as e:  # the workbook cannot be read now: jobs that do not
                    job.warn(f"an interrupted run could not be finished yet: {e}")  # need it go on
            run(job)
            report.outcome = "dry-run" if dry_run else "ok"
        except JobStopped as e:
            report.outcome, report.error = "stopped", str(e)
        except PartlyDelivered as e:
            report.outcome, report.error = "partly failed", str(e)
        except SheetCRMError as e:
            report.outcome, report.error = "failed", str(e)
        except Exception as e:  # a bug: logged in full, the run recorded, the scheduler lives
            report.outcome, report.error = "failed", f"{type(e).__name__}: {e}"
            log(traceback.format_exc())
        report.counts, report.warnings, report.lines = job.counts, job.warnings, job.lines
    report.seconds = round(time.monotonic() - started, 1)
    if report.run_id is not None:
        counts = {**report.counts, "seconds": report.seconds, "summary": report.lines}
        warnings = report.warnings + ([report.error] if report.error else [])
        store.finish_run(report.run_id, now=now, outcome=report.outcome, counts=counts,
                         warnings=warnings)  # fmt: skip
