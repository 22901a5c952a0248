"""Every rule kind and reminder runs whenever something of its kind is configured, whatever else is:
no hand-kept list of "features that are on" (one such list silenced every reminder of a config without
[rules], and every duplicate notice of a config with only [rules.duplicates])."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime

from sheetcrm.config import parse_config
from sheetcrm.demo import generate_demo
from sheetcrm.job import run_job
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.store import Store

from .conftest import ROOT

NIGHT = datetime(2026, 11, 23, 2, 0)
RAW = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def instance(tmp_path, raw):
    config = parse_config(raw, base_dir=tmp_path)
    generate_demo(config, config.workbook_path, rows=300, seed=6, today=NIGHT.date())
    return config


def kinds(config) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in Store(config.store_url).notifications():
        out[n["kind"]] = out.get(n["kind"], 0) + 1
    return out


def test_reminders_fire_without_any_rules(tmp_path):
    raw = copy.deepcopy(RAW)
    del raw["rules"]
    del raw["report"]["followup_by"]  # it names [rules.followups]' sheet (a load error says so)
    config = instance(tmp_path, raw)
    assert config.reminders and not config.rules.assign
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "ok", report.error
    assert kinds(config).get("reminder", 0) > 0
    status = ExcelSource(config.workbook_path, config).read("customers").status
    assert (status["next_reminder"].astype(str) != "").sum() > 0  # 下次提醒 is written


def test_duplicate_notices_with_only_the_duplicates_rule(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["rules"] = {"duplicates": RAW["rules"]["duplicates"]}
    raw.pop("reminders", None)
    del raw["report"]["followup_by"]
    config = instance(tmp_path, raw)
    report = run_job("nightly", config, now=NIGHT)
    assert report.outcome == "ok", report.error
    assert report.counts["customers"]["duplicates"] > 0
    assert kinds(config).get("duplicate", 0) >= report.counts["customers"]["duplicates"]


def test_a_requests_assignment_notice_names_the_request(tmp_path):
    """#27 item 7: "新分配给你：" with nothing after it, for records without a 客户名称 of their own."""
    import openpyxl

    config = instance(tmp_path, copy.deepcopy(RAW))
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["需求反馈"]
    header = [str(c.value or "").lstrip("*").strip() for c in ws[1]]
    kind, handler = header.index("需求类型") + 1, header.index("处理人") + 1
    for row in range(2, ws.max_row + 1):  # new 技术支持 requests nobody has taken yet
        if ws.cell(row, kind).value == "技术支持":
            ws.cell(row, handler).value = None
    wb.save(config.workbook_path)
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    notes = Store(config.store_url).notifications()
    requests = [n for n in notes if n["kind"] == "assignment" and n["sheet"] == "requests"]
    assert requests
    for n in requests:
        assert n["subject"].startswith(f"新分配给你：{n['record_id']} "), n["subject"]
        assert any(t in n["subject"] for t in ("技术支持", "服务咨询", "产品采购", "投诉建议"))
    assert not [n["subject"] for n in notes if "：" in n["subject"] and
                (n["subject"].startswith("：") or n["subject"].endswith("："))]  # fmt: skip


def test_a_night_run_again_after_stage_moves_changes_nothing(tmp_path):
    """#27 item 2: a stage move became the stale reminders' anchor only on the next run, so the same
    night run again rewrote 下次提醒 and fired reminders at once."""
    import openpyxl

    config = instance(tmp_path, copy.deepcopy(RAW))
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    header = [str(c.value or "").lstrip("*").strip() for c in ws[1]]
    stage = header.index("销售阶段") + 1
    for row in range(2, 40):  # people move stages during the day
        ws.cell(row, stage).value = (
            "需求确认" if ws.cell(row, stage).value != "需求确认" else "商务谈判"
        )
    wb.save(config.workbook_path)
    later = NIGHT.replace(day=24)
    first = run_job("nightly", config, now=later)
    assert first.outcome == "ok" and first.counts["events"].get("stage", 0) > 0
    before = Store(config.store_url).notifications()
    again = run_job("nightly", config, now=later)  # the same night, on the workbook it wrote
    assert again.outcome == "ok", again.error
    assert again.counts.get("rows_written", 0) == 0, again.lines
    assert Store(config.store_url).notifications() == before


def test_the_first_night_is_a_baseline_and_a_row_added_later_is_new(tmp_path):
    """#27 item 3, decided: the first night records every record as created but treats none as
    new (the team's existing customers get no welcome mail); a row added after it is new."""
    import openpyxl

    raw = copy.deepcopy(RAW)
    raw["rules"]["triggers"].append({"name": "new record", "when": "is_new()", "notify": ["owner"],
                                     "message": "新客户"})  # fmt: skip
    config = instance(tmp_path, raw)
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    store = Store(config.store_url)
    assert {e["kind"] for e in store.events()} >= {"created"}
    first = [n for n in store.notifications() if n["kind"] in ("trigger", "customer")]
    assert not [n for n in first if n["subject"].endswith("：新客户") or n["kind"] == "customer"]
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    added = [c.value for c in ws[2]]
    added[0], added[1] = None, "后来加的新客户有限公司"  # 客户ID left blank, 客户名称
    ws.append(added)
    wb.save(config.workbook_path)
    assert run_job("nightly", config, now=NIGHT.replace(day=24)).outcome == "ok"
    new = [n for n in Store(config.store_url).notifications()
           if n["kind"] == "trigger" and n["subject"].endswith("：新客户")]  # fmt: skip
    assert len(new) == 1 and "后来加的新客户有限公司" in new[0]["subject"]


def test_a_night_run_again_after_edits_that_rules_watch_changes_nothing(tmp_path):
    """#27 item 2 (the changed() part): rules asking what changed (an approval on
    changed(expected_amount), scores, triggers) answer the same when the night is run again."""
    import openpyxl

    raw = copy.deepcopy(RAW)
    raw["rules"]["score"].append({"name": "amount moved", "when": "changed(expected_amount)",
                                  "points": 5})  # fmt: skip
    config = instance(tmp_path, raw)
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    header = [str(c.value or "").lstrip("*").strip() for c in ws[1]]
    amount, intent = header.index("预计金额") + 1, header.index("意向等级") + 1
    for row in range(2, 60):  # people raise amounts and intents during the day
        ws.cell(row, amount).value = 500000 + row
        ws.cell(row, intent).value = "高意向"
    wb.save(config.workbook_path)
    later = NIGHT.replace(day=24)
    first = run_job("nightly", config, now=later)
    assert first.outcome == "ok" and first.counts["events"].get("changed", 0) > 0
    before = Store(config.store_url).notifications()
    again = run_job("nightly", config, now=later)
    assert again.outcome == "ok", again.error
    assert again.counts.get("rows_written", 0) == 0, again.lines
    assert Store(config.store_url).notifications() == before
    scores = ExcelSource(config.workbook_path, config).read("customers").status["lead_score"]
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    name = header.index("客户名称") + 1
    for row in range(2, 10):  # and edited again before the re-run: their amount change still counts
        ws.cell(row, name).value = f"{ws.cell(row, name).value}（改名）"
    wb.save(config.workbook_path)
    third = run_job("nightly", config, now=later)
    assert third.outcome == "ok", third.error
    after = ExcelSource(config.workbook_path, config).read("customers").status["lead_score"]
    assert after.tolist() == scores.tolist()


def test_a_row_added_before_the_first_night_is_run_again_is_new(tmp_path):
    """A first night run again at its own time after someone added a row: the baseline covers the
    rows that were there, not the one added since."""
    import openpyxl

    raw = copy.deepcopy(RAW)
    raw["rules"]["triggers"].append({"name": "new record", "when": "is_new()", "notify": ["owner"],
                                     "message": "新客户"})  # fmt: skip
    config = instance(tmp_path, raw)
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    wb = openpyxl.load_workbook(config.workbook_path)
    ws = wb["客户信息"]
    added = [c.value for c in ws[2]]
    added[0], added[1], added[9] = None, "当晚补录的客户有限公司", "13900000001"
    ws.append(added)
    wb.save(config.workbook_path)
    assert run_job("nightly", config, now=NIGHT).outcome == "ok"
    new = [n for n in Store(config.store_url).notifications()
           if n["kind"] == "trigger" and n["subject"].endswith("：新客户")]  # fmt: skip
    assert [n["subject"] for n in new] == ["当晚补录的客户有限公司：新客户"]
