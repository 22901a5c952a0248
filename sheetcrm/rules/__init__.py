"""The CRM rules of config.toml, evaluated on the checked tables: what the sheet should say next.

One module per rule kind, each with the same two functions: `configured(ctx)` (the rules of that
kind that apply to the sheets read; none when nothing is configured) and `apply(ctx, rule)`. The
rules are a fold over `KINDS` in this order, each kind seeing what the one before wrote: assign →
links → derive → score → stage order → approvals → follow-up fields → suggestions → permissions →
duplicate notices → triggers. Nothing here writes: the outcome is cells, status values,
notifications and decisions for the Plan. Rules write only the fields a rule names; the rest of a
person's row is never touched. Adding a rule kind is one new module here plus its config model.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType

import pandas as pd

from ..config import Config
from ..table import ChangeSet, Table
from . import (
    approvals,
    assign,
    derive,
    duplicates,
    followups,
    links,
    permissions,
    score,
    stage_order,
    suggest,
    triggers,
)
from .context import RULE, Flags, RuleContext, RulesOutcome, SheetOutcome

KINDS: tuple[ModuleType, ...] = (assign, links, derive, score, stage_order, approvals, followups,
                                  suggest, permissions, duplicates, triggers)  # fmt: skip


def evaluate_rules(tables: dict[str, Table], typed: dict[str, pd.DataFrame], ids: dict[str, pd.Series],
                   changes: dict[str, ChangeSet], config: Config, *, now: datetime,
                   state: dict[str, str] | None = None,
                   approvals: dict[str, dict[tuple[str, str], tuple[str, str]]] | None = None,
                   duplicates: dict[str, pd.Series] | None = None,
                   flags: Flags | None = None) -> RulesOutcome:  # fmt: skip
    """Evaluate every rule. `ids` are the record IDs per sheet row (new IDs included); `changes`
    the change sets of this run (for changed_to and friends); `state`, `approvals` and `flags` come
    from the store (None without one: flags are then read from 规则提示); `duplicates` is the
    重复客户 text per row the dedupe step wants."""
    ctx = RuleContext(config, tables, typed, ids, changes, now, state or {}, approvals or {}, flags,
                      duplicates or {})  # fmt: skip
    for kind in KINDS:
        for rule in kind.configured(ctx):
            kind.apply(ctx, rule)
    ctx.finish_notes()
    return ctx.out


__all__ = ["KINDS", "RULE", "RuleContext", "RulesOutcome", "SheetOutcome", "evaluate_rules"]
