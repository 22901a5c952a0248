"""[rules.assign]: an empty owner field gets a person (fixed, round robin or the least loaded)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    return [r for r in ctx.config.rules.assign if r.sheet in ctx.tables]


def apply(ctx: RuleContext, rule: Any) -> None:
    key = rule.sheet
    typed = ctx.out.typed[key]
    empty = (  # blank as typed: 马云 (not a person) failed typing, and is reported, not replaced
        (typed[rule.field].isna() & ~ctx.invalid(key, rule.field))
        if rule.field in typed else pd.Series(True, index=typed.index)
    )  # fmt: skip
    rows = typed.index[(ctx.when(key, rule.when) & empty).to_numpy()]
    if not len(rows):
        return
    chosen: list[Any]
    if rule.owner_of is not None:  # the owner of the record the reference points to
        ref = ctx.config.sheet(key).field(rule.owner_of).references
        owner_key = ctx.config.owner_field(ref) if ref else None
        if (
            ref not in ctx.out.typed
            or owner_key not in ctx.out.typed[ref]
            or rule.owner_of not in typed
        ):
            return
        owner_of = ctx.out.typed[ref][owner_key]
        at = ctx.row_of(ref)
        chosen = [owner_of.get(at.get(str(r))) if r is not None else None
                  for r in typed.loc[rows, rule.owner_of].tolist()]  # fmt: skip
        picked = [(row, who) for row, who in zip(rows, chosen, strict=True) if who]
        rows, chosen = pd.Index([r for r, _ in picked]), [w for _, w in picked]
    elif rule.to is not None:
        chosen = [rule.to] * len(rows)
    else:
        members = [p.name for p in ctx.config.people
                   if p.team == rule.team and p.active and p.role in rule.roles]  # fmt: skip
        if not members:
            return
        if rule.method == "round_robin":
            pointer_key = f"round_robin:{key}:{rule.team}"
            last = ctx.state.get(pointer_key)
            start = (members.index(last) + 1) if last in members else 0
            chosen = [members[(start + i) % len(members)] for i in range(len(rows))]
            ctx.out.state[pointer_key] = chosen[-1]
            ctx.state[pointer_key] = chosen[-1]
        else:
            load = typed[rule.field].value_counts() if rule.field in typed else pd.Series(dtype=int)
            counts = {m: int(load.get(m, 0)) for m in members}
            chosen = []
            for _ in rows:
                who = min(members, key=lambda m: (counts[m], members.index(m)))
                counts[who] += 1
                chosen.append(who)
    label = ctx.config.sheet(key).field(rule.field).label
    for row, who in zip(rows, chosen, strict=True):
        who = str(who)
        ctx.set_cell(key, row, rule.field, who)
        ctx.notify("assignment", key, row, [who], ctx.t("rule.assigned", name=ctx.name_of(key, row)),
                   ctx.t("rule.assigned_text", label=label, who=who, rule=ctx.shown(rule)), ident=who)  # fmt: skip
