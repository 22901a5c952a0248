"""[rules.derive]: declared fields change when a condition holds (中意向 → 高意向), told to people."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..text import display
from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    return [r for r in ctx.config.rules.derive if r.sheet in ctx.tables]


def apply(ctx: RuleContext, rule: Any) -> None:
    key = rule.sheet
    hits = ctx.when(key, rule.when)
    typed = ctx.out.typed[key]
    sheet = ctx.config.sheet(key)
    for fld, value in rule.set.items():
        column = typed[fld] if fld in typed else pd.Series(None, index=typed.index)
        rows = typed.index[(hits & ~(column == value).fillna(False).astype(bool)).to_numpy()]
        for row in rows:
            old = display(column.at[row])
            ctx.set_cell(key, row, fld, value)
            what = ctx.t("rule.derived_text", label=sheet.field(fld).label,
                         old=old or ctx.t("rule.empty"), new=display(value), rule=ctx.shown(rule))  # fmt: skip
            ctx.notify("derive", key, row, ctx.recipients(key, row, rule.notify),
                       ctx.t("rule.derived", name=ctx.name_of(key, row)), what,
                       ident=f"{rule.name}:{ctx.now:%Y%m%d}")  # fmt: skip
