"""The command line: thin over the library, every command documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.config import load_config

from .conftest import ROOT


def run(*args: str, catch: bool = False):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=catch)
    return result


def test_init_creates_an_instance_that_loads_and_refuses_to_overwrite(tmp_path: Path):
    target = tmp_path / "crm"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    config = load_config(target / "config.toml")
    assert config.sheet("customers").name == "客户信息"
    wb = openpyxl.load_workbook(target / "templates" / "customers.xlsx")
    assert wb.sheetnames[:3] == ["客户信息", "跟进记录", "需求反馈"]
    again = run("init", str(target))
    assert again.exit_code == 1 and "already exists" in again.output


def test_demo_then_config_check_and_templates(tmp_path: Path):
    assert run("init", str(tmp_path)).exit_code == 0
    cfg = str(tmp_path / "config.toml")
    result = run("--config", cfg, "demo", "--rows", "50", "--today", "2026-11-23")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "customers.xlsx").is_file()
    assert (tmp_path / "data" / "customers.truth.csv").is_file()
    wb = openpyxl.load_workbook(tmp_path / "data" / "customers.xlsx", read_only=True)
    rows = list(wb["客户信息"].values)
    wb.close()
    assert len(rows) == 51
    refused = run("--config", cfg, "demo", "--rows", "5")
    assert refused.exit_code == 1 and "--force" in refused.output
    check = run("--config", cfg, "config", "check")
    assert (
        check.exit_code == 0
        and "mobile\t联系电话\t电话\t必填" in check.output
        and "客户类型为“企业客户”时必填" in check.output
    )
    out = tmp_path / "t.xlsx"
    assert run("--config", cfg, "templates", "--out", str(out)).exit_code == 0
    assert out.is_file()


def test_bad_config_is_a_clear_error_not_a_traceback(tmp_path: Path):
    bad = tmp_path / "config.toml"
    text = (
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace('type = "phone"', 'type = "fone"')
    )
    bad.write_text(text, encoding="utf-8")
    result = run("--config", str(bad), "config", "check", catch=True)
    assert result.exit_code == 1
    assert 'fields[9] ("mobile").type' in result.output
    assert "Traceback" not in result.output


def test_bad_today_is_a_usage_error(tmp_path: Path):
    result = run("--config", str(ROOT / "config.toml"), "demo", "--out", str(tmp_path / "x.xlsx"),
                 "--today", "23/11/2026")  # fmt: skip
    assert result.exit_code == 2 and "2026-11-23" in result.output


def _commands(group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(prefix + name)
    return names


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in _commands(cli):
        assert re.search(rf"sheetcrm {re.escape(name)}\b", readme), (
            f"README does not show `sheetcrm {name}`"
        )
