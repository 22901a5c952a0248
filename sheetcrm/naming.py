"""How a notice names a record: the customer's name; for a record without one (a request, a
follow-up) its ID, the customer's name and its first choice field (需求类型), so that a subject is
never "：..." with nothing before it."""

from __future__ import annotations

import pandas as pd

from .config import FieldType, SheetConfig
from .text import display_column


def record_names(sheet: SheetConfig, typed: pd.DataFrame, ids: pd.Series) -> pd.Series:
    """The name of each row's record, as notices show it (column-wise)."""
    kind = next((f.key for f in sheet.fields if f.type is FieldType.choice and f.key in typed
                 and f.key != sheet.stage_field), None)  # fmt: skip
    named = display_column(typed["name"]) if "name" in typed else pd.Series("", index=typed.index)
    parts = [ids.astype(str)] + [display_column(typed[k]) for k in ("customer_name", kind)
                                 if k and k in typed]  # fmt: skip
    other = parts[0]
    for p in parts[1:]:
        other = other.where(p == "", other + " " + p).where(other != "", p)
    return named.where(named != "", other).astype(object)
