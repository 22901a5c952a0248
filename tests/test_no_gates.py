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
