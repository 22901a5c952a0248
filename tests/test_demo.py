"""Demo workbooks: realistic rows with a ground truth that matches what is really in the cells."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from datetime import date
from pathlib import Path

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from python_calamine import CalamineWorkbook
from stdnum.cn import uscc

from sheetcrm.demo import Shares, generate_demo

TODAY = date(2026, 11, 23)
ROWS = 3000


@pytest.fixture(scope="module")
def demo(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo.xlsx"
    summary = generate_demo(config, out, rows=ROWS, seed=11, today=TODAY)
    wb = CalamineWorkbook.from_path(str(out))
    sheets = {s.key: wb.get_sheet_by_name(s.name).to_python() for s in config.sheets}
    with summary.truth_path.open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    return summary, sheets, truth


def _col(config, sheet_key: str, field_key: str) -> int:
    return [f.key for f in config.sheet(sheet_key).fields].index(field_key)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", text))


def test_row_counts(demo):
    summary, sheets, _ = demo
    assert summary.rows == {
        "customers": ROWS,
        "followups": ROWS,
        "requests": ROWS // 10,
        "dup_decisions": 0,
    }
    assert len(sheets["customers"]) == ROWS + 1  # header + rows
    assert len(sheets["followups"]) == ROWS + 1


def test_shares_of_problems_noise_and_duplicates_are_as_configured(demo):
    _, _, truth = demo
    kinds = Counter(t["kind"] for t in truth if t["sheet"] == "customers")
    shares = Shares()
    for kind, share in [("problem", shares.problem), ("duplicate", shares.duplicate)]:
        assert abs(kinds[kind] / ROWS - share) < 0.015, (kind, kinds[kind])
    noise = kinds["noise"] / ROWS
    assert abs(noise - shares.noise - shares.blank_id) < 0.02
    # a row carries at most one treatment, so the check can be held to exact counts
    per_row = Counter((t["sheet"], t["row"]) for t in truth)
    assert max(per_row.values()) == 1


def test_every_recorded_problem_is_really_in_the_cell(config, demo):
    _, sheets, truth = demo
    for t in truth:
        if t["kind"] in ("duplicate", "namesake"):
            continue
        rows = sheets[t["sheet"]]
        value = rows[int(t["row"]) - 1][_col(config, t["sheet"], t["field"])]
        if t["code"] in ("required", "required_if", "blank_id"):
            assert value == "", t
        else:
            assert str(value) == t["detail"] or value == float(t["detail"] or "nan"), t


def test_hard_duplicates_and_namesakes_are_what_the_truth_says(config, demo):
    """#25: half the duplicates are hard (a new phone, no e-mail or credit code, one more change
    named in the code); a namesake has an earlier 个人客户's name and city, and is another person."""
    _, sheets, truth = demo
    rows = {r[0]: r for r in sheets["customers"][1:]}
    col = {k: _col(config, "customers", k) for k in ("name", "mobile", "email", "address")}
    dups = [t for t in truth if t["kind"] == "duplicate"]
    hard = [t for t in dups if t["code"].startswith("hard:")]
    assert 0.35 < len(hard) / len(dups) < 0.65
    for t in hard:
        dup, original = rows[t["record_id"]], rows[t["detail"]]
        assert (
            _digits(dup[col["mobile"]]) != _digits(original[col["mobile"]])
            and not dup[col["email"]]
        )
        if t["code"] == "hard:blank_address":
            assert dup[col["address"]] == "" != original[col["address"]]
    namesakes = [t for t in truth if t["kind"] == "namesake"]
    assert namesakes
    for t in namesakes:
        a, b = rows[t["record_id"]], rows[t["detail"]]
        assert a[col["name"]] == b[col["name"]] and _digits(a[col["mobile"]]) != _digits(
            b[col["mobile"]]
        )
        assert a[col["address"]].split("市")[0] == b[col["address"]].split("市")[0]


def test_problem_counts_match_an_independent_look_at_the_cells(config, demo):
    """Recount some problems straight from the workbook with the validating libraries."""
    _, sheets, truth = demo
    rows = sheets["customers"][1:]
    codes = Counter(
        t["code"] for t in truth if t["sheet"] == "customers" and t["kind"] == "problem"
    )

    mobile = _col(config, "customers", "mobile")
    bad_phones = 0
    for r in rows:
        if r[mobile] == "":
            continue
        try:
            number = phonenumbers.parse(unicodedata.normalize("NFKC", str(r[mobile])), "CN")
            ok = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            ok = False
        bad_phones += not ok
    assert bad_phones == codes["invalid_phone"]

    credit = _col(config, "customers", "credit_code")
    assert (
        sum(1 for r in rows if r[credit] and not uscc.is_valid(r[credit]))
        == codes["invalid_credit_code"]
    )

    email = _col(config, "customers", "email")
    bad_emails = 0
    for r in rows:
        if r[email]:
            try:
                validate_email(r[email], check_deliverability=False)
            except EmailNotValidError:
                bad_emails += 1
    assert bad_emails == codes["invalid_email"]

    intent = _col(config, "customers", "intent")
    choices = set(config.sheet("customers").field("intent").choices)
    assert (
        sum(1 for r in rows if r[intent] not in choices and r[intent] != "")
        == codes["invalid_choice"]
    )

    required = [i for i, f in enumerate(config.sheet("customers").fields) if f.required]
    blanks = sum(1 for r in rows for i in required if r[i] == "")
    assert blanks == codes["required"]


def test_clean_rows_pass_the_rules_of_the_config(config, demo):
    _, sheets, truth = demo
    treated = {
        int(t["row"]) for t in truth if t["sheet"] == "customers" and t["kind"] != "duplicate"
    }
    sheet = config.sheet("customers")
    col = {f.key: i for i, f in enumerate(sheet.fields)}
    clean = [r for n, r in enumerate(sheets["customers"][1:], start=2) if n not in treated]
    assert len(clean) > ROWS * 0.8
    for r in clean:
        assert all(r[col[f.key]] != "" for f in sheet.fields if f.required)
        assert phonenumbers.is_valid_number(
            phonenumbers.parse(_normal_phone(r[col["mobile"]]), "CN")
        )
        assert isinstance(r[col["first_contact"]], date) and r[col["first_contact"]] <= TODAY
        if r[col["customer_type"]] == "企业客户":
            assert r[col["industry"]] and r[col["company_size"]]
        if r[col["stage"]] == "成交":
            assert r[col["contract_no"]] and r[col["contract_start"]] and r[col["annual_amount"]]
        if r[col["stage"]] == "流失":
            assert r[col["lost_reason"]]
        if r[col["source"]] == "其他":
            assert r[col["source_remark"]]
        if r[col["credit_code"]]:
            assert uscc.is_valid(r[col["credit_code"]])


def _normal_phone(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def test_duplicates_point_at_an_earlier_customer_sharing_phone_or_name(config, demo):
    _, sheets, truth = demo
    col = {f.key: i for i, f in enumerate(config.sheet("customers").fields)}
    by_id = {r[0]: r for r in sheets["customers"][1:] if r[0]}
    dups = [t for t in truth if t["kind"] == "duplicate"]
    assert {t["code"] for t in dups} >= {"suffix", "phone_format", "name_typo", "brackets"}
    for t in dups:
        row = by_id[t["record_id"]]
        original = by_id[t["detail"]]
        assert original[0] < row[0]
        assert original[col["first_contact"]] <= row[col["first_contact"]]
        if t["code"].startswith("hard:"):
            continue  # a new phone and one more change: test_hard_duplicates_and_namesakes_...
        same_phone = _digits(original[col["mobile"]])[-11:] == _digits(row[col["mobile"]])[-11:]
        assert same_phone, t
        assert row[col["name"]] != original[col["name"]] or t["code"] in (
            "phone_format",
            "email_case",
        )


def test_non_duplicate_companies_have_distinct_phones(config, demo):
    _, sheets, truth = demo
    dup_rows = {int(t["row"]) for t in truth if t["kind"] == "duplicate"}
    mobile = _col(config, "customers", "mobile")
    phones = [_digits(str(r[mobile]))[-11:] for n, r in enumerate(sheets["customers"][1:], start=2)
              if n not in dup_rows and r[mobile]]  # fmt: skip
    phones = [p for p in phones if len(p) == 11]
    assert len(phones) == len(set(phones))


def test_followups_refer_to_customers_except_the_recorded_ones(config, demo):
    _, sheets, truth = demo
    ids = {r[0] for r in sheets["customers"][1:] if r[0]}
    cid = _col(config, "followups", "customer_id")
    unknown = {n for n, r in enumerate(sheets["followups"][1:], start=2) if r[cid] not in ids}
    recorded = {
        int(t["row"])
        for t in truth
        if t["sheet"] == "followups" and t["code"] == "unknown_reference"
    }
    assert unknown == recorded and recorded


def test_same_seed_same_workbook_other_seed_other_workbook(config, tmp_path):
    a = generate_demo(config, tmp_path / "a.xlsx", rows=300, seed=5, today=TODAY)
    b = generate_demo(config, tmp_path / "b.xlsx", rows=300, seed=5, today=TODAY)
    c = generate_demo(config, tmp_path / "c.xlsx", rows=300, seed=6, today=TODAY)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.truth_path.read_text() == b.truth_path.read_text()
    assert a.path.read_bytes() != c.path.read_bytes()


def test_a_formula_looking_value_is_stored_as_text(config, tmp_path):
    from sheetcrm.templates import LayoutWriter

    sheet = config.sheet("customers")
    row = [None] * len(sheet.fields)
    row[1] = '=HYPERLINK("http://evil.example","点我")'
    row[2] = "  <b>&amp; 空格  "
    writer = LayoutWriter(
        tmp_path / "f.xlsx", config, created=__import__("datetime").datetime(2026, 1, 1)
    )
    writer.write_sheet(sheet, [row])
    writer.close()
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "f.xlsx")[sheet.name]
    assert ws["B2"].value == row[1] and ws["B2"].data_type == "s"
    assert ws["C2"].value == row[2]


@pytest.mark.libreoffice
def test_libreoffice_opens_the_demo_workbook(config, tmp_path, libreoffice):
    summary = generate_demo(config, tmp_path / "lo.xlsx", rows=200, seed=3, today=TODAY)
    out = libreoffice(summary.path, "csv")
    with out["客户信息"].open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 201 and rows[1][0] == "C000001"


def test_demo_refuses_more_rows_than_excel_holds(config, tmp_path: Path):
    with pytest.raises(ValueError, match="Excel's limit"):
        generate_demo(config, tmp_path / "x.xlsx", rows=1_048_576, today=TODAY)
