"""From raw cells to typed values, one parser per field type.

A value that cannot be typed becomes a problem (code and the value as typed), never an exception.
Each parser runs once per distinct value in a column (choices, dates and owners repeat a lot) and
the result is mapped back over the column, which keeps a million rows fast.

| type          | accepted (raw)                                              | typed value       |
|---------------|-------------------------------------------------------------|-------------------|
| date          | a date, an Excel serial, 2024-03-15, 2024/3/15, 2024年3月15日, 20240315 | date |
| number, money | 1200.5, "1,200.50", "¥1,200.50", "3万", full-width digits    | float             |
| phone         | "+86 138-0013-8000", "0086…", "１３８…", "138 0013 8000"     | "+8613800138000"  |
| email         | "Wang@Example.com"                                          | "wang@example.com"|
| credit_code   | 18 characters with a valid check digit                      | upper-case text   |
| choice        | a choice, after trimming and width folding                  | the choice        |
| multi_choice  | choices joined by 、 , ， ; ； /                             | "a、b"            |
| member        | the name of a person in [[people]] (with the field's roles)  | the name          |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from .config import Config, Field, FieldType
from .table import CellError
from .text import apply_distinct, clean, fold_label

EXCEL_EPOCH_1900 = date(1899, 12, 30)
EMPTY = None


@dataclass(frozen=True, slots=True)
class Bad:
    """A value that could not be typed: the problem code and what to show."""

    code: str
    shown: str


Parsed = Any  # a typed value, None (empty) or Bad


def _shown(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


# -- dates ----------------------------------------------------------------------------------------

_YMD = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})$")


def excel_serial(value: date) -> int | float:
    """The spreadsheet serial number of a date (whole days) or datetime (with the day's fraction):
    what parse_date reads back as a date."""
    dt = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())
    delta = dt - datetime.combine(EXCEL_EPOCH_1900, datetime.min.time())
    serial = delta.days + delta.seconds / 86400
    return int(serial) if serial == int(serial) else serial


def parse_date(raw: Any, epoch: date = EXCEL_EPOCH_1900) -> Parsed:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, bool):
        return Bad("invalid_date", _shown(raw))
    if isinstance(raw, int | float):
        if 1 <= raw < 2_958_466:  # Excel's serial range (up to 9999-12-31)
            return epoch + timedelta(days=int(raw))
        return Bad("invalid_date", _shown(raw))
    text = clean(str(raw))
    if not text:
        return EMPTY
    m = _YMD.match(text) or _COMPACT.match(text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return Bad("invalid_date", text)
    m = _DMY.match(text)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if a <= 12 and b <= 12 and a != b:
            return Bad("ambiguous_date", text)  # 5/3/24: March 5th or May 3rd?
        return Bad("invalid_date", text)
    return Bad("invalid_date", text)


# -- numbers --------------------------------------------------------------------------------------

_MONEY_NOISE = re.compile(r"[\s,¥￥$]|RMB|CNY|人民币|元")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")


def parse_number(raw: Any) -> Parsed:
    if isinstance(raw, bool):
        return Bad("invalid_number", _shown(raw))
    if isinstance(raw, int | float):
        return float(raw)
    text = clean(str(raw))
    if not text:
        return EMPTY
    text = _MONEY_NOISE.sub("", text)
    scale = 1.0
    if text.endswith("万"):
        text, scale = text[:-1], 10_000.0
    elif text.endswith("亿"):
        text, scale = text[:-1], 100_000_000.0
    if _NUMBER.match(text):
        return float(text) * scale
    return Bad("invalid_number", clean(str(raw)))


# -- phones, e-mail, credit codes -----------------------------------------------------------------

_PHONE_NOISE = re.compile(r"[\s\-()（）\u00a0]")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EXTENSION = re.compile(r"(转|ext\.?|x)(\d+)$", re.I)


def parse_phone(raw: Any, *, landline: bool = False) -> Parsed:
    if isinstance(raw, float) and raw.is_integer():
        raw = str(int(raw))
    text = clean(str(raw))
    if not text:
        return EMPTY
    digits = _PHONE_NOISE.sub("", text)
    digits = _EXTENSION.sub("", digits)
    if digits.startswith("0086"):
        digits = "+86" + digits[4:]
    national = digits[3:] if digits.startswith("+86") else digits
    if _MOBILE.match(national):
        return "+86" + national
    if landline:
        try:
            number = phonenumbers.parse(digits, "CN")
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
    return Bad("invalid_phone", text)


# The everyday address (ASCII, dot-atom local part, ordinary domain) is accepted here; anything else
# is decided by email-validator, which costs ~70 µs a value: too slow for a million rows alone.
_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_SPECIAL_TLDS = {
    "arpa",
    "invalid",
    "local",
    "localhost",
    "onion",
    "test",
    "home",
    "lan",
    "internal",
}


def parse_email(raw: Any) -> Parsed:
    text = clean(str(raw))
    if not text:
        return EMPTY
    lower = text.lower()
    if (len(lower) <= 254 and _PLAIN_EMAIL.match(lower) and len(lower.split("@")[0]) <= 64
            and lower.rsplit(".", 1)[1] not in _SPECIAL_TLDS):  # fmt: skip
        return lower
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return Bad("invalid_email", text)


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^\d{8}[0-9A-HJ-NPQRTUWXY]{10}$")


def _uscc_ok(code: str) -> bool:
    """GB 32100-2015's check digit: the arithmetic python-stdnum's cn.uscc does, without its
    per-call cleaning (10x slower); stdnum still decides every value this rejects."""
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(code, _USCC_WEIGHTS, strict=False))
    return code[17] == _USCC_ALPHABET[(31 - total % 31) % 31]


def parse_credit_code(raw: Any) -> Parsed:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        # Excel keeps 15 significant digits: an 18-digit code typed as a number is already damaged
        return Bad("precision_lost", _shown(raw))
    text = clean(str(raw)).upper().replace(" ", "")
    if not text:
        return EMPTY
    if _USCC_SHAPE.match(text) and _uscc_ok(text):
        return text
    try:
        return uscc.validate(text)
    except StdnumError:
        return Bad("invalid_credit_code", text)


# -- text, choices, members -----------------------------------------------------------------------

SPLIT_CHOICES = re.compile(r"[、,，;；/]")  # what people separate several choices with


def parse_text(raw: Any) -> Parsed:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    text = clean(str(raw))
    return text or EMPTY


def choice_parser(choices: list[str], multi: bool) -> Callable[[Any], Parsed]:
    folded = {fold_label(c): c for c in choices}

    def parse(raw: Any) -> Parsed:
        text = parse_text(raw)
        if text is None:
            return EMPTY
        hit = folded.get(fold_label(text))
        if hit is not None:
            return hit
        if multi:
            parts = [p for p in (fold_label(x) for x in SPLIT_CHOICES.split(text)) if p]
            if parts and all(p in folded for p in parts):
                return "、".join(dict.fromkeys(folded[p] for p in parts))
        return Bad("invalid_choice", text)

    return parse


def member_parser(names: list[str], others: Sequence[str] = ()) -> Callable[[Any], Parsed]:
    """A person's name among `names`; a person in `others` (a member of the team whose role the
    field does not take) is "wrong_role", anyone else "unknown_member"."""
    known = {fold_label(n): n for n in names}
    elsewhere = {fold_label(n): n for n in others}

    def parse(raw: Any) -> Parsed:
        text = parse_text(raw)
        if text is None:
            return EMPTY
        folded = fold_label(text)
        if folded in known:
            return known[folded]
        return Bad("wrong_role" if folded in elsewhere else "unknown_member", text)

    return parse


def parser_for(field: Field, config: Config, *, date1904: bool = False) -> Callable[[Any], Parsed]:
    """Return the function that types one raw value of `field`."""
    t = field.type
    if t is FieldType.date:
        epoch = date(1904, 1, 1) if date1904 else EXCEL_EPOCH_1900
        return lambda raw: parse_date(raw, epoch)
    if t in (FieldType.number, FieldType.money, FieldType.rating):
        return parse_number
    if t is FieldType.phone:
        landline = field.allow_landline
        return lambda raw: parse_phone(raw, landline=landline)
    if t is FieldType.email:
        return parse_email
    if t is FieldType.credit_code:
        return parse_credit_code
    if t in (FieldType.choice, FieldType.multi_choice):
        return choice_parser(field.choices or [], t is FieldType.multi_choice)
    if t is FieldType.member:
        names = [p.name for p in config.people if not field.roles or p.role in field.roles]
        return member_parser(names, [p.name for p in config.people if p.name not in names])
    return parse_text


def coerce_column(raw: pd.Series, parse: Callable[[Any], Parsed]) -> tuple[pd.Series, pd.Series]:
    """Return (typed values, problems) for a column: problems hold a Bad where typing failed.

    Each distinct value is typed once (a column of a million rows holds far fewer distinct values)
    and spread back by position. Formula errors and uncalculated formulas become
    Bad("formula_error" / "formula_uncalculated"); empty cells (blank, None, NaN) are empty.
    """

    def type_one(value: Any) -> Parsed:
        if isinstance(value, CellError):
            return (
                Bad("formula_error", value.code) if value.code else Bad("formula_uncalculated", "")
            )
        if value is None or (isinstance(value, str) and value == ""):
            return EMPTY
        return parse(value)

    codes, parsed = apply_distinct(raw, type_one)
    bad = np.fromiter((isinstance(p, Bad) for p in parsed), dtype=bool, count=len(parsed))
    values = parsed[codes]
    if bad.any():
        is_bad = bad[codes]
        # numpy's stubs take no None for where()'s x or y (numpy does): they pick where(cond)
        typed = cast(np.ndarray, np.where(is_bad, None, values))
        problems = cast(np.ndarray, np.where(is_bad, values, None))
    else:
        typed, problems = values, np.full(len(values), None, dtype=object)
    return (pd.Series(typed, index=raw.index, dtype=object, name=raw.name),
            pd.Series(problems, index=raw.index, dtype=object, name=raw.name))  # fmt: skip
