"""The `sheetcrm` command: parses options, calls the library, prints. Nothing here that Python
callers cannot do themselves."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table as RichTable

from . import __version__
from .config import Config, load_config
from .demo import generate_demo
from .errors import SheetCRMError
from .instance import instance_files
from .job import Job, RunReport, StepOptions, run_steps
from .messages import how_matched, labels, list_separator, problem_kind, text, word
from .output import unused_path
from .pipeline import Plan
from .progress import progress as _progress
from .sources import open_source
from .store import open_for_reading
from .templates import build_template

console = Console(highlight=False)


def _load(ctx: click.Context) -> Config:
    try:
        return load_config(ctx.obj["config_path"])
    except SheetCRMError as e:
        raise click.ClickException(str(e)) from None


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal; tab-separated lines in logs and pipes."""
    if console.is_terminal:
        table = RichTable(title=title)
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*r)
        console.print(table)
    else:
        click.echo(title)
        click.echo("\t".join(columns))
        for r in rows:
            click.echo("\t".join(r))


@contextmanager
def user_errors() -> Iterator[None]:
    """What goes wrong for a reason a person can fix (a locked workbook, a bad file): one line and
    exit code 1, never a traceback."""
    try:
        yield
    except SheetCRMError as e:
        raise click.ClickException(str(e)) from None


def instance_command(now_help: str = "The time of the run, e.g. 2026-11-23T02:00 (default: now).",
                     *, workbook: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:  # fmt: skip
    """The options every command on the instance shares: an optional WORKBOOK (another workbook
    than config.toml's source: the same steps on it) and --now. The command receives `config`
    (with that workbook as its source) and `now`; a SheetCRMError becomes a one-line message."""

    def decorate(f: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(f)
        def command(ctx: click.Context, now_text: str | None, workbook_path: Path | None = None,
                    **options: Any) -> None:  # fmt: skip
            config = _load(ctx)
            if workbook_path is not None:
                config = config.model_copy(update={"source": str(workbook_path.resolve())})
            now = _parse_now(now_text, config)
            with user_errors():
                f(config, now, **options)

        command = click.option("--now", "now_text", help=now_help)(command)
        if workbook:
            command = click.argument("workbook_path", metavar="[WORKBOOK]", required=False,
                                     type=click.Path(dir_okay=False, path_type=Path))(command)  # fmt: skip
        return click.pass_context(command)

    return decorate


def _steps(name: str, config: Config, now: datetime, step: Callable[[Job], Any], *,
           dry_run: bool = False, options: StepOptions | None = None) -> tuple[RunReport, Any]:  # fmt: skip
    """Run `step(job)` the one way steps run (`run_steps`: the store, the job's lock, the run
    record); returns the report and what the step returned. A run that did not go well ends the
    command with its reason (exit code 1), after its summary lines."""
    got: list[Any] = []
    report = run_steps(name, lambda job: got.append(step(job)), config, now=now, dry_run=dry_run,
                       options=options)  # fmt: skip
    if not report.ok:
        _echo_report(report)
    return report, got[0] if got else None


def _parse_day(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-23") from None


@click.group()
@click.version_option(__version__, prog_name="sheetcrm")
@click.option(
    "--config",
    "config_path",
    default="config.toml",
    envvar="SHEETCRM_CONFIG",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The instance's config file.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path) -> None:
    """sheetcrm: the spreadsheets your team already uses, working as a CRM."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create a new instance folder: config.toml, the workbook template and the jobs

    Example:

    \b
        sheetcrm init ~/crm && cd ~/crm && sheetcrm config check
    """
    target = directory / "config.toml"
    if target.exists():
        raise click.ClickException(f"{target} already exists; nothing was changed")
    files = instance_files()
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(files.config, target)
    if files.jobs.is_dir():
        shutil.copytree(files.jobs, directory / "jobs", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    config = load_config(target)
    out = build_template(config, directory / "templates" / "customers.xlsx")
    click.echo(f"created {directory}: config.toml, {out.relative_to(directory)}, jobs/")
    click.echo(
        f"next: cd {directory} && sheetcrm demo   (or copy your workbook to {config.source})"
    )


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write (default: templates/customers.xlsx beside config.toml).")  # fmt: skip
@click.option("--gsheet", "gsheet_key", help="Set up this Google Sheet (its key or URL) instead.")
@click.pass_context
def templates(ctx: click.Context, out: Path | None, gsheet_key: str | None) -> None:
    """Build the workbook template people fill in, from config.toml (or set up a Google Sheet)

    Example:

    \b
        sheetcrm templates --out /tmp/customers.xlsx
        sheetcrm templates --gsheet 1AbC...xyz
    """
    config = _load(ctx)
    if gsheet_key:
        from .config import GSHEET_URL
        from .sources.gsheet import GSheetSource
        from .templates import setup_gsheet

        m = GSHEET_URL.match(gsheet_key)
        key = m[1] if m else gsheet_key.removeprefix("gsheet://")
        try:
            for line in setup_gsheet(config, GSheetSource(key, config)):
                click.echo(line)
        except SheetCRMError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f'set up Google Sheet {key}; point source at it: source = "gsheet://{key}"')
        return
    path = build_template(config, out or config.path("templates/customers.xlsx"))
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--rows", default=1000, show_default=True, type=click.IntRange(1, 1_048_575),
              help="Customer rows.")  # fmt: skip
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same workbook.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write (default: the workbook config.toml names as its source).")  # fmt: skip
@click.option("--today", help="The date demo dates are relative to (default: today).")
@click.option("--followups", type=click.IntRange(0, 1_048_575),
              help="Follow-up rows (default: as many as customers).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing workbook.")
@click.option("--if-missing", is_flag=True, help="Do nothing if the workbook already exists.")
@click.pass_context
def demo(ctx: click.Context, rows: int, seed: int, out: Path | None, today: str | None,
         followups: int | None, force: bool, if_missing: bool) -> None:  # fmt: skip
    """Write a realistic demo workbook, with a ground-truth file of its problems and duplicates

    Example:

    \b
        sheetcrm demo --rows 5000 --seed 7 --out /tmp/demo.xlsx --today 2026-11-23
    """
    config = _load(ctx)
    path = out or config.workbook_path
    if path.exists() and if_missing:
        click.echo(f"{path} exists; kept as it is")
        return
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    with _progress("demo", rows) as progress:
        summary = generate_demo(config, path, rows=rows, seed=seed, today=_parse_day(today),
                                followups=followups, progress=progress)  # fmt: skip
    sheets = list_separator(config.locale).join(
        f"{config.sheet(k).name} {n:,}" for k, n in summary.rows.items()
    )
    click.echo(text(config.locale, "demo.wrote", path=summary.path, sheets=sheets))
    click.echo(text(config.locale, "demo.truth", path=summary.truth_path,
                    n=sum(summary.truth.values())))  # fmt: skip


@cli.command()
@instance_command()
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the error list (default: reports/校验错误清单-<time>.xlsx).")  # fmt: skip
def check(config: Config, now: datetime, dry_run: bool, errors_path: Path | None) -> None:
    """Check every row, write ✓/✗ and the problems into the status columns, list the errors

    Exit code 0 means the run worked, even when the data has problems.

    Example:

    \b
        sheetcrm check --dry-run
        sheetcrm check data/customers.xlsx --now 2026-11-23T02:00
    """
    report, _ = _steps("check", config, now, lambda job: job.apply(job.plan(job.read())),
                       dry_run=dry_run, options=StepOptions(error_list=errors_path))  # fmt: skip
    sheets = {s.key: s for s in config.sheets}
    rows: list[list[str]] = []
    by_code: dict[str, int] = {}
    for key, info in report.counts.items():
        if key not in sheets or not isinstance(info, dict):
            continue
        rows.append([sheets[key].name, f"{info['rows']:,}", f"{info['rows_with_problems']:,}",
                     f"{info['problems']:,}", f"{info['duplicates']:,}",
                     f"{info['rows_to_write']:,}"])  # fmt: skip
        for label_code, n in info.get("problems_by", {}).items():
            by_code[label_code] = by_code.get(label_code, 0) + n
    loc = config.locale
    if rows:
        _print_table(text(loc, "check.title"), text(loc, "check.columns").split("|"), rows)
    top = sorted(by_code.items(), key=lambda kv: -kv[1])[:15]
    if top:
        _print_table(text(loc, "check.by_field"), text(loc, "check.by_field_columns").split("|"),
                     [[lc.rsplit("/", 1)[0], problem_kind(loc, lc.rsplit("/", 1)[-1]), f"{n:,}"]
                      for lc, n in top])  # fmt: skip
    _echo_report(report)


def _echo_warnings(report: RunReport, *, err: bool = False, indent: str = "") -> None:
    """A run's warnings, each marked as one in the team's locale."""
    for w in report.warnings:
        click.echo(indent + text(report.locale, "cli.warning", text=w), err=err)


def _echo_report(report: RunReport) -> None:
    """A run's summary lines and warnings; exit code 1 (with the reason) unless it went well."""
    for line in report.lines:
        click.echo(line)
    _echo_warnings(report)
    if not report.ok:
        raise click.ClickException(f"{report.outcome}: {report.error}")


def _preview(config: Config, now: datetime) -> Plan:
    """The plan of a run now, from the workbook and the store as they are; nothing is written."""
    report, plan = _steps("check", config, now, lambda job: job.plan(job.read()), dry_run=True)
    _echo_warnings(report, err=True)
    assert isinstance(plan, Plan)
    return plan


@cli.command("plan")
@instance_command()
@click.option(
    "--limit", default=0, type=click.IntRange(0), help="Print at most this many cells (0: all)."
)
def plan_command(config: Config, now: datetime, limit: int) -> None:
    """Print what the next run would do: every cell old → new, every change and notification

    Nothing is written: not the workbook, not the state store.

    Example:

    \b
        sheetcrm plan --now 2026-11-23T02:00 | less
    """
    plan = _preview(config, now)
    cells = plan.cell_changes(config)
    shown = cells if not limit else cells[:limit]
    loc = config.locale
    click.echo(text(loc, "plan.cells", n=len(cells)))
    for c in shown:
        click.echo("  " + text(loc, "plan.cell", sheet=c.sheet, id=c.record_id, row=c.row,
                               column=c.column, old=c.old, new=c.new))  # fmt: skip
    if len(shown) < len(cells):
        click.echo("  " + text(loc, "plan.more", n=len(cells) - len(shown)))
    events = plan.events()
    names = {s.key: s.name for s in config.sheets}
    click.echo(text(loc, "plan.events", n=len(events)))
    for e in events if not limit else events[:limit]:
        click.echo(
            "  "
            + _describe_event(config, names[e.sheet], e.record_id, e.kind, e.field, e.old, e.new)
        )
    click.echo(text(loc, "plan.notes", n=len(plan.notifications)))
    notes = plan.notifications if not limit else plan.notifications[:limit]
    for n in notes:
        kind = word(loc, "reason", n.kind)
        cc = text(loc, "plan.cc", who="、".join(n.cc)) if n.cc else ""
        click.echo("  " + text(loc, "plan.note", kind=kind, to=n.recipient, cc=cc, id=n.record_id,
                               subject=n.subject))  # fmt: skip
    if len(notes) < len(plan.notifications):
        click.echo("  " + text(loc, "plan.more", n=len(plan.notifications) - len(notes)))
    click.echo(text(config.locale, "plan.nothing_written"))


def _describe_event(config: Config, sheet_name: str, record_id: str, kind: str, field: str | None,
                    old: str | None, new: str | None) -> str:  # fmt: skip
    label = field or ""
    for s in config.sheets:
        if s.name == sheet_name and field:
            label = next((f.label for f in s.fields if f.key == field), field)
    loc, empty = config.locale, text(config.locale, "rule.empty")
    if kind in ("created", "missing", "returned"):
        return text(loc, f"plan.{kind}", sheet=sheet_name, id=record_id)
    if kind == "stage":
        return text(loc, "plan.stage", sheet=sheet_name, id=record_id, label=label,
                    old=old or empty, new=new or empty)  # fmt: skip
    return text(loc, "plan.changed", sheet=sheet_name, id=record_id, label=label, old=old or "",
                new=new or "")  # fmt: skip


@cli.command()
@instance_command("The time to evaluate at, e.g. 2026-11-30T08:00 (default: now).")
@click.option("--to", "only", help="Only this person's reminders.")
def reminders(config: Config, now: datetime, only: str | None) -> None:
    """List the reminders due now, for whom and why; nothing is written or sent

    Example:

    \b
        sheetcrm reminders --now 2026-11-30T08:00 --to 王明
    """
    plan = _preview(config, now)
    due = [n for n in plan.notifications if n.kind in ("reminder", "catch_up", "escalation")
           and (only is None or n.recipient == only)]  # fmt: skip
    rows = [[n.recipient, n.record_id, n.subject, n.text, "、".join(n.cc)] for n in due]
    _print_table(
        f"reminders due {now:%Y-%m-%d %H:%M}", ["to", "record", "reminder", "why", "cc"], rows
    )
    click.echo(
        f"{len(due):,} reminder(s) due; nothing was sent (sheetcrm check queues them, sheetcrm digest sends)"
    )


@cli.command()
@instance_command("The time of the run (default: now).", workbook=False)
@click.option("--dry-run", is_flag=True, help="Show the digests; send nothing, mark nothing.")
@click.option("--to", "only", help="Only this person's digest (a name from [[people]]).")
def digest(config: Config, now: datetime, dry_run: bool, only: str | None) -> None:
    """Send each person one mail with everything queued for them (and customers' mails)

    Mail goes to the outbox folder as .eml files unless [mail] transport = "smtp". What was sent is
    recorded, so running it again sends nothing twice.

    Example:

    \b
        sheetcrm digest --dry-run --to 王明
    """
    if only is not None and only not in {p.name for p in config.people}:
        raise click.ClickException(f"{only!r} is not a person in [[people]]")
    options = StepOptions(only=only)
    if dry_run:  # a preview: every mail as it would go, nothing recorded
        _, mails = _steps("digest", config, now, lambda job: job.digests(), dry_run=True,
                          options=options)  # fmt: skip
        for mail in mails:
            click.echo("--- " + text(config.locale, "run.would_send", to=", ".join(mail.to),
                                 subject=mail.subject))  # fmt: skip
            click.echo(mail.text)
        click.echo(text(config.locale, "run.dry_mails", n=len(mails)))
        return
    report, _ = _steps("digest", config, now, lambda job: job.send(job.digests()), options=options)
    _echo_report(report)


@cli.command()
@click.argument("record_id")
@click.pass_context
def history(ctx: click.Context, record_id: str) -> None:
    """Print a record's life: created, every change and stage move, with when and which run

    Example:

    \b
        sheetcrm history C000123
    """
    config = _load(ctx)
    rows = open_for_reading(config.store_url).history(record_id.strip().upper())
    if not rows:
        raise click.ClickException(f"no history for {record_id}: no run has seen it yet")
    names = {s.key: s.name for s in config.sheets}
    lines = [[f"{r['at']:%Y-%m-%d %H:%M}", r["job"], r["kind"],
              _describe_event(config, names.get(r["sheet"], r["sheet"]), r["record_id"], r["kind"],
                              r["field"], r["old"], r["new"])] for r in rows]  # fmt: skip
    _print_table(f"history of {record_id}", ["when", "run", "event", "what"], lines)


@cli.command()
@instance_command("The time of the run (default: now).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the review workbook (default: reports/重复客户-<time>.xlsx).")  # fmt: skip
def dedupe(config: Config, now: datetime, out: Path | None) -> None:
    """Find duplicate records and write a review workbook, groups side by side

    Nothing is written into the team's workbook (`sheetcrm check` writes 重复客户 there); nothing is
    merged or deleted.

    Example:

    \b
        sheetcrm dedupe --out /tmp/重复客户.xlsx
    """
    run, found = _steps("dedupe", config, now, lambda job: job.review_duplicates(job.read()),
                        dry_run=True, options=StepOptions(out=out))  # fmt: skip
    _echo_warnings(run, err=True)
    rows = [[name, f"{n:,}", f"{groups:,}", f"{marked:,}", str(path)]
            for name, n, groups, marked, path in found]  # fmt: skip
    _print_table(text(config.locale, "dedupe.title"),
                 text(config.locale, "dedupe.columns").split("|"), rows)  # fmt: skip


def _parse_now(value: str | None, config: Config) -> datetime:
    """The run's time: as given, or the wall time now in config.toml's time zone."""
    if value is None:
        from .scheduler import zone_clock

        return zone_clock(config.timezone)().replace(second=0, microsecond=0)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time like 2026-11-23T02:00") from None


@cli.command()
@instance_command("The time of the report (default: now).")
@click.option("--period", default="week", show_default=True,
              type=click.Choice(["week", "month", "quarter"]),
              help="The last complete week (Mon–Sun), month or quarter; compared with the one before.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write (default: reports/report-YYYY-MM-DD.xlsx).")  # fmt: skip
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write every table as a UTF-8 CSV into this folder.")  # fmt: skip
@click.option("--for", "viewer", help="Only what this person may see (a rep: own customers; a "
              "manager: the team).")  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Compute the report and show its figures; write nothing."
)
def report(config: Config, now: datetime, period: str, out: Path | None, csv_dir: Path | None,
           viewer: str | None, dry_run: bool) -> None:  # fmt: skip
    """Write the report workbook: KPIs, customers, sales, funnel, follow-up, data quality, with charts

    Example:

    \b
        sheetcrm report --period month --csv reports/csv
        sheetcrm report --for 刘洋 --out /tmp/刘洋.xlsx
    """
    options = StepOptions(out=out, csv_dir=csv_dir, viewer=viewer, mail_report=False)
    run, _ = _steps("report", config, now, lambda job: job.report(job.read(), period=period),
                    options=options, dry_run=dry_run)  # fmt: skip
    if "kpis" not in run.counts:  # a dry run says what it would write, and computes no figures
        _echo_report(run)
        return
    lab = labels(config.locale, "report.label.")
    _print_table(lab["kpis"], [lab["kpi"], lab["this"], lab["previous"]],
                 [[str(r[0]), _figure(r[1]), _figure(r[2])] for r in run.counts["kpis"]])  # fmt: skip
    _echo_report(run)


def _figure(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{v:,.0f}" if isinstance(v, int | float) else str(v)


@cli.command()
@instance_command("The time the export is made at (default: now).")
@click.option("--sheet", "sheet_name", default=None, help="Sheet key or name (default: the first).")
@click.option("--owner", help="Only records of this owner (负责人, 跟进人, ...).")
@click.option("--since", help="Only records dated on or after this date (e.g. 2026-01-01).")
@click.option("--stage", help="Only records in this stage (e.g. 商务谈判).")
@click.option("--for", "viewer", help="Only what this person may see.")
@click.option(
    "--format", "fmt", default="xlsx", show_default=True, type=click.Choice(["xlsx", "csv"])
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write (default: reports/导出-<sheet>-<time>.xlsx).")  # fmt: skip
def export(config: Config, now: datetime, sheet_name: str | None, owner: str | None,
           since: str | None, stage: str | None, viewer: str | None, fmt: str,
           out: Path | None) -> None:  # fmt: skip
    """Export a sheet's rows as typed, with its status columns, filtered (导出数据)

    Example:

    \b
        sheetcrm export --owner 王明 --since 2026-01-01 --stage 商务谈判 --format csv
    """
    from .export import export_rows, select_rows

    sheet = next((s for s in config.sheets if sheet_name in (None, s.key, s.name)), None)
    if sheet is None:
        raise click.BadParameter(f"{sheet_name!r} is not a sheet; expected one of "
                                 + ", ".join(f"{s.key} ({s.name})" for s in config.sheets))  # fmt: skip
    table = open_source(config).read(sheet.key)
    rows = select_rows(table, sheet, config, now=now, owner=owner,
                       since=_parse_day(since) if since else None, stage=stage, viewer=viewer)  # fmt: skip
    path = out or unused_path(config.path(f"reports/导出-{sheet.name}-{now:%Y%m%d-%H%M}.{fmt}"))
    n = export_rows(table, sheet, rows, path, fmt)
    click.echo(
        text(config.locale, "export.done", n=n, total=len(table), sheet=sheet.name, path=path)
    )


@cli.command("import")
@instance_command("The time of the import (default: now).", workbook=False)
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option(
    "--sheet",
    "sheet_name",
    help="The sheet to read in .xlsx/.xls/.ods files (default: the first with data).",
)
@click.option("--map", "map_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A column mapping file (as saved by an earlier run, corrected by you).")  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Show the mapping and what would happen; write nothing."
)
@click.option(
    "--strict", is_flag=True, help="Hold back rows with problems instead of importing them."
)
@click.option("--save-map", is_flag=True,
              help="Write the mapping file (also in a dry run) for you to correct.")  # fmt: skip
@click.option("--default", "defaults", multiple=True, metavar="FIELD=VALUE",
              help="A value for rows whose file leaves FIELD empty, e.g. --default owner=刘洋 "
              "(on top of [import.defaults]).")  # fmt: skip
def import_command(config: Config, now: datetime, files: tuple[Path, ...], sheet_name: str | None,
                   map_path: Path | None, dry_run: bool, strict: bool, save_map: bool,
                   defaults: tuple[str, ...]) -> None:  # fmt: skip
    """Bring legacy spreadsheets and CSV exports into the customers sheet

    Columns are matched to fields (labels, synonyms in [import], then a fuzzy guess) and the
    mapping is saved for you to correct and pass back with --map. Rows already in the sheet (the
    duplicate matcher) or imported before are not added again; new ones get IDs.

    Example:

    \b
        sheetcrm import 老客户.xlsx 导出.csv --dry-run --save-map
        sheetcrm import 老客户.xlsx --map reports/import-mapping.toml
    """
    sheet = config.sheet(config.import_.sheet)
    keys = sheet.names()  # a field by key or label, as conditions name them
    given: dict[str, str] = {}
    for item in defaults:
        name, eq, value = item.partition("=")
        if not eq or name.strip() not in keys:
            raise click.BadParameter(f"{item!r}: expected FIELD=VALUE with a field of {sheet.name} "
                                     f"({', '.join(f.key for f in sheet.fields)})",
                                     param_hint="--default")  # fmt: skip
        given[keys[name.strip()]] = value.strip()
    run, done = _steps("import", config, now, lambda job: job.import_files(
        list(files), sheet_name=sheet_name, mapping=map_path, strict=strict, save_map=save_map,
        defaults=given), dry_run=dry_run)  # fmt: skip
    _echo_warnings(run, err=True)
    plan = done.plan
    field_labels = {f.key: f.label for f in sheet.fields}
    for f in done.files:
        rows = [[m.column, field_labels.get(m.field or "", "—"),
                 how_matched(config.locale, m.how, column=True), f"{m.confidence:.2f}"]
                for m in plan.mappings[f.path.name]]  # fmt: skip
        where = f" ({f.sheet})" if f.sheet else (f" ({f.encoding})" if f.encoding else "")
        _print_table(f.path.name + where + text(config.locale, "import.header_row", row=f.header_row),
                     text(config.locale, "import.columns").split("|"), rows)  # fmt: skip
    for name, found in plan.values.items():
        if found:
            _print_table(f"{name}: " + text(config.locale, "import.values_title"),
                         text(config.locale, "import.values_columns").split("|"),
                         [[field_labels.get(v.field, v.field), v.said, v.choice or "—",
                           how_matched(config.locale, v.how),
                           f"{v.confidence:.2f}"] for v in found])  # fmt: skip
    new = [r.record_id for r in plan.rows if r.outcome == "new"]
    span = f" ({new[0]}–{new[-1]})" if len(new) > 1 else f" ({new[0]})" if new else ""
    loc = config.locale
    click.echo(text(loc, "import.summary", rows=len(plan.rows), new=plan.count("new"), span=span,
                    existing=plan.count("existing"), repeated=plan.count("duplicate_in_file"),
                    before=plan.count("imported_before"), held=plan.count("held")))  # fmt: skip
    if done.mapping_file:
        click.echo(text(loc, "import.mapping", path=done.mapping_file))
    if dry_run:
        click.echo(text(loc, "import.dry_run") + ("" if save_map else text(loc, "import.dry_map")))
    else:
        click.echo(text(loc, "import.report", path=done.report))
        click.echo(text(loc, "import.appended", n=done.appended, sheet=sheet.name,
                        where=open_source(config).where))  # fmt: skip


@cli.command("run")
@click.argument("names", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Compute and show; write, send and record nothing.")
@click.option(
    "--now", "now_text", help="The time of the run, e.g. 2026-11-23T02:00 (default: now)."
)
@click.pass_context
def run_command(ctx: click.Context, names: tuple[str, ...], dry_run: bool,
                now_text: str | None) -> None:  # fmt: skip
    """Run jobs now, in the order given (for cron, Task Scheduler or a systemd timer)

    Each run takes the job's lock, is recorded in the state store (`sheetcrm runs`) and ends with
    a summary. Exit code 1 if a run failed or was skipped because another run holds the lock.

    Example:

    \b
        sheetcrm run nightly digest
        sheetcrm run nightly --dry-run --now 2026-11-24T02:00
    """
    from .job import run_job

    config = _load(ctx)
    now = _parse_now(now_text, config)
    failed = []
    for name in names:
        report = run_job(name, config, now=now, dry_run=dry_run)
        loc = config.locale
        outcome = word(loc, "outcome", report.outcome)
        click.echo(text(loc, "run.header", job=name, now=f"{now:%Y-%m-%d %H:%M}", outcome=outcome)
                   + (text(loc, "run.seconds", s=report.seconds) if report.seconds else ""))  # fmt: skip
        for line in report.lines:
            click.echo(f"  {line}")
        _echo_warnings(report, indent="  ")
        if report.error:
            click.echo(f"  {outcome}: {report.error}")
        if not report.ok:
            failed.append(name)
    if failed:
        raise click.ClickException(
            f"not done: {', '.join(failed)} (see above; the next run tries again)"
        )


@cli.command()
@click.option("--job", help="Only this job's runs.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="How many.")
@click.pass_context
def runs(ctx: click.Context, job: str | None, limit: int) -> None:
    """List the latest runs from the state store: when, outcome, seconds, what they did

    Example:

    \b
        sheetcrm runs --job nightly --limit 5
    """
    import json

    config = _load(ctx)
    rows = []
    for r in open_for_reading(config.store_url).runs(job, limit=limit):
        counts = json.loads(r["counts"] or "{}")
        warnings = json.loads(r["warnings"] or "[]")
        what = counts.get("summary") or []
        rows.append([str(r["id"]), r["job"], f"{r['started']:%Y-%m-%d %H:%M}", r["outcome"] or "running",
                     f"{counts['seconds']:.1f}" if "seconds" in counts else "",
                     "; ".join(list(what) + [f"⚠ {w}" for w in warnings])])  # fmt: skip
    if not rows:
        click.echo("no runs yet")
        return
    _print_table("runs", ["run", "job", "time", "outcome", "seconds", "what"], rows)


@cli.command("schedule")
@click.option("--list", "list_only", is_flag=True, help="Print each job's next run and exit.")
@click.pass_context
def schedule_command(ctx: click.Context, list_only: bool) -> None:
    """Run every job on its schedule in [jobs] until stopped (SIGTERM or Ctrl-C)

    Runs missed while no scheduler was running are caught up once at start. A stop request lets
    the running job finish its current step. Run it as a service (systemd, a container, nohup); two
    schedulers sharing one state store never run the same job at once.

    Example:

    \b
        sheetcrm schedule --list
    """
    from .scheduler import Scheduler

    config = _load(ctx)
    if not config.jobs:
        raise click.ClickException("config.toml has no [jobs] schedules")
    try:
        scheduler = Scheduler(config)
    except SheetCRMError as e:
        raise click.ClickException(str(e)) from None
    if list_only:
        nexts = scheduler.next_runs()
        _print_table(f"jobs ({config.timezone})", ["job", "schedule", "next run"],
                     [[n, s.text, f"{nexts[n]:%Y-%m-%d %H:%M}"] for n, s in config.jobs.items()])  # fmt: skip
        return
    scheduler.serve()


@cli.command()
@click.argument("archive", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path),
              help="Restore into this folder instead of over the workbook and the state store.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def restore(ctx: click.Context, archive: Path | None, to: Path | None, yes: bool) -> None:
    """Show what a backup archive holds, then bring it back

    Without ARCHIVE, lists the archives. In place, the current workbook and state store are first
    copied to backups/before-restore-<time>/; config.toml is only restored into a folder (--to).

    Example:

    \b
        sheetcrm restore
        sheetcrm restore backups/archives/sheetcrm-20261123-030000.zip --to /tmp/restored
    """
    from .backup import archives, backup_key, read_archive
    from .backup import restore as restore_archive

    config = _load(ctx)
    if archive is None:
        found = archives(config)
        if not found:
            click.echo(f"no archives in {config.path(config.backup.archive_dir)}")
            return
        _print_table("archives (newest first)", ["archive", "size", "encrypted"],
                     [[str(p), f"{p.stat().st_size / 1e6:.1f} MB",
                       "yes" if p.suffix == ".enc" else "no"] for p in found])  # fmt: skip
        return
    try:
        key = backup_key(config) if archive.suffix == ".enc" else None
        info = read_archive(archive, key)
        _print_table(f"{archive} (made {info.created:%Y-%m-%d %H:%M})",
                     ["file", "size", "sha256", "taken from"],
                     [[f.name, f"{f.size:,}", f.sha256[:12], f.origin] for f in info.files])  # fmt: skip
        where = str(to) if to else "over the current workbook and state store (copies kept first)"
        if not yes and not click.confirm(f"restore {archive.name} {where}?"):
            click.echo("nothing was restored")
            return
        done = restore_archive(archive, config, key=key, to=to,
                               now=_parse_now(None, config))  # fmt: skip
    except SheetCRMError as e:
        raise click.ClickException(str(e)) from None
    for f, dest in done:
        click.echo(f"restored {f.name} → {dest}")
    if to is None:
        click.echo(
            f"the files it replaced are in {config.path(config.backup.dir)}/before-restore-*"
        )


@cli.group("config")
def config_group() -> None:
    """Inspect config.toml."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate config.toml and print its sheets and fields

    Example:

    \b
        sheetcrm --config config.toml config check
    """
    config = _load(ctx)
    loc = config.locale
    for sheet in config.sheets:
        rows = []
        for f in sheet.fields:
            rule = (text(loc, "expect.required") if f.required else
                    text(loc, "expect.required_if", condition=sheet.phrase(f.required_if, loc))
                    if f.required_if else "")  # fmt: skip
            extra = "、".join(f.choices) if f.choices else (f.help or "")
            rows.append([f.key, f.label, text(loc, f"type.{f.type}"), rule, extra])
        rows += [[str(st.key), st.label, text(loc, "template.status"), "", ""]
                 for st in sheet.status]  # fmt: skip
        _print_table(f"{sheet.name} ({sheet.key})", text(loc, "config.columns").split("|"), rows)
    click.echo(text(loc, "config.ok", sheets=len(config.sheets), people=len(config.people),
                    jobs=len(config.jobs), source=config.source))  # fmt: skip
    from .notify import customer_mail_gaps

    for gap in customer_mail_gaps(config):
        click.echo(text(loc, "cli.warning", text=gap))
    if not config.is_gsheet and not config.workbook_path.is_file():
        click.echo(text(loc, "config.no_workbook", path=config.workbook_path))
        return
    try:
        present = set(open_source(config).sheet_names())
    except SheetCRMError as e:
        click.echo(text(loc, "config.unreadable", error=e))
        return
    for sheet in config.sheets:
        if sheet.name in present:
            continue
        if not sheet.optional:
            click.echo(text(loc, "config.no_sheet", sheet=sheet.name))
            continue
        needs = config.needs(sheet.key)
        click.echo(text(loc, "config.inactive", sheet=sheet.name)
                   + (": " + "; ".join(needs) if needs else ""))  # fmt: skip


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="sheetcrm")


if __name__ == "__main__":  # pragma: no cover
    main()
