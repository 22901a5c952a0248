"""The workbook template people fill in, built from config.toml."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from sheetcrm.config import CHOICE_TYPES, FieldType
from sheetcrm.templates import build_template, member_choices

from .conftest import ROOT


@pytest.fixture(scope="module")
def template(config, tmp_path_factory) -> Path:
    return build_template(config, tmp_path_factory.mktemp("tpl") / "customers.xlsx")


def _summary(path: Path) -> dict:
    """What a person sees in a template: sheets, headers, dropdowns, comments, widths, protection."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb:
        out[ws.title] = {
            "state": ws.sheet_state,
            "cells": [[c.value for c in row] for row in ws.iter_rows()],
            "validations": sorted(
                (str(dv.sqref), dv.type, dv.formula1, dv.formula2)
                for dv in ws.data_validations.dataValidation
            ),
            "comments": [
                (c.coordinate, c.comment.text) for row in ws.iter_rows() for c in row if c.comment
            ],
            "widths": {k: round(v.width, 1) for k, v in ws.column_dimensions.items()},
            "freeze": ws.freeze_panes,
            "protected": ws.protection.sheet,
        }
    return out


def test_committed_template_matches_committed_config(template):
    committed = ROOT / "templates" / "customers.xlsx"
    assert _summary(committed) == _summary(template), (
        "templates/customers.xlsx is out of date: run `sheetcrm templates` and commit it"
    )


def test_rebuilding_gives_the_same_bytes(config, template, tmp_path):
    again = build_template(config, tmp_path / "again.xlsx")
    assert again.read_bytes() == template.read_bytes()


def test_headers_mark_required_fields_and_end_with_status_columns(config, template):
    wb = openpyxl.load_workbook(template)
    for sheet in config.sheets:
        ws = wb[sheet.name]
        headers = [c.value for c in ws[1]]
        assert headers == [f.header for f in sheet.fields] + [s.label for s in sheet.status]
        for c, f in enumerate(sheet.fields):
            cell = ws.cell(1, c + 1)
            assert cell.value.startswith("*") == f.required
            colour = cell.fill.fgColor.rgb
            assert colour.endswith("C0504D") == f.required, (f.key, colour)
            assert cell.comment is not None and f.label in cell.comment.text
        assert ws.freeze_panes == "B2"
        assert ws.auto_filter.ref.startswith("A1:")


def test_choice_and_member_fields_have_dropdowns_fed_from_the_hidden_lists_sheet(config, template):
    wb = openpyxl.load_workbook(template)
    lists = wb["选项"]
    assert lists.sheet_state == "hidden"
    for sheet in config.sheets:
        ws = wb[sheet.name]
        by_column = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
        for c, f in enumerate(sheet.fields):
            letter = openpyxl.utils.get_column_letter(c + 1)
            dv = by_column.get(f"{letter}2")
            if f.type in CHOICE_TYPES or f.type is FieldType.member:
                assert dv is not None and dv.type == "list", f.key
                assert str(dv.sqref) == f"{letter}2:{letter}1048576"
                ref = dv.formula1.split("!")[1].replace("$", "")
                values = [c.value for row in lists[ref] for c in row]
                expected = f.choices if f.type in CHOICE_TYPES else member_choices(f, config)
                assert values == expected, f.key
            elif f.type is FieldType.date:
                assert dv is not None and dv.type == "date", f.key
            elif f.type is FieldType.rating:
                assert dv.type == "whole" and (dv.formula1, dv.formula2) == ("1", "5")


def test_member_dropdown_offers_only_people_with_the_fields_roles(config):
    owner = config.sheet("customers").field("owner")
    names = member_choices(owner, config)
    assert "王明" in names and "刘洋" in names
    assert "周杰" not in names and "张伟" not in names  # service and director are not owners


def test_status_columns_are_locked_and_people_columns_are_not(config, template):
    wb = openpyxl.load_workbook(template)
    ws = wb["客户信息"]
    sheet = config.sheet("customers")
    assert ws.protection.sheet is True
    assert (
        ws.protection.sort is False and ws.protection.autoFilter is False
    )  # people may sort and filter
    # xlsxwriter writes neighbouring columns with the same style as one <col min max> range
    ranges = [(d.min, d.max, d.protection.locked) for d in list(ws.column_dimensions.values())]
    for c in range(1, len(sheet.fields) + len(sheet.status) + 1):
        locked = next(lk for lo, hi, lk in ranges if lo <= c <= hi)
        assert locked == (c > len(sheet.fields)), c
    status_head = ws.cell(1, len(sheet.fields) + 1)
    assert status_head.fill.fgColor.rgb.endswith("7F7F7F")


def test_instructions_sheet_lists_every_field(config, template):
    wb = openpyxl.load_workbook(template)
    ws = wb["填写说明"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=5)]
    listed = {(r[0], r[1]) for r in rows}
    for sheet in config.sheets:
        for f in sheet.fields:
            assert (sheet.name, f.label) in listed
    industry = next(r for r in rows if r[1] == "所属行业")
    assert industry[2] == "条件必填" and "IT/互联网" in industry[4]


def test_english_locale_translates_the_template_texts(config, tmp_path):
    english = config.model_copy(update={"locale": "en"})
    wb = openpyxl.load_workbook(build_template(english, tmp_path / "en.xlsx"))
    assert "Instructions" in wb.sheetnames and "Lists" in wb.sheetnames
    assert wb["Instructions"]["A1"].value == "How to fill in this workbook"


@pytest.mark.libreoffice
def test_libreoffice_opens_the_template(template, libreoffice):
    out = libreoffice(template, "csv")
    with out["客户信息"].open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:3] == ["客户ID", "*客户名称", "*客户类型"]
