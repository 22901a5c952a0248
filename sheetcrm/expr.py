"""Conditions from config.toml, evaluated on a whole frame at once.

`customer_type == "企业客户"`, `stage in ["成交", "售后维护"] and is_empty(contract_no)`: parsed once
with `ast` against a whitelist and turned into a function of the frame that returns one boolean per
row. Text is never passed to eval. This is the part of the condition language the check needs
(comparisons, `in`, `and`/`or`/`not`, `is_empty`); the rules engine extends it.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import pandas as pd

from .config import SheetConfig

Condition = Callable[[pd.DataFrame], pd.Series]

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip


def compile_condition(text: str, sheet: SheetConfig) -> Condition:
    """Return a function frame → boolean Series for `text`; ValueError naming what is unsupported."""
    tree = ast.parse(text.strip(), mode="eval")
    names = {f.key: f.key for f in sheet.fields} | {f.label: f.key for f in sheet.fields}
    return _compile(tree.body, names, text)


def _compile(node: ast.AST, names: dict[str, str], text: str) -> Condition:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, names, text) for v in node.values]
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_

        def boolop(frame: pd.DataFrame) -> pd.Series:
            result = parts[0](frame)
            for part in parts[1:]:
                result = combine(result, part(frame))
            return result

        return boolop
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _compile(node.operand, names, text)
        return lambda frame: ~inner(frame)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "is_empty"
    ):
        if len(node.args) != 1:
            raise ValueError(f"is_empty takes one field: {text}")
        value = _operand(node.args[0], names, text)
        return lambda frame: _empty(value(frame))
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left = _operand(node.left, names, text)
        right_node = node.comparators[0]
        op = node.ops[0]
        if isinstance(op, ast.In | ast.NotIn):
            choices = _literal(right_node, text)
            if not isinstance(choices, list | tuple | set):
                raise ValueError(f'`in` needs a list, e.g. ["a", "b"]: {text}')
            negate = isinstance(op, ast.NotIn)
            return lambda frame: left(frame).isin(list(choices)) ^ negate
        if type(op) in _COMPARE:
            right = _operand(right_node, names, text)
            fn = _COMPARE[type(op)]

            def compare(frame: pd.DataFrame) -> pd.Series:
                a, b = left(frame), right(frame)
                known = ~_empty(a)
                if isinstance(b, pd.Series):
                    known &= ~_empty(b)
                result = pd.Series(False, index=frame.index, dtype=bool)
                if known.any():
                    try:
                        hits = fn(a[known], b[known] if isinstance(b, pd.Series) else b)
                        result[known] = hits.astype(bool).to_numpy()
                    except TypeError:
                        pass  # comparing a date with text: not true
                return result

            return compare
    raise ValueError(f"not supported in a condition yet: {ast.unparse(node)!r} in {text!r}")


def _operand(node: ast.AST, names: dict[str, str], text: str) -> Callable[[pd.DataFrame], Any]:
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(f"unknown field {node.id!r} in {text!r}")
        key = names[node.id]
        return lambda frame: frame[key] if key in frame else pd.Series(None, index=frame.index)
    value = _literal(node, text)
    return lambda frame: value


def _literal(node: ast.AST, text: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f"expected a field name or a value: {ast.unparse(node)!r} in {text!r}"
        ) from None


def _empty(values: Any) -> pd.Series:
    if not isinstance(values, pd.Series):
        return values is None or values == ""
    return values.isna() | (values.astype(object) == "")
