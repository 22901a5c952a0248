"""[rules.approvals]: 待审批 until someone with the role (or above it) signs in the approver field;
the approvers are asked through the owner's manager chain."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..config import Person, Role
from ..store import Decision
from ..table import Notification
from ..text import display, display_column
from .context import RuleContext, join_notes

# who may approve in place of a role (a director may sign what a manager may)
ABOVE = {
    Role.sales: {Role.sales_manager, Role.sales_director},
    Role.sales_manager: {Role.sales_director},
}


def configured(ctx: RuleContext) -> list[Any]:
    return [r for r in ctx.config.rules.approvals
            if r.sheet in ctx.tables and ctx.has_status(r.sheet, "approval")]  # fmt: skip


def apply(ctx: RuleContext, rule: Any) -> None:
    key = rule.sheet
    sheet = ctx.config.sheet(key)
    typed = ctx.out.typed[key]
    ids = ctx.ids[key]
    fires = ctx.when(key, rule.when)
    stored = {rid: v for (rid, name), v in ctx.approvals.get(key, {}).items() if name == rule.name}
    # a pending approval stays until signed; one asked for by a change (changed_to(...)) also
    # stays signed after the change is no longer new. Conditions on the data itself are simply
    # evaluated again every run, so only their signatures are stored.
    history = sheet.condition(rule.when).uses_history
    kept = {rid for rid, (state, _) in stored.items() if state == "pending" or history}
    need = fires | ids.isin(kept)
    rows = typed.index[need.to_numpy()]
    status = ctx.out.sheets[key].status
    wanted = status.get("approval", pd.Series("", index=typed.index, dtype=object)).copy()
    if not len(rows):
        status["approval"] = wanted
        return
    role = ctx.role(rule.role)
    allowed = {rule.role} | ABOVE.get(rule.role, set())
    field_label = sheet.field(rule.approver_field).label
    approver = (
        typed[rule.approver_field]
        if rule.approver_field in typed
        else pd.Series(None, index=typed.index)
    )
    approver = approver.astype(object).where(approver.notna(), None)
    typo = ctx.invalid(key, rule.approver_field)  # a name the field's roles refuse (a sales rep's)
    if typo.any():
        raw = display_column(ctx.tables[key].frame[rule.approver_field]).str.strip()
        approver = approver.where(~typo, raw.where(raw.isin(list(ctx.people)), None))
    # the verdict depends only on who signed: decide it once per distinct name
    verdicts: dict[Any, tuple[str, str, str]] = {}
    for who in pd.unique(approver[rows]):
        person = ctx.person(who) if isinstance(who, str) else None
        if person is not None and person.role in allowed:
            verdicts[who] = (ctx.t("rule.approved", name=person.name), "approved", person.name)
        elif person is not None:
            verdicts[who] = (
                ctx.t("rule.approval_invalid", name=person.name, role=role),
                "pending",
                "",
            )
        else:
            verdicts[who] = (
                ctx.t("rule.approval_pending", role=role, rule=ctx.shown(rule)),
                "pending",
                "",
            )
    owners = ctx.owners(key)
    chain: dict[Any, list[str]] = {}
    name_col = typed["name"] if "name" in typed else pd.Series("", index=typed.index)
    body = ctx.t("rule.approval_text", rule=ctx.shown(rule), role=role, field=field_label)
    texts: list[str] = []
    for rid, who, owner, name in zip(ids[rows].tolist(), approver[rows].tolist(),
                                     owners[rows].tolist(), name_col[rows].tolist(), strict=True):  # fmt: skip
        shown, state, signer = verdicts[who]
        texts.append(shown)
        if (state == "approved" or history) and stored.get(rid) != (state, signer):
            ctx.out.decisions.append(Decision(key, rid, rule.name, state, signer, kind="approval"))
        if state == "pending":
            if owner not in chain:
                chain[owner] = _approvers(ctx, owner, allowed)
            for to in chain[owner]:
                ctx.out.notifications.append(Notification(
                    f"approval:{rule.name}:{key}:{rid}:{to}", "approval", to, key, rid,
                    ctx.t("rule.approval_subject", name=display(name)), body))  # fmt: skip
    mine = pd.Series("", index=typed.index, dtype=object)
    mine[rows] = texts
    status["approval"] = join_notes(wanted, mine).where(ids != "", "")


def _approvers(ctx: RuleContext, owner: Any, allowed: set[Role]) -> list[str]:
    """The owner's manager chain first (whoever has the role); else everyone with it."""
    chain: list[Person] = []
    person = ctx.person(owner)
    while person is not None and person.manager and len(chain) < 5:
        person = ctx.people.get(person.manager)
        if person is not None:
            chain.append(person)
    for p in chain:
        if p.role in allowed and p.active:
            return [p.name]
    return [p.name for p in ctx.config.people if p.role in allowed and p.active][:3]
