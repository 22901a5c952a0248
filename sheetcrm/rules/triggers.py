"""[rules.triggers]: tell people (or the customer, with a mail template) when a condition holds,
usually a change: changed_to(stage, "成交")."""

from __future__ import annotations

from typing import Any

from .context import RuleContext


def configured(ctx: RuleContext) -> list[Any]:
    return [r for r in ctx.config.rules.triggers if r.sheet in ctx.tables]


def apply(ctx: RuleContext, rule: Any) -> None:
    key = rule.sheet
    rows = ctx.out.typed[key].index[ctx.when(key, rule.when).to_numpy()]
    kind = "customer" if rule.notify == ["customer"] else "trigger"
    for row in rows:
        to = ctx.recipients(key, row, rule.notify)
        cc = ctx.recipients(key, row, rule.cc)
        ctx.notify(kind, key, row, to, ctx.t("rule.trigger_subject", name=ctx.name_of(key, row),
                                             message=rule.message), rule.message,
                   ident=rule.name if rule.once else f"{rule.name}:{ctx.now:%Y%m%d}", cc=cc,
                   template=rule.template)  # fmt: skip
