"""The CRM rules of the bundled config.toml, driven through dated runs of a real workbook with edits
made between runs (openpyxl): assignments, scores, derived updates, follow-up fields, stage order,
approvals and trigger notifications, and nothing new when nothing changed."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime

import openpyxl
import pandas as pd

from sheetcrm.config import parse_config
from sheetcrm.pipeline import Plan
from sheetcrm.rules import evaluate_rules
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.store import Store

from .conftest import ROOT
from .test_changes import instance, run, store_url  # noqa: F401  (fixtures)


def edit(config, changes: dict[str, dict[str, object]], sheet: str = "customers") -> None:
    """Set cells by record ID and field key, as a person would in Excel."""
    path = config.workbook_path
    wb = openpyxl.load_workbook(path)
    s = config.sheet(sheet)
    ws = wb[s.name]
    keys = [f.key for f in s.fields]
    rows = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    for rid, values in changes.items():
        for key, value in values.items():
            ws.cell(rows[rid], keys.index(key) + 1).value = value
    wb.save(path)


def append(config, sheet: str, values: dict[str, object]) -> None:
    wb = openpyxl.load_workbook(config.workbook_path)
    s = config.sheet(sheet)
    wb[s.name].append([values.get(f.key) for f in s.fields])
    wb.save(config.workbook_path)


def sheet_values(config, sheet: str = "customers") -> dict[str, dict[str, object]]:
    """{ID: {header: value}} as the file says now."""
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb[config.sheet(sheet).name]
    header = [c.value for c in ws[1]]
    out = {}
    for row in ws.iter_rows(min_row=2, values_only=True):
        if row[0]:
            out[row[0]] = dict(zip(header, row, strict=False))
    return out


def notes(plan: Plan) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """The rules' notifications (reminders have their own tests)."""
    return {(n.kind, n.recipient, n.record_id, n.cc) for n in plan.notifications
            if n.kind not in ("reminder", "catch_up", "escalation")}  # fmt: skip


def test_rules_through_dated_runs(instance):  # noqa: F811
    config, _ = instance
    store = Store(config.store_url)
    for rid in ("C000001", "C000002", "C000003", "C000004"):
        edit(config, {rid: {"owner": None}})
    edit(config, {
        "C000001": {"industry": "IT/互联网"},
        "C000002": {"source": "线上推广", "region": "华东"},
        "C000005": {"page_visits": 3, "enquiries": 1, "demand": "客户已确认预算",
                    "expected_close": date(2026, 11, 25)},
    })  # fmt: skip
    for when in (date(2026, 11, 10), date(2026, 11, 18)):
        append(config, "followups", {"customer_id": "C000001", "date": when, "method": "电话",
                                     "content": "电话沟通", "by": "王明"})  # fmt: skip

    # night 1 -----------------------------------------------------------------------------------
    night1 = run(config, datetime(2026, 11, 20, 2, 0), store)
    rows = sheet_values(config)
    owners = {rid: rows[rid]["负责人"] for rid in rows}
    assert owners == {"C000001": "王明",  # IT/互联网 → 王明
                      "C000002": "李明",  # 线上推广 and 华东 → 李明
                      "C000003": "王明", "C000004": "李明",  # round robin in 华东销售部 (sales)
                      "C000005": "王明"}  # fmt: skip
    assert (
        rows["C000005"]["*意向等级"] == "高意向"
    )  # derived: budget confirmed, closing within 7 days
    assert (rows["C000005"]["线索评分"], rows["C000005"]["线索等级"]) == (
        12,
        "高价值线索",
    )  # 3×2 + 1×3 + 3; a number in the cell, so people sort and filter by it
    assert (rows["C000001"]["最近跟进"], rows["C000001"]["跟进次数"]) == ("2026-11-18", 2)
    assert rows["C000001"]["校验结果"] == "✓"  # the assigned owner is not reported missing
    assert notes(night1) == {
        ("assignment", "王明", "C000001", ()), ("assignment", "李明", "C000002", ()),
        ("assignment", "王明", "C000003", ()), ("assignment", "李明", "C000004", ()),
        ("derive", "刘洋", "C000005", ()),  # the manager is told
    }  # fmt: skip
    assert (
        len(
            [n for n in store.notifications("pending") if n["kind"] not in ("reminder", "catch_up")]
        )
        == 5
    )
    history = [(e["kind"], e["field"], e["new"]) for e in store.history("C000005")]
    assert ("rule", "intent", "高意向") in history

    # the same night again: nothing to write, nothing to tell
    before = config.workbook_path.read_bytes()
    again = run(config, datetime(2026, 11, 20, 3, 0), store)
    assert again.rows_to_write == 0 and not again.patches["customers"].cells
    assert again.notifications == [] and again.events() == []
    assert config.workbook_path.read_bytes() == before

    # night 2: a new lead without owner, a stage jump, a large contract ------------------------
    append(config, "customers", {"name": "新线索科技有限公司", "customer_type": "企业客户",
                                 "industry": "制造业", "company_size": "50人以下", "contact_name": "周先生",
                                 "mobile": "13911112222", "source": "展会推荐",
                                 "first_contact": date(2026, 11, 20), "intent": "中意向", "stage": "线索"})  # fmt: skip
    edit(config, {"C000002": {"stage": "商务谈判"},
                  "C000003": {"annual_amount": 150000}})  # fmt: skip
    night2 = run(config, datetime(2026, 11, 21, 2, 0), store)
    rows = sheet_values(config)
    assert rows["C000006"]["负责人"] == "王明"  # the round robin goes on after 李明
    assert (
        rows["C000002"]["规则提示"]
        == "阶段跳过：线索 → 商务谈判（跳过 初步接触、需求确认、方案提交）"
    )
    assert rows["C000003"]["审批状态"] == "待审批（需销售经理：大额合同）"
    assert notes(night2) == {
        ("assignment", "王明", "C000006", ()),
        ("trigger", "李明", "C000002", ("刘洋",)),  # negotiation started: owner, cc manager
        ("approval", "刘洋", "C000003", ()),  # 王明's manager has the role
    }

    # night 3: approvals, a key account, a closed deal without its contract --------------------
    edit(config, {"C000003": {"approved_by": "刘洋"},
                  "C000004": {"level": "重点客户", "approved_by": "刘洋"},
                  "C000001": {"stage": "初步接触"}})  # fmt: skip
    run(config, datetime(2026, 11, 22, 2, 0), store)
    rows = sheet_values(config)
    assert rows["C000003"]["审批状态"] == "已批准（刘洋）"
    assert (
        rows["C000004"]["审批状态"] == "审批无效：刘洋 不是销售总监"
    )  # a manager may not sign this
    assert rows["C000002"]["规则提示"].startswith("阶段跳过")  # the flag stays while the stage does
    assert rows["C000001"]["规则提示"] in (None, "")  # one step forward is fine
    approvals = store.approvals("customers")
    assert approvals[("C000003", "large contract")] == ("approved", "刘洋")
    assert approvals[("C000004", "key account")] == ("pending", "")

    edit(config, {"C000004": {"approved_by": "张伟"},
                  "C000001": {"stage": "成交"}})  # fmt: skip
    night4 = run(config, datetime(2026, 11, 23, 2, 0), store)
    rows = sheet_values(config)
    assert rows["C000004"]["审批状态"] == "已批准（张伟）"  # pending until the director signed
    assert store.approvals("customers")[("C000004", "key account")] == ("approved", "张伟")
    assert rows["C000001"]["客户等级"] == "成交客户"  # derived on the move to 成交
    assert "销售阶段为「成交」时需满足" in rows["C000001"]["规则提示"]
    assert "阶段跳过：初步接触 → 成交" in rows["C000001"]["规则提示"]
    assert ("derive", "周杰", "C000001", ()) in notes(night4)  # the service rep is told

    # and a quiet run after all that, later the same day: nothing written or sent again
    before = config.workbook_path.read_bytes()
    quiet = run(config, datetime(2026, 11, 23, 14, 0), store)
    assert quiet.rows_to_write == 0, (quiet.cell_changes(config), quiet.notifications)
    assert quiet.notifications == [] and quiet.events() == []
    assert config.workbook_path.read_bytes() == before
    # the next night the new lead reminded on the 23rd is still not called: 24 hours after that
    # reminder it is escalated, copying the manager; still a lead nobody called, it comes up
    # again the next working day (下次提醒)
    night5 = run(config, datetime(2026, 11, 24, 2, 0), store)
    lead = [(n.kind, n.cc) for n in night5.notifications if n.record_id == "C000006"]
    assert lead == [("escalation", ("刘洋",))]
    assert sheet_values(config)["C000006"]["下次提醒"] == "2026-11-25"


def test_least_loaded_assignment(instance):  # noqa: F811
    config, _ = instance
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    raw["rules"]["assign"] = [
        {"name": "least loaded", "team": "华东销售部", "method": "least_loaded"}
    ]
    cfg = parse_config(raw, base_dir=config.base_dir)
    source = ExcelSource(cfg.workbook_path, cfg)
    table = source.read("customers")
    from sheetcrm.check import check_table

    typed = check_table(table, cfg.sheet("customers"), cfg, now=datetime(2026, 11, 20)).typed
    typed.loc[[2, 3, 4], "owner"] = None  # 王明 keeps C000004 and C000005; 李明 has none
    table.frame.loc[[2, 3, 4], "owner"] = ""  # blank as typed (a name that fails typing is kept)
    ids = pd.Series(["C000001", "C000002", "C000003", "C000004", "C000005"], index=typed.index)
    tables = {"customers": table}
    out = evaluate_rules(
        tables, {"customers": typed}, {"customers": ids}, {}, cfg, now=datetime(2026, 11, 20)
    )
    assigned = {rid: cells["owner"] for rid, cells in out.sheets["customers"].cells.items()}
    # 李明 (0) gets the first two; then both have 2 and config order decides
    assert assigned == {"C000001": "李明", "C000002": "李明", "C000003": "王明"}


def test_links_suggestions_permissions_duplicates_and_requests(instance):  # noqa: F811
    config, _ = instance
    store = Store(config.store_url)
    edit(
        config,
        {
            "C000002": {"email": "buyer@example.com"},
            "C000004": {"mobile": "13800000002", "owner": "李明"},
        },
    )  # fmt: skip  (C000003's phone)
    append(config, "followups", {"customer_id": "C000001", "date": date(2026, 11, 18), "method": "电话",
                                 "content": "客户同意签约，下周盖章", "by": "王明"})  # fmt: skip
    append(config, "requests", {"customer_id": "C000002", "submitted_at": date(2026, 11, 19),
                                "demand_type": "技术支持", "description": "系统登录不了", "state": "待处理"})  # fmt: skip

    night1 = run(config, datetime(2026, 11, 20, 2, 0), store)
    followup = next(iter(sheet_values(config, "followups").values()))
    request = next(iter(sheet_values(config, "requests").values()))
    assert followup["客户名称"] == "测试公司1有限公司"  # linked from 客户信息
    assert (request["客户名称"], request["处理人"]) == (
        "测试公司2有限公司",
        "周杰",
    )  # 技术支持 → service
    rows = sheet_values(config)
    assert (
        rows["C000001"]["规则提示"] == "建议：销售阶段 → 成交（最近跟进提到「同意签约」，请确认）"
    )
    assert rows["C000001"]["*销售阶段"] == "线索"  # suggested, not applied
    assert rows["C000004"]["重复客户"].startswith("C000003")
    assert {("duplicate", "李明", "C000004", ()), ("duplicate", "王明", "C000004", ()),
            ("assignment", "周杰", "R000001", ())} <= notes(night1)  # fmt: skip

    # night 2: people edit what they may not; a customer is renamed; the request is resolved
    edit(config, {"C000005": {"level": "重点客户", "modified_by": "王明"},
                  "C000002": {"contact_name": "新联系人", "modified_by": "李明"},
                  "C000001": {"name": "测试公司1（新名）有限公司"},
                  "C000003": {"intent": "高意向", "email": "ceo@example.com", "expected_amount": 88000}})  # fmt: skip
    edit(config, {"R000001": {"state": "已解决"}}, sheet="requests")
    night2 = run(config, datetime(2026, 11, 21, 2, 0), store)
    rows = sheet_values(config)
    assert rows["C000005"]["规则提示"] == "权限：王明（销售）无权修改「客户等级」"
    assert rows["C000005"]["客户等级"] == "重点客户"  # flagged, never reverted
    assert rows["C000002"]["规则提示"] == "权限：李明 修改了 王明 的客户"
    assert (
        next(iter(sheet_values(config, "followups").values()))["客户名称"]
        == "测试公司1（新名）有限公司"
    )
    got = notes(night2)
    assert ("permission", "刘洋", "C000005", ()) in got and (
        "permission",
        "刘洋",
        "C000002",
        (),
    ) in got
    customer = [n for n in night2.notifications if n.kind == "customer"]
    assert sorted((n.recipient, n.record_id, n.template) for n in customer) == [
        ("buyer@example.com", "R000001", "satisfaction"),  # request resolved
        ("ceo@example.com", "C000003", "welcome"),  # became 高意向
    ]
    assert rows["C000003"]["审批状态"] == "待审批（需销售总监：预计金额有改动）"
    assert ("approval", "张伟", "C000003", ()) in got  # past 刘洋 (a manager) to the director

    # night 3, nothing edited: the flags stay, nothing is written or sent again
    before = config.workbook_path.read_bytes()
    quiet = run(config, datetime(2026, 11, 22, 2, 0), store)
    assert quiet.rows_to_write == 0, (quiet.cell_changes(config), quiet.notifications)
    assert quiet.notifications == [] and quiet.events() == []
    assert config.workbook_path.read_bytes() == before


def test_rule_flags_live_in_the_store_not_in_the_sheet_text(instance):  # noqa: F811
    """A stage moved back is flagged in 规则提示 until the record moves again. The flag is the
    store's: a person clearing 规则提示 gets it written back, and a forward move clears it."""
    config, _ = instance
    store = Store(config.store_url)
    edit(config, {"C000002": {"stage": "商务谈判"}})
    run(config, datetime(2026, 11, 20, 2, 0), store)  # first night: the baseline
    edit(config, {"C000002": {"stage": "初步接触"}})
    run(config, datetime(2026, 11, 21, 2, 0), store)
    flag = "阶段倒退：商务谈判 → 初步接触"
    assert sheet_values(config)["C000002"]["规则提示"] == flag
    assert store.flags("customers") == {("C000002", "stage"): flag}

    wb = openpyxl.load_workbook(config.workbook_path)  # someone tidies the tool's column
    ws = wb[config.sheet("customers").name]
    header = [c.value for c in ws[1]]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "C000002")
    ws.cell(row, header.index("规则提示") + 1).value = None
    wb.save(config.workbook_path)
    run(config, datetime(2026, 11, 22, 2, 0), store)
    assert sheet_values(config)["C000002"]["规则提示"] == flag  # the store remembers

    edit(config, {"C000002": {"stage": "需求确认"}})  # moves on, one step: nothing to flag
    run(config, datetime(2026, 11, 23, 2, 0), store)
    assert not sheet_values(config)["C000002"]["规则提示"]
    assert store.flags("customers") == {("C000002", "stage"): ""}


def test_flags_of_an_older_version_are_read_once_from_the_sheet(instance):  # noqa: F811
    """A workbook from before flags were stored keeps its flags: they are read from 规则提示 once
    and remembered from then on."""
    from sqlalchemy import delete

    from sheetcrm.store import meta

    config, _ = instance
    store = Store(config.store_url)
    run(config, datetime(2026, 11, 20, 2, 0), store)
    with store.engine.begin() as conn:  # as the older version left its store: it never read them
        conn.execute(delete(meta).where(meta.c.key.startswith("flags_read:")))
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb[config.sheet("customers").name]
    header = [c.value for c in ws[1]]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "C000003")
    old = "阶段倒退：方案提交 → 线索"
    ws.cell(row, header.index("规则提示") + 1).value = old
    wb.save(config.workbook_path)
    run(config, datetime(2026, 11, 21, 2, 0), store)
    assert store.flags("customers") == {("C000003", "stage"): old}
    assert sheet_values(config)["C000003"]["规则提示"] == old
    # read once: text typed into 规则提示 later is not taken for a flag
    wb = openpyxl.load_workbook(config.workbook_path)
    wb[config.sheet("customers").name].cell(
        row, header.index("规则提示") + 1
    ).value = "阶段：随便写的"
    wb.save(config.workbook_path)
    run(config, datetime(2026, 11, 22, 2, 0), store)
    assert store.flags("customers") == {("C000003", "stage"): old}
    assert sheet_values(config)["C000003"]["规则提示"] == old
