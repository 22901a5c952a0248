"""[rules.score] and score_labels: points per condition, summed into 线索评分 and a label."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..text import display
from .context import RuleContext


def configured(ctx: RuleContext) -> list[str]:
    """The sheets with score rules and a 线索评分 column."""
    keys = dict.fromkeys(r.sheet for r in ctx.config.rules.score)
    return [k for k in keys if k in ctx.tables and ctx.has_status(k, "lead_score")]


def apply(ctx: RuleContext, key: str) -> None:
    sheet = ctx.config.sheet(key)
    env = ctx.env(key)
    total = pd.Series(0.0, index=env.index)
    for r in (r for r in ctx.config.rules.score if r.sheet == key):
        hit = sheet.condition(r.when)(env)
        if isinstance(r.points, str):
            pts = sheet.expression(r.points).fn(env)
            pts = pts.fillna(0.0) if isinstance(pts, pd.Series) else pts
        else:
            pts = r.points
        total += np.where(hit, pts, 0.0)
    status = ctx.out.sheets[key].status
    shown = total.map(display).astype(object).where(total != 0, "")
    status["lead_score"] = shown.where(ctx.ids[key] != "", "")
    if ctx.has_status(key, "lead_label") and ctx.config.rules.score_labels:
        labels = pd.Series("", index=env.index, dtype=object)
        for lab in sorted(ctx.config.rules.score_labels, key=lambda x: x.min):
            labels = labels.where(~(total >= lab.min), lab.label)
        status["lead_label"] = labels.where(ctx.ids[key] != "", "")
