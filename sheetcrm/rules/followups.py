"""[rules.followups]: the follow-up sheet feeds the customer's 跟进次数 and 最近跟进."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..expr import to_datetime64
from ..text import display_column, map_distinct
from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    link = ctx.config.rules.followups
    if link is None or link.sheet not in ctx.tables or link.target not in ctx.tables:
        return []
    return [link] if link.key in ctx.out.typed[link.sheet] else []


def linked_keys(ctx: RuleContext, link: Any) -> pd.Series:
    """The customer ID each follow-up row names (rows without one left out)."""
    source = ctx.out.typed[link.sheet]
    return source.loc[source[link.key].notna(), link.key].astype(str)


def apply(ctx: RuleContext, link: Any) -> None:
    source = ctx.out.typed[link.sheet]
    keys = linked_keys(ctx, link)
    ids = ctx.ids[link.target]
    out = ctx.out.sheets[link.target].status
    if ctx.has_status(link.target, "contact_count"):
        counts = keys.value_counts()
        out["contact_count"] = map_distinct(
            ids.map(counts), lambda n: str(int(n)) if n is not None and n == n else ""
        ).where(ids != "", "")
    if ctx.has_status(link.target, "last_followup") and link.date in source:
        dates = pd.Series(source.loc[keys.index, link.date].to_numpy(), index=keys.to_numpy())
        dates = dates.dropna()
        last = pd.Series(dtype=object)
        if len(dates):  # the latest by datetime64 (fast), shown as the value typed
            stamps = to_datetime64(dates.reset_index(drop=True))
            ok = stamps.notna().to_numpy()
            stamps, who = stamps[ok], dates.index.to_numpy()[ok]
            picked = stamps.groupby(who).idxmax()
            last = display_column(
                pd.Series(dates.to_numpy()[picked.to_numpy()], index=picked.index)
            )
        mapped = ids.map(last).astype(object)
        out["last_followup"] = mapped.where(mapped.notna() & (ids != ""), "")
