"""[rules.stage_order]: a stage needs its entry condition; a move back or past a stage is flagged
in 规则提示 until the record moves again (the flag is remembered in the store)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..table import STAGE
from .context import RuleContext, join_notes

FLAG_KIND = "stage"


def configured(ctx: RuleContext) -> list[Any]:
    so = ctx.config.rules.stage_order
    return [so] if so is not None and so.sheet in ctx.tables else []


def apply(ctx: RuleContext, so: Any) -> None:
    key = so.sheet
    typed = ctx.out.typed[key]
    notes = pd.Series("", index=typed.index, dtype=object)
    sheet = ctx.config.sheet(key)
    label = sheet.field(so.field).label
    for stage, condition in so.requires.items():
        need = (typed[so.field] == stage) & ~ctx.when(key, condition)
        words = sheet.phrase(condition, ctx.config.locale)
        notes = notes.where(~need, ctx.t("rule.stage_requires", label=label, stage=stage,
                                         condition=words))  # fmt: skip
    # moves detected this run; a flag stays while the stage stays where it moved to
    kept = ctx.kept_flags(key, FLAG_KIND, legacy_prefix=ctx.t("rule.stage_flag_prefix"))
    change = ctx.changes.get(key)
    moved: dict[str, tuple[str, str]] = {}
    if change is not None:
        moved = {e.record_id: (e.old or "", e.new or "") for e in change.events
                 if e.kind == STAGE and e.field == so.field}  # fmt: skip
    moved_mask = ctx.ids[key].isin(list(moved))
    row_of = {rid: row for row, rid in ctx.ids[key][moved_mask].items()}  # few rows moved
    order = {s: i for i, s in enumerate(so.order)}
    flags = kept.copy()
    for rid, (old, new) in moved.items():
        row = row_of.get(rid)
        if row is None:
            continue
        flag = ""
        if old in order and new in order and new not in so.anytime:
            if order[new] < order[old]:
                flag = ctx.t("rule.stage_back", old=old, new=new)
            elif order[new] > order[old] + 1 and not so.allow_skip:
                skipped = "、".join(so.order[order[old] + 1 : order[new]])
                flag = ctx.t("rule.stage_skipped", old=old, new=new, skipped=skipped)
        flags.at[row] = flag
        ctx.keep_flag(key, row, FLAG_KIND, flag)
    ctx.add_note(key, join_notes(flags, notes))
