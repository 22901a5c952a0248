"""Text folding shared by header matching, choices and keys.

People type full-width characters, ideographic spaces and invisible zero-width characters; two strings
that look the same to them must compare equal to us.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

# NFKC folds full-width forms and U+3000, but leaves these zero-width characters in place; control
# characters other than tab and line breaks are not text anyone typed (and not allowed in XML).
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: str) -> str:
    """Return `value` NFKC-folded, without zero-width and control characters, trimmed."""
    if value.isascii() and value.isprintable():  # NFKC leaves printable ASCII as it is
        return value.strip()
    folded = unicodedata.normalize("NFKC", value)
    if folded.isprintable():  # every _INVISIBLE character is a format or control one
        return folded.strip()
    return _INVISIBLE.sub("", folded).strip()


def fold_label(label: str) -> str:
    """Return the form headers are compared in: cleaned, case-folded, without required marks."""
    return clean(label).strip("*＊ ").casefold()


def text_width(s: str) -> int:
    """Columns `s` takes in a cell or a terminal: wide characters (CJK) two, others one."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def display(value: Any) -> str:
    """Return a typed value as a person reads it: "" for nothing, 1200 not 1200.0, dates ISO."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def canonical(value: Any) -> str:
    """A typed value as the state store keeps it (and changed() compares it): display(), with
    timestamps at midnight shown as dates."""
    if isinstance(value, pd.Timestamp | datetime):
        if pd.isna(value):
            return ""
        value = value.date() if value.time() == datetime.min.time() else value
    return display(value)


def canonical_column(values: pd.Series) -> pd.Series:
    """A typed column as canonical text (`canonical` of every value)."""
    return _text_column(values, canonical)


def display_column(values: pd.Series) -> pd.Series:
    """`display` of every value of a column."""
    return _text_column(values, display)


def _text_column(values: pd.Series, show: Callable[[Any], str]) -> pd.Series:
    """Strings stay as they are (typed text went through clean, so it holds no control
    characters); the rest is shown once per distinct value."""
    if _all_text(values):
        return values.where(values.notna(), "").astype(object)
    return map_distinct(values, show)


def map_distinct(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """`fn` of every value, called once per distinct value and spread back by position (a
    million-row column holds far fewer distinct values). Empty cells (None, NaN) get fn(None)."""
    codes, results = apply_distinct(values, fn)
    return pd.Series(results[codes], index=values.index, dtype=object, name=values.name)


def apply_distinct(values: pd.Series, fn: Callable[[Any], Any]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, results): `fn` of each distinct value, with fn(None) last for empty cells (code
    -1), so `results[codes]` is fn of every value.

    Python counts True == 1 == 1.0, so in a column holding a boolean and a number each cell counts
    as its own value (rare: a TRUE typed into a column of numbers)."""
    array = values.to_numpy(dtype=object)
    if _bool_among_numbers(array):
        codes, uniques = np.where(pd.isna(array), -1, np.arange(len(array))), array
    else:
        codes, uniques = pd.factorize(array, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(uniques):
        results[i] = fn(value)
    results[-1] = fn(None)
    return codes, results


def _bool_among_numbers(array: np.ndarray) -> bool:
    if pd.api.types.infer_dtype(array, skipna=True) not in ("mixed", "mixed-integer"):
        return False  # all text, all numbers, all booleans, dates...: nothing to confuse
    kinds = set(map(type, array))  # in C: a set comprehension over a million cells took seconds
    return bool in kinds and any(k is not bool and issubclass(k, int | float) for k in kinds)


def _all_text(values: pd.Series) -> bool:
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    )
