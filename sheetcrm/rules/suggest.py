"""[rules.suggest]: keywords in a customer's latest follow-up suggest a stage ahead of the current
one, as a note in 规则提示 (never a change: a person confirms)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import followups
from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    so = ctx.config.rules.stage_order
    if not ctx.config.rules.suggest or so is None:
        return []
    return [link for link in followups.configured(ctx)
            if link.content in ctx.out.typed[link.sheet] and link.date in ctx.out.typed[link.sheet]]  # fmt: skip


def apply(ctx: RuleContext, link: Any) -> None:
    so = ctx.config.rules.stage_order
    assert so is not None
    source = ctx.out.typed[link.sheet]
    keys = followups.linked_keys(ctx, link)
    latest = pd.DataFrame({"key": keys.to_numpy(), "date": source.loc[keys.index, link.date].to_numpy(),
                           "content": source.loc[keys.index, link.content].to_numpy()})  # fmt: skip
    latest = latest.dropna(subset=["date"]).sort_values("date", kind="stable").groupby("key").last()
    target = ctx.out.typed[link.target]
    ids = ctx.ids[link.target]
    content = ids.map(latest["content"]).astype(object).fillna("").astype(str)
    order = {s: i for i, s in enumerate(so.order)}
    stage = (
        target[so.field].map(lambda v: order.get(v, -1))
        if so.field in target
        else pd.Series(-1, index=ids.index)
    )
    label = ctx.config.sheet(link.target).field(so.field).label
    notes = pd.Series("", index=ids.index, dtype=object)
    for rule in ctx.config.rules.suggest:
        found = pd.Series(False, index=ids.index)
        for word in rule.keywords:
            found |= content.str.contains(word, regex=False)
        ahead = stage < order.get(rule.stage, len(order))
        hit = found & ahead & (notes == "")
        words = content[hit].map(lambda t, kw=tuple(rule.keywords): next(k for k in kw if k in t))
        notes[hit] = [ctx.t("rule.suggested", label=label, stage=rule.stage, word=w) for w in words]
    ctx.add_note(link.target, notes)
