"""Pure helpers for SpreadsheetML cells: A1 references and cell XML.

Shared by the demo writer (which streams millions of rows) and the surgical write-back, so both write
cells exactly the same way: strings inline (never a formula, whatever they begin with), numbers as
shortest round-trip decimals, text capped at Excel's 32,767 characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..text import clean

EXCEL_MAX_TEXT = 32_767
_NEEDS_ESCAPE = re.compile(r"[&<>\"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LITERAL_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_CELL_REF = re.compile(r"^([A-Z]{1,3})([0-9]+)$")


@lru_cache(maxsize=20_000)
def column_letter(index: int) -> str:
    """Return the letters of 0-based column `index` (0 → A, 26 → AA)."""
    if index < 0:
        raise ValueError(index)
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """Return the 0-based index of column `letters` (A → 0)."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def split_ref(ref: str) -> tuple[int, int]:
    """Return (1-based row, 0-based column) of an A1 reference such as 'AB12'."""
    m = _CELL_REF.match(ref)
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    return int(m.group(2)), column_index(m.group(1))


def escape_text(value: str) -> str:
    """Return `value` as XML text content in SpreadsheetML's own escaping.

    XML 1.0 cannot carry most control characters: Excel writes them as _xHHHH_, and a literal
    "_xHHHH_" typed by a person must then be written as _x005F_xHHHH_ to survive.
    """
    if not _NEEDS_ESCAPE.search(value):
        return value
    value = _LITERAL_ESCAPE.sub(r"_x005F_\1", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)


def string_cell(ref: str, value: str, style: int | None = None) -> str:
    """Return an inline-string cell: the text is data, never a formula."""
    value = value[:EXCEL_MAX_TEXT]
    s = f' s="{style}"' if style else ""
    space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{escape_text(value)}</t></is></c>'


def number_cell(ref: str, value: float | int, style: int | None = None) -> str:
    """Return a numeric cell (dates are numbers with a date style)."""
    s = f' s="{style}"' if style else ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = repr(value)
    return f'<c r="{ref}"{s}><v>{text}</v></c>'


def empty_cell(ref: str, style: int | None = None) -> str:
    """Return a cell with no value, which keeps its style (or nothing if it has none)."""
    return f'<c r="{ref}" s="{style}"/>' if style else ""


def id_text(value: Any) -> str:
    """Return a record ID as text, the same way for a calamine value and for a cell's XML."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return clean(str(value))


def quote_sheet(name: str) -> str:
    """A sheet name as A1 notation wants it before "!": in quotes, a quote doubled."""
    return "'" + name.replace("'", "''") + "'"
