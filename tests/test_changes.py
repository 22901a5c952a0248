"""The tool's memory: a workbook driven through dated runs (edits made between them with openpyxl),
with the snapshots and events of each run asserted; the run lock; plan/apply idempotency; history."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.utils import get_column_letter
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    text,
)

from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.pipeline import Plan, apply_plan, build_plan, read_all
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.store import SCHEMA_VERSION, RunLocked, Store, metadata
from sheetcrm.table import Notification

from .conftest import ROOT
from .workbooks import openpyxl_workbook

# Set SHEETCRM_TEST_STORE_URL (e.g. postgresql+psycopg://sheetcrm:sheetcrm@localhost/sheetcrm_test) to
# run these tests against that database instead of SQLite files; its tables are dropped first.
SERVER_URL = os.environ.get("SHEETCRM_TEST_STORE_URL")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, or the server database emptied."""
    if not SERVER_URL:
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    engine = create_engine(SERVER_URL)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS meta, runs, decisions CASCADE"))
    engine.dispose()
    return SERVER_URL


@pytest.fixture
def instance(tmp_path: Path, store_url: str) -> tuple[Config, Path]:
    """A copy of the bundled instance in tmp_path with a 5-customer workbook."""
    raw = (ROOT / "config.toml").read_text(encoding="utf-8")
    if SERVER_URL:
        raw = raw.replace('url = "sqlite:///state/sheetcrm.sqlite"', f'url = "{store_url}"')
    (tmp_path / "config.toml").write_text(raw, encoding="utf-8")
    config = load_config(tmp_path / "config.toml")
    (tmp_path / "data").mkdir()
    openpyxl_workbook(config.workbook_path, config, n=5)
    wb = openpyxl.load_workbook(config.workbook_path)
    for sheet in config.sheets[1:]:  # the other sheets, empty, as the template has them
        wb.create_sheet(sheet.name).append([f.header for f in sheet.fields])
    wb.save(config.workbook_path)
    return config, tmp_path


def col(config: Config, key: str) -> str:
    keys = [f.key for f in config.sheet("customers").fields]
    return get_column_letter(keys.index(key) + 1)


def run(config: Config, when: datetime, store: Store) -> Plan:
    source = ExcelSource(config.workbook_path, config)
    plan = build_plan(read_all(source, config), config, now=when, store=store)
    apply_plan(plan, source, config, store=store)
    return plan


def events_of(store: Store, run_id: int) -> set[tuple]:
    return {
        (e["record_id"], e["kind"], e["field"], e["old"], e["new"]) for e in store.events(run_id)
    }


def snapshot_ids(store: Store) -> dict[str, bool]:
    snap = store.snapshot("customers")
    return dict(zip(snap.hashes.index, snap.missing, strict=True))


def test_dated_runs_record_snapshots_and_events(instance):
    config, root = instance
    store = Store(config.store_url)
    path = config.workbook_path

    # night 1: every customer is new
    run(config, datetime(2026, 11, 20, 2, 0), store)
    first = store.runs()[0]
    assert first["outcome"] == "ok"
    assert events_of(store, first["id"]) == {
        (f"C00000{i}", "created", None, None, None) for i in range(1, 6)
    }
    assert snapshot_ids(store) == {f"C00000{i}": False for i in range(1, 6)}

    # the same night again, nothing edited: no events, no writes
    before = path.read_bytes()
    again = run(config, datetime(2026, 11, 20, 3, 0), store)
    assert again.events() == [] and again.rows_to_write == 0
    assert path.read_bytes() == before
    assert store.events(store.runs()[0]["id"]) == []

    # people work: 王明 moves C000002 on, changes C000003's amount, deletes C000005, adds a customer
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    ws[f"{col(config, 'stage')}3"] = "商务谈判"
    ws[f"{col(config, 'expected_amount')}4"] = 35000
    ws.delete_rows(6)  # C000005
    new_row = [c.value for c in ws[2]]
    new_row[0] = None
    new_row[1] = "新来的科技有限公司"
    new_row[[f.key for f in config.sheet("customers").fields].index("mobile")] = "13912345678"
    ws.append(new_row)
    wb.save(path)

    night2 = run(config, datetime(2026, 11, 21, 2, 0), store)
    second = store.runs()[0]
    assert events_of(store, second["id"]) == {
        ("C000002", "stage", "stage", "线索", "商务谈判"),
        ("C000003", "changed", "expected_amount", "30000", "35000"),
        ("C000005", "missing", None, None, None),
        ("C000006", "created", None, None, None),  # the blank ID got the next number
    }
    assert night2.patches["customers"].new_ids  # and was written into the sheet
    assert snapshot_ids(store) == {
        **{f"C00000{i}": False for i in (1, 2, 3, 4, 6)},
        "C000005": True,
    }

    # night 3, no edits: nothing new, C000005 stays missing without a second event
    run(config, datetime(2026, 11, 22, 2, 0), store)
    assert store.events(store.runs()[0]["id"]) == []

    # someone pastes C000005 back (edited): it returns, with its change
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    row = [c.value for c in ws[2]]
    row[0], row[1] = "C000005", "测试公司5有限公司"
    row[[f.key for f in config.sheet("customers").fields].index("mobile")] = "13800000004"
    row[[f.key for f in config.sheet("customers").fields].index("expected_amount")] = 50000
    row[[f.key for f in config.sheet("customers").fields].index("contact_name")] = "联系人5"
    ws.append(row)
    wb.save(path)
    run(config, datetime(2026, 11, 23, 2, 0), store)
    assert events_of(store, store.runs()[0]["id"]) == {
        ("C000005", "returned", None, None, None),
        ("C000005", "changed", "first_contact", "2026-01-05", "2026-01-01"),  # copied from row 2
    }
    assert snapshot_ids(store)["C000005"] is False

    # the life of C000002, from the store and from the command line
    kinds = [(e["kind"], e["old"], e["new"]) for e in store.history("C000002")]
    assert kinds == [("created", None, None), ("stage", "线索", "商务谈判")]
    out = CliRunner().invoke(cli, ["--config", str(root / "config.toml"), "history", "c000002"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[1].split("\t") == ["when", "run", "event", "what"]
    assert lines[2].startswith("2026-11-20 02:00\tcheck\tcreated\t客户信息 C000002：新记录")
    assert (
        lines[3]
        == "2026-11-21 02:00\tcheck\tstage\t客户信息 C000002：销售阶段 从 线索 变为 商务谈判"
    )
    unknown = CliRunner().invoke(cli, ["--config", str(root / "config.toml"), "history", "C999999"])
    assert unknown.exit_code == 1 and "no history for C999999" in unknown.output


def test_bulk_inserts_in_batches_keep_every_row(instance, monkeypatch):
    """Snapshots and events go in batches (a million customers would be gigabytes as one list);
    a batch boundary must not lose or repeat a row."""
    monkeypatch.setattr("sheetcrm.store.INSERT_BATCH", 2)
    config, _ = instance
    store = Store(config.store_url)
    run(config, datetime(2026, 11, 20, 2, 0), store)
    first = store.runs()[0]["id"]
    created = [e["record_id"] for e in store.events(first) if e["kind"] == "created"]
    assert sorted(created) == [f"C00000{i}" for i in range(1, 6)]
    assert snapshot_ids(store) == {f"C00000{i}": False for i in range(1, 6)}
    # the rows go to the driver already converted by each column type: read back as written
    events = store.events(first)
    assert {e["at"] for e in events} == {datetime(2026, 11, 20, 2, 0)}
    assert store.stage_since("customers")["C000001"] == datetime(2026, 11, 20, 2, 0)
    # notifications take the same path: five across batches of two, one already known
    notes = [Notification(f"k{i}", "reminder", "王明", "customers", f"C00000{i}", f"s{i}")
             for i in range(1, 6)]  # fmt: skip
    store.queue(first, notes[:1], now=datetime(2026, 11, 20, 3, 0))
    store.queue(first, notes, now=datetime(2026, 11, 20, 4, 0))
    queued = {n["key"]: (n["record_id"], n["subject"], n["status"], n["created"])
              for n in store.notifications() if n["key"].startswith("k")}  # fmt: skip
    assert queued == {f"k{i}": (f"C00000{i}", f"s{i}", "pending",
                                datetime(2026, 11, 20, 3 if i == 1 else 4, 0)) for i in range(1, 6)}  # fmt: skip
    assert store.notification_keys(["k1", "k9"], status="pending") == {"k1"}
    assert store.notification_keys(["k1"], status="sent") == set()


def test_history_functions_see_the_last_run(instance):
    config, _ = instance
    store = Store(config.store_url)
    run(config, datetime(2026, 11, 20, 2, 0), store)
    path = config.workbook_path
    wb = openpyxl.load_workbook(path)
    wb["客户信息"][f"{col(config, 'stage')}3"] = "商务谈判"
    wb.save(path)
    source = ExcelSource(path, config)
    plan = build_plan(
        {"customers": source.read("customers")}, config, now=datetime(2026, 11, 21), store=store
    )
    from sheetcrm.expr import Env

    change = plan.changes["customers"]
    typed = plan.results["customers"].typed
    env = Env(typed, config.sheet("customers").kinds(), plan.now, change.previous, change.existed)
    moved = config.sheet("customers").condition('changed_to(销售阶段, "商务谈判")')(env)
    assert list(moved.index[moved]) == [3]


def test_applying_the_same_plan_twice_changes_nothing(instance):
    config, _ = instance
    store = Store(config.store_url)
    source = ExcelSource(config.workbook_path, config)
    plan = build_plan(
        {"customers": source.read("customers")}, config, now=datetime(2026, 11, 20), store=store
    )
    first = apply_plan(plan, source, config, store=store)
    assert first.run_id is not None and first.written["customers"].rows_written == 5
    after = config.workbook_path.read_bytes()
    events = len(store.events())
    second = apply_plan(plan, source, config, store=store)
    assert second.already_applied and second.written == {}
    assert config.workbook_path.read_bytes() == after
    assert len(store.events()) == events and len(store.runs()) == 1


def test_a_failed_write_leaves_the_store_as_it_was(instance):
    config, _ = instance
    store = Store(config.store_url)
    path = config.workbook_path
    source = ExcelSource(path, config)
    plan = build_plan(
        {"customers": source.read("customers")}, config, now=datetime(2026, 11, 20), store=store
    )
    lock = path.with_name("~$" + path.name)
    lock.write_bytes(b"\x00" * 162)  # Excel has the workbook open
    with pytest.raises(Exception, match="open"):
        apply_plan(plan, source, config, store=store)
    assert store.events() == [] and store.snapshot("customers").hashes.empty
    assert store.runs()[0]["outcome"] == "failed"
    lock.unlink()
    run(
        config, datetime(2026, 11, 20, 3, 0), store
    )  # the next run sees the same five new customers
    assert len(store.events()) == 5


def test_only_one_of_two_simultaneous_runs_proceeds(store_url):
    url = store_url
    Store(url)  # create the schema first, as the first run on a machine does
    stores = [Store(url), Store(url)]
    start = threading.Barrier(2)
    got: list[bool] = [False, False]
    now = datetime(2026, 11, 23, 2, 0)

    def runner(i: int) -> None:
        start.wait()
        got[i] = stores[i].acquire("nightly", now=now)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [False, True]
    winner, loser = (stores[0], stores[1]) if got[0] else (stores[1], stores[0])
    with pytest.raises(RunLocked, match="already running"), loser.locked("nightly", now=now):
        pass
    assert loser.acquire("digest", now=now)  # other jobs are not blocked
    winner.release("nightly")
    with loser.locked("nightly", now=now):
        assert loser.holder("nightly")["owner"] == loser.owner
    assert loser.holder("nightly") is None  # released on leaving the block


def test_a_dead_runners_lock_expires(store_url):
    url = store_url
    dead, alive = Store(url), Store(url)
    now = datetime(2026, 11, 23, 2, 0)
    assert dead.acquire("nightly", now=now, ttl=timedelta(hours=1))
    assert not alive.acquire("nightly", now=now + timedelta(minutes=59))
    assert alive.acquire("nightly", now=now + timedelta(hours=1, minutes=1))
    assert alive.holder("nightly")["owner"] == alive.owner


def test_cli_refuses_a_second_run_while_one_holds_the_lock(instance):
    config, root = instance
    holder = Store(config.store_url)
    assert holder.acquire("check", now=datetime.now())
    out = CliRunner().invoke(
        cli, ["--config", str(root / "config.toml"), "check", "--now", "2026-11-23T02:00"]
    )
    assert out.exit_code == 1 and "already running" in out.output
    assert (
        ExcelSource(config.workbook_path, config).read("customers").status.empty
    )  # nothing written


def test_a_first_release_store_is_migrated_on_open(store_url):
    url = store_url
    engine = create_engine(url)
    v1 = MetaData()  # the schema of the first release: runs and decisions only
    runs_v1 = Table("runs", v1, Column("id", Integer, primary_key=True), Column("job", String(64), nullable=False),
                    Column("started", DateTime, nullable=False), Column("finished", DateTime),
                    Column("outcome", String(32)), Column("counts", Text))  # fmt: skip
    Table("decisions", v1, Column("id", Integer, primary_key=True), Column("sheet", String(64), nullable=False),
          Column("kind", String(32), nullable=False), Column("a_id", String(64), nullable=False),
          Column("b_id", String(64), nullable=False), Column("data_hash", String(64), nullable=False),
          Column("decided_by", String(128)), Column("recorded_at", DateTime, nullable=False))  # fmt: skip
    v1.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            runs_v1.insert().values(job="check", started=datetime(2026, 11, 1, 2), outcome="ok")
        )
    engine.dispose()
    store = Store(url)
    assert store.schema_version == SCHEMA_VERSION == 5
    columns = {c["name"] for c in inspect(store.engine).get_columns("runs")}
    assert {"plan_key", "warnings"} <= columns
    assert {
        "snapshots",
        "events",
        "notifications",
        "locks",
        "imports",
        "pending_commits",
        "rule_flags",
        "reminded",
    } <= set(inspect(store.engine).get_table_names())
    assert store.runs()[0]["job"] == "check"  # old rows kept
    store.start_run("check", now=datetime(2026, 11, 23, 2))  # and it works as a new one
    assert [r["job"] for r in store.runs()] == ["check", "check"]
    Store(url)  # opening again is a no-op


def test_plan_command_prints_cells_and_changes_and_writes_nothing(instance):
    config, root = instance
    cfg = str(root / "config.toml")
    path = config.workbook_path
    before = path.read_bytes()
    out = CliRunner().invoke(cli, ["--config", cfg, "plan", "--now", "2026-11-20T02:00"])
    assert out.exit_code == 0, out.output
    assert path.read_bytes() == before
    assert not (root / "state").exists()  # no store created by a plan
    # 5 rows × 校验结果, 下次提醒 (中意向: next Monday) and 最后检查; the rest stay empty
    assert "要写入的单元格：15" in out.output
    assert "  客户信息 C000001（第 2 行）校验结果：'' → '✓'" in out.output
    assert "上次运行以来的变化：5" in out.output
    assert "  客户信息 C000005：新记录" in out.output
    # after a run, the plan shows the edit as a change and the cells it touches
    assert (
        CliRunner().invoke(cli, ["--config", cfg, "check", "--now", "2026-11-20T02:00"]).exit_code
        == 0
    )
    wb = openpyxl.load_workbook(path)
    wb["客户信息"][f"{col(config, 'stage')}3"] = "成交"  # 成交 needs a contract number: a problem
    wb.save(path)
    out = CliRunner().invoke(cli, ["--config", cfg, "plan", "--now", "2026-11-21T02:00"])
    assert "客户信息 C000002：销售阶段 从 线索 变为 成交" in out.output
    assert "  客户信息 C000002（第 3 行）校验结果：'✓' → '✗'" in out.output


def test_reminders_command_lists_what_is_due(instance):
    config, root = instance
    cfg = str(root / "config.toml")
    # the five customers are 中意向 with stage 线索: on Monday 11-23 the weekly reminder is due,
    # and, first contacted long ago and never followed up, each is a new lead left uncalled
    out = CliRunner().invoke(
        cli, ["--config", cfg, "reminders", "--now", "2026-11-23T08:00", "--to", "王明"]
    )
    assert out.exit_code == 0, out.output
    assert "10 reminder(s) due" in out.output
    assert "王明\tC000001\t测试公司1有限公司 中意向：每周一跟进\t本周例行跟进\t" in out.output
    assert "王明\tC000001\t测试公司1有限公司 新线索 24 小时未联系\t已多日没有跟进：" in out.output
    saturday = CliRunner().invoke(cli, ["--config", cfg, "reminders", "--now", "2026-11-28T08:00"])
    assert "0 reminder(s) due" in saturday.output  # not on a weekend
    assert not (root / "state").exists()  # nothing written


def test_a_v4_store_learns_its_last_reminders_from_the_queue(store_url):
    """v5 keeps the last reminder per rule and record (what reminder timings count from); a v4
    store gets it from the reminders it queued, once, when it is opened."""
    from sqlalchemy import delete, update

    from sheetcrm.store import meta, reminded

    store = Store(store_url)
    run_id = store.start_run("nightly", now=datetime(2026, 11, 20, 2))
    notes = [Notification("reminder:高意向：每 2 天跟进:customers:C000001:20452#1:王明", "reminder", "王明",
                          "customers", "C000001", "s"),
             Notification("escalation:a:b:customers:C000002:20452:王明", "escalation", "王明",
                          "customers", "C000002", "s")]  # fmt: skip
    store.queue(run_id, notes[:1], now=datetime(2026, 11, 20, 2))
    store.queue(run_id, notes[1:], now=datetime(2026, 11, 23, 2))
    expected = {"高意向：每 2 天跟进": {"C000001": datetime(2026, 11, 20, 2)},
                "a:b#escalation": {"C000002": datetime(2026, 11, 23, 2)}}  # fmt: skip
    assert store.last_reminders("customers") == expected
    with store.engine.begin() as conn:  # as a v4 store had it: no such table rows
        conn.execute(delete(reminded))
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="4"))
    again = Store(store_url)
    assert again.schema_version == 5
    assert again.last_reminders("customers") == expected
