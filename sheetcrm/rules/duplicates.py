"""[rules.duplicates]: a record newly marked as a possible duplicate is told to the owners of both
records (what counts as a duplicate is decided in dedupe.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..text import display_column
from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    notice = ctx.config.rules.duplicates
    if notice is None or notice.sheet not in ctx.tables or notice.sheet not in ctx.duplicates:
        return []
    return [notice]


def apply(ctx: RuleContext, notice: Any) -> None:
    key = notice.sheet
    table = ctx.tables[key]
    ids = ctx.ids[key]
    before = (
        display_column(table.status["duplicate_of"].reindex(ids.index))
        if "duplicate_of" in table.status
        else pd.Series("", index=ids.index)
    )
    wanted = ctx.duplicates[key].reindex(ids.index).fillna("")
    new = (wanted != "") & (wanted != before) & (ids != "")
    row_of_id = ctx.row_of(key)
    for row in ids.index[new.to_numpy()]:
        other = str(wanted.at[row]).split()[0]
        to = ctx.recipients(key, row, notice.notify)
        if other in row_of_id:
            to += [p for p in ctx.recipients(key, row_of_id[other], notice.notify) if p not in to]
        ctx.notify("duplicate", key, row, to, ctx.t("rule.duplicate_subject", name=ctx.name_of(key, row)),
                   ctx.t("rule.duplicate_text", id=ids[row], other=wanted.at[row]), ident=other)  # fmt: skip
