"""[rules.links]: a linked field (a request's 客户名称) filled from the record its ID points to, and
kept in sync when that record changes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..text import display_column
from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    return [k for k in ctx.config.rules.links if k.sheet in ctx.tables and k.source in ctx.tables]


def apply(ctx: RuleContext, link: Any) -> None:
    typed = ctx.out.typed[link.sheet]
    if link.key not in typed:
        return
    # the name as the person typed it (raw, not the folded typed value: （ stays （)
    raw = ctx.tables[link.source].frame
    values = pd.Series(display_column(raw[link.value]).to_numpy() if link.value in raw else "",
                       index=ctx.ids[link.source].to_numpy())  # fmt: skip
    values = values[~values.index.duplicated() & (values.index != "")]
    wanted = typed[link.key].map(values).astype(object)
    wanted = wanted.where(wanted.notna(), "")
    here = ctx.tables[link.sheet].frame  # compared raw, as typed, like the source value
    current = (
        display_column(here[link.field]) if link.field in here else pd.Series("", index=typed.index)
    )
    differs = (wanted != current) & (wanted != "") & (ctx.ids[link.sheet] != "")
    ctx.set_cells(link.sheet, typed.index[differs.to_numpy()], link.field, wanted)
