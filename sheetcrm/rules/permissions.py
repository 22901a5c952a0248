"""[rules.permissions]: edits (changes detected this run) the editor's role may not make are
flagged in 规则提示 and told to the editor's manager, never reverted. The flag is remembered in the
store and stays until the row is edited again."""

from __future__ import annotations

from typing import Any

from ..table import STAGE, Event
from .context import NOTE_SEPARATOR, RuleContext

EDITS = ("changed", STAGE)


def configured(ctx: RuleContext) -> list[Any]:
    return [r for r in ctx.config.rules.permissions if r.sheet in ctx.tables]


def flag_kind(ctx: RuleContext, perm: Any) -> str:
    """Each permission rule keeps its own flags (two rules never share, or double, one), by its
    place among [[rules.permissions]] (editing a rule keeps its flags)."""
    return f"permission:{next(i for i, r in enumerate(ctx.config.rules.permissions) if r is perm)}"


def apply(ctx: RuleContext, perm: Any) -> None:
    key = perm.sheet
    change = ctx.changes.get(key)
    typed = ctx.out.typed[key]
    ids = ctx.ids[key]
    by_record: dict[str, list[Event]] = {}
    for e in change.events if change is not None else []:
        if e.kind in EDITS:
            by_record.setdefault(e.record_id, []).append(e)
    kind = flag_kind(ctx, perm)
    first = next(r for r in ctx.config.rules.permissions if r.sheet == key) is perm
    legacy = ctx.t("rule.permission_flag_prefix") if first else None  # read once, by one rule
    kept = ctx.kept_flags(key, kind, legacy_prefix=legacy)
    notes = kept.where(~ids.isin(list(by_record)), "")  # an edit again: judged afresh below
    if perm.editor_field not in typed:
        ctx.add_note(key, notes)
        return
    sheet = ctx.config.sheet(key)
    owners = ctx.owners(key)
    row_of = {rid: row for row, rid in ids[ids.isin(list(by_record))].items()}
    role = ctx.role(perm.role)
    for rid, events in by_record.items():
        row = row_of.get(rid)
        if row is None:
            continue
        editor = ctx.person(typed.at[row, perm.editor_field])
        problems: list[str] = []
        protected = [
            e.field for e in events if e.field is not None and e.field in perm.may_not_edit
        ]
        unknown = editor is None and not ctx.invalid(key, perm.editor_field).get(row, False)
        if unknown and protected:  # nobody wrote their name: the edit cannot be judged, so say so
            labels = "、".join(f"「{sheet.field(f).label}」" for f in dict.fromkeys(protected))
            problems.append(ctx.t("rule.edited_unattributed", fields=labels,
                                  editor_field=sheet.field(perm.editor_field).label))  # fmt: skip
        elif editor is not None and editor.role is perm.role:
            problems = [ctx.t("rule.may_not_edit", editor=editor.name, role=role,
                              field=sheet.field(e.field).label)
                        for e in events if e.field is not None and e.field in perm.may_not_edit]  # fmt: skip
            owner = owners.at[row]
            owner_p = ctx.person(owner)
            if perm.records == "own" and owner and owner != editor.name:
                problems.append(ctx.t("rule.edited_others", editor=editor.name, owner=owner))
            elif perm.records == "team" and owner_p is not None and owner_p.team != editor.team:
                problems.append(ctx.t("rule.edited_other_team", editor=editor.name))
        flag = NOTE_SEPARATOR.join(problems)
        notes.at[row] = flag
        ctx.keep_flag(key, row, kind, flag)
        manager = editor.manager if editor is not None else None
        if problems and editor is None:  # unattributed: the owner's manager looks into it
            owner = ctx.person(owners.at[row])
            manager = owner.manager if owner is not None else None
        if problems and manager:
            ctx.notify("permission", key, row, [manager],
                       ctx.t("rule.permission_subject", name=ctx.name_of(key, row)), flag,
                       ident=f"{ctx.now:%Y%m%d}")  # fmt: skip
    ctx.add_note(key, notes)
