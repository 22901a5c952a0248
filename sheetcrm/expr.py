"""The condition language of config.toml, compiled once and evaluated on a whole frame at once.

    industry == "IT/互联网"
    source == "线上推广" and region in ["华东", "上海"]
    "已确认预算" in demand and expected_close <= today + days(7)
    days_since(last_followup) > 3 or changed_to(stage, "商务谈判")

Python syntax, parsed with `ast` and checked against a whitelist: comparisons (chained too), `in` /
`not in`, `and` / `or` / `not`, `+ - * /` on numbers, dates and durations, literals, field names (by
key or by label: Chinese identifiers parse), `today` / `now`, and the functions in FUNCTIONS. Anything
else (attributes, subscripts, lambdas, other calls, `__import__`) is an ExprError at config load time
with a caret under the offending part. Text is never passed to eval.

Values are typed at compile time (text, number, date, duration, bool, list) so that comparing a date
with text is a load-time error, not a silent False at 2 a.m. Empty cells: an ordering comparison with
an empty side is false; `==` is true only when both sides are equal or both empty, `!=` is its
negation; arithmetic with an empty side is empty; `is_empty(x)` asks directly.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from .text import canonical, canonical_column, text_width

# the kinds a value can have; "any" is a literal None
TEXT, NUMBER, DATE, DURATION, BOOL, LIST, NONE = (
    "text", "number", "date", "duration", "bool", "list", "none",
)  # fmt: skip

FUNCTIONS = {
    "days": "days(n): a duration of n days, e.g. today + days(7)",
    "hours": "hours(n): a duration of n hours",
    "weeks": "weeks(n): a duration of n weeks",
    "date": 'date("2026-12-31"): a fixed date',
    "days_since": "days_since(date_field): whole days from that date to today (empty if empty)",
    "days_until": "days_until(date_field): whole days from today to that date (empty if empty)",
    "is_empty": "is_empty(field): the cell is empty",
    "startswith": 'startswith(field, "text")',
    "endswith": 'endswith(field, "text")',
    "contains": 'contains(field, "text"): the text occurs in the cell',
    "changed": "changed(field): the value differs from the last run's",
    "changed_to": "changed_to(field, value): changed since the last run, and is now value",
    "changed_from": "changed_from(field, value): changed since the last run, and was value",
    "is_new": "is_new(): the row was not there in the last run (no row on the first night)",
}
CONSTANTS = {"today", "now", "True", "False", "None"}


class ExprError(ValueError):
    """A condition that cannot be compiled: what is wrong, and where (a caret under it)."""

    def __init__(self, message: str, text: str, column: int | None = None) -> None:
        self.message, self.text, self.column = message, text, column
        shown = f"{message}\n    {text}"
        if column is not None:
            shown += "\n    " + " " * text_width(text[:column]) + "^"
        super().__init__(shown)


# ---------------------------------------------------------------------------------------------
# Evaluation context


@dataclass
class Env:
    """What a condition is evaluated against: the typed frame, the time, the previous run's values.

    `previous` holds the last run's values as canonical text (see text.canonical) on the same
    index, for the rows that existed then (`existed`). Column conversions are cached per Env, so
    ten conditions over the same frame convert each column once."""

    frame: pd.DataFrame
    kinds: Mapping[str, str]
    now: datetime
    previous: pd.DataFrame | None = None
    existed: pd.Series | None = None
    _cache: dict[str, pd.Series] = field(default_factory=dict, repr=False)

    @property
    def index(self) -> pd.Index:
        return self.frame.index

    @property
    def today(self) -> pd.Timestamp:
        return pd.Timestamp(self.now.date())

    def column(self, key: str) -> pd.Series:
        """The column as the condition sees it: float64, datetime64 or object text (None empty)."""
        if key in self._cache:
            return self._cache[key]
        if key not in self.frame:
            values = pd.Series(None, index=self.index, dtype=object)
        else:
            values = self.frame[key]
        kind = self.kinds.get(key, TEXT)
        if kind == NUMBER:
            out = pd.to_numeric(values, errors="coerce").astype("float64")
        elif kind == DATE:
            out = to_datetime64(values)
        else:
            # typed text is already str or None ("" only in hand-made frames; _empty treats both)
            out = values if values.dtype == object else values.astype(object)
        self._cache[key] = out
        return out

    def canonical(self, key: str) -> pd.Series:
        """The column as canonical text, the form snapshots keep (for changed())."""
        ck = "\x00canon:" + key
        if ck not in self._cache:
            values = self.frame[key] if key in self.frame else pd.Series(None, index=self.index)
            self._cache[ck] = canonical_column(values)
        return self._cache[ck]


def to_datetime64(values: pd.Series) -> pd.Series:
    """Typed dates (datetime.date objects, None) → datetime64, converting each distinct date once."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    mapping: dict[date | str, Any] = {}
    for u in pd.unique(values.dropna()):
        if isinstance(u, datetime | date):
            mapping[u] = pd.Timestamp(u)
        elif isinstance(u, str) and u:
            mapping[u] = pd.to_datetime(u, errors="coerce")
    mapped = values.map(mapping) if mapping else pd.Series(pd.NaT, index=values.index)
    return pd.Series(pd.to_datetime(mapped, errors="coerce"), index=values.index).astype(
        "datetime64[ns]"
    )


# ---------------------------------------------------------------------------------------------
# Compiled expressions


Evaluator = Callable[[Env], Any]  # → a Series on env.index, or a scalar


@dataclass(frozen=True)
class Compiled:
    kind: str
    fn: Evaluator
    fields: frozenset[str] = frozenset()  # field keys read
    uses_history: bool = False  # changed(), changed_to(), is_new()


@dataclass(frozen=True)
class Condition:
    """A compiled condition: call it with an Env, get one bool per row."""

    text: str
    compiled: Compiled

    @property
    def fields(self) -> frozenset[str]:
        return self.compiled.fields

    @property
    def uses_history(self) -> bool:
        return self.compiled.uses_history

    def __call__(self, env: Env) -> pd.Series:
        return _bools(self.compiled.fn(env), env).astype(bool)


def compile_condition(text: str, names: Mapping[str, str], kinds: Mapping[str, str]) -> Condition:
    """Compile a condition. `names` maps every usable name (field key and label) to a field key;
    `kinds` gives each field key's kind. ExprError (with a caret) when it is not a valid condition."""
    compiled = compile_expression(text, names, kinds)
    if compiled.kind != BOOL:
        raise ExprError(
            f"a condition must be true or false, but this is a {compiled.kind} value; "
            'compare it, e.g. stage == "成交", or use is_empty(...)',
            text.strip(),
            0,
        )
    return Condition(text.strip(), compiled)


def compile_expression(text: str, names: Mapping[str, str], kinds: Mapping[str, str]) -> Compiled:
    """Compile an expression of any kind (e.g. a score: `visits * 2 + enquiries * 3`)."""
    source = text.strip()
    if not source:
        raise ExprError("the condition is empty", source, 0)
    if len(source) > MAX_LENGTH:
        raise ExprError(f"the condition is too long ({len(source):,} characters; at most "
                        f"{MAX_LENGTH:,}): split it into several rules", source[:60] + " …")  # fmt: skip
    try:
        tree = ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise ExprError(f"the condition is nested too deeply (at most {MAX_DEPTH} levels)",
                        source) from None  # fmt: skip
    except SyntaxError as e:
        column = (e.offset - 1) if e.offset else len(source)
        if e.lineno and e.lineno > 1:
            column = len(source)
        quote = next((i for i, ch in enumerate(source) if ch in CHINESE_QUOTES), None)
        if quote is not None:
            raise ExprError(QUOTE_HINT, source, quote) from None
        raise ExprError(
            f"not a valid condition: {e.msg}", source, min(column, len(source))
        ) from None
    _check_size(tree.body, source)
    return _Compiler(source, names, kinds).node(tree.body)


CHINESE_QUOTES = "“”‘’"
QUOTE_HINT = '用了中文引号，请改成英文引号 " (Chinese quotes “ ” were typed; write " instead)'
MAX_LENGTH = 2_000  # characters in one condition: far more than a rule a person writes
MAX_DEPTH = 100  # levels of nesting (each operator, call or comparison is one)
MAX_NUMBER = 1e15  # a literal beyond this is a typo (or an attack), and float would round it


def _check_size(tree: ast.AST, source: str) -> None:
    """Refuse what would exhaust the compiler (recursion) or lose precision (huge literals),
    without recursing ourselves."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(f"the condition is nested too deeply (at most {MAX_DEPTH} levels): "
                            "split it into several rules", source)  # fmt: skip
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
                and not isinstance(node.value, bool):  # fmt: skip
            if not abs(node.value) <= MAX_NUMBER:  # also inf and nan
                raise ExprError(f"the number is too large (at most {MAX_NUMBER:,.0f})", source,
                                node.col_offset)  # fmt: skip
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Compiler:
    def __init__(self, text: str, names: Mapping[str, str], kinds: Mapping[str, str]) -> None:
        self.text, self.names, self.kinds = text, names, kinds
        self._bytes = text.encode()

    def fail(self, node: ast.AST, message: str) -> ExprError:
        offset = getattr(node, "col_offset", None)
        # ast offsets count UTF-8 bytes; the caret counts characters
        column = None if offset is None else len(self._bytes[:offset].decode(errors="ignore"))
        return ExprError(message, self.text, column)

    # -- dispatch ------------------------------------------------------------------------------
    def node(self, n: ast.AST) -> Compiled:
        method = getattr(self, "_" + type(n).__name__, None)
        if method is None:
            raise self.fail(n, _refusal(n))
        return method(n)

    def _Constant(self, n: ast.Constant) -> Compiled:
        v = n.value
        if v is None:
            return Compiled(NONE, lambda env: None)
        if isinstance(v, bool):
            return Compiled(BOOL, lambda env: v)
        if isinstance(v, int | float):
            number = float(v)
            return Compiled(NUMBER, lambda env: number)
        if isinstance(v, str):
            return Compiled(TEXT, lambda env: v)
        raise self.fail(n, f"{type(v).__name__} values are not supported")

    def _Name(self, n: ast.Name) -> Compiled:
        if n.id == "today":
            return Compiled(DATE, lambda env: env.today)
        if n.id == "now":
            return Compiled(DATE, lambda env: pd.Timestamp(env.now).tz_localize(None))
        if n.id in FUNCTIONS:
            raise self.fail(n, f"{n.id} is a function: {FUNCTIONS[n.id]}")
        key = self.names.get(n.id)
        if key is None:
            close = difflib.get_close_matches(n.id, list(self.names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.fail(n, f"unknown name {n.id!r}: not a field of this sheet{hint}")
        return Compiled(self.kinds.get(key, TEXT), lambda env: env.column(key), frozenset({key}))

    def _List(self, n: ast.List | ast.Tuple | ast.Set) -> Compiled:
        items = []
        for e in n.elts:
            if not isinstance(e, ast.Constant) or isinstance(e.value, bool) or e.value is None:
                raise self.fail(e, 'a list may hold only text and numbers, e.g. ["华东", "上海"]')
            items.append(float(e.value) if isinstance(e.value, int | float) else e.value)
        return Compiled(LIST, lambda env: items)

    _Tuple = _List
    _Set = _List

    def _BoolOp(self, n: ast.BoolOp) -> Compiled:
        parts = [self.boolean(v) for v in n.values]
        combine = operator.and_ if isinstance(n.op, ast.And) else operator.or_

        def run(env: Env) -> pd.Series:
            result = _bools(parts[0].fn(env), env)
            for p in parts[1:]:
                result = combine(result, _bools(p.fn(env), env))
            return result

        return Compiled(BOOL, run, _union(parts), any(p.uses_history for p in parts))

    def _UnaryOp(self, n: ast.UnaryOp) -> Compiled:
        inner = self.node(n.operand)
        if isinstance(n.op, ast.Not):
            inner = self.boolean(n.operand, inner)
            return Compiled(BOOL, lambda env: ~_bools(inner.fn(env), env), inner.fields,
                            inner.uses_history)  # fmt: skip
        if isinstance(n.op, ast.USub | ast.UAdd) and inner.kind in (NUMBER, DURATION):
            sign = -1 if isinstance(n.op, ast.USub) else 1
            return Compiled(inner.kind, lambda env: inner.fn(env) * sign, inner.fields,
                            inner.uses_history)  # fmt: skip
        raise self.fail(n, f"{ast.unparse(n)!r}: this operator does not apply to a {inner.kind}")

    def _BinOp(self, n: ast.BinOp) -> Compiled:
        left, right = self.node(n.left), self.node(n.right)
        op = type(n.op)
        kinds = (left.kind, right.kind)
        result = _ARITHMETIC.get((op, *kinds))
        if result is None:
            symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}.get(op)
            if symbol is None:
                raise self.fail(n, "only + - * / are supported")
            raise self.fail(n, f"cannot compute {left.kind} {symbol} {right.kind} in "
                               f"{ast.unparse(n)!r}" + _hint(kinds))  # fmt: skip
        fn = _BINOPS[op]

        def run(env: Env) -> Any:
            a, b = left.fn(env), right.fn(env)
            if op is ast.Sub and kinds == (DATE, DATE):
                return _days(fn(a, b))
            if op is ast.Div:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out = fn(a, b)
                return out.replace([np.inf, -np.inf], np.nan) if isinstance(out, pd.Series) else out
            return fn(a, b)

        return Compiled(result, run, left.fields | right.fields,
                        left.uses_history or right.uses_history)  # fmt: skip

    def _Compare(self, n: ast.Compare) -> Compiled:
        operands = [self.node(n.left)] + [self.node(c) for c in n.comparators]
        nodes = [n.left, *n.comparators]
        parts: list[Compiled] = []
        for i, op in enumerate(n.ops):
            parts.append(self.compare(op, operands[i], operands[i + 1], nodes[i], nodes[i + 1]))
        if len(parts) == 1:
            return parts[0]

        def run(env: Env) -> pd.Series:
            result = _bools(parts[0].fn(env), env)
            for p in parts[1:]:
                result &= _bools(p.fn(env), env)
            return result

        return Compiled(BOOL, run, _union(parts), any(p.uses_history for p in parts))

    def _Call(self, n: ast.Call) -> Compiled:
        if not isinstance(n.func, ast.Name):
            raise self.fail(n, f"{ast.unparse(n.func)!r} cannot be called; "
                               f"functions are {', '.join(FUNCTIONS)}")  # fmt: skip
        name = n.func.id
        if name not in FUNCTIONS:
            raise self.fail(n, f"unknown function {name!r}; functions are {', '.join(FUNCTIONS)}")
        if n.keywords:
            raise self.fail(n.keywords[0].value, f"{name}() takes no keyword arguments")
        return getattr(self, "call_" + name)(n, n.args)

    # -- helpers -------------------------------------------------------------------------------
    def boolean(self, n: ast.AST, compiled: Compiled | None = None) -> Compiled:
        compiled = compiled or self.node(n)
        if compiled.kind != BOOL:
            raise self.fail(n, f"{ast.unparse(n)!r} is a {compiled.kind} value, not true/false; "
                               'compare it (e.g. x == "...") or use is_empty(x)')  # fmt: skip
        return compiled

    def args(self, n: ast.Call, args: list[ast.expr], count: int) -> list[Compiled]:
        if len(args) != count:
            raise self.fail(n, f"{FUNCTIONS[_function(n)]} (takes {count} "
                               f"argument{'s' * (count != 1)}, got {len(args)})")  # fmt: skip
        return [self.node(a) for a in args]

    def expect(self, node: ast.AST, compiled: Compiled, *kinds: str) -> None:
        if compiled.kind not in kinds and compiled.kind != NONE:
            raise self.fail(node, f"{ast.unparse(node)!r} is a {compiled.kind} value; "
                                  f"expected a {' or '.join(kinds)}")  # fmt: skip

    def field_arg(self, n: ast.Call, arg: ast.AST) -> str:
        if not isinstance(arg, ast.Name) or arg.id not in self.names:
            raise self.fail(arg, f"{_function(n)}() needs a field name, e.g. {_function(n)}(stage)")
        return self.names[arg.id]

    def compare(self, op: ast.cmpop, left: Compiled, right: Compiled, ln: ast.AST,
                rn: ast.AST) -> Compiled:  # fmt: skip
        fields = left.fields | right.fields
        history = left.uses_history or right.uses_history
        if isinstance(op, ast.In | ast.NotIn):
            negate = isinstance(op, ast.NotIn)
            if right.kind == LIST:
                if left.kind not in (TEXT, NUMBER):
                    raise self.fail(ln, f"`in [...]` needs a text or number value, not {left.kind}")

                def isin(env: Env) -> pd.Series:
                    values = _series(left.fn(env), env)
                    hits = values.isin(right.fn(env)) & values.notna()
                    return ~hits if negate else hits

                return Compiled(BOOL, isin, fields, history)
            if (right.kind == TEXT and left.kind == TEXT and isinstance(ln, ast.Constant)
                    and isinstance(ln.value, str)):  # fmt: skip
                needle = ln.value

                def contains(env: Env) -> pd.Series:
                    hits = _contains(_series(right.fn(env), env), needle)
                    return ~hits if negate else hits

                return Compiled(BOOL, contains, fields, history)
            raise self.fail(rn, '`in` needs a list (x in ["a", "b"]) or, for text in a field, '
                                'a quoted text on the left ("预算" in demand)')  # fmt: skip
        kinds = {left.kind, right.kind}
        if isinstance(rn, ast.Constant) and isinstance(rn.value, str) and left.kind == DATE:
            right = self.date_literal(rn, rn.value)
        elif isinstance(ln, ast.Constant) and isinstance(ln.value, str) and right.kind == DATE:
            left = self.date_literal(ln, ln.value)
        kinds = {left.kind, right.kind}
        if len(kinds - {NONE}) > 1 or BOOL in kinds and not isinstance(op, ast.Eq | ast.NotEq):
            raise self.fail(ln, f"cannot compare a {left.kind} with a {right.kind}: "
                                f"{ast.unparse(ln)} … {ast.unparse(rn)}" + _hint((left.kind, right.kind)))  # fmt: skip
        if NONE in kinds and not isinstance(op, ast.Eq | ast.NotEq):
            raise self.fail(rn, "only == and != compare with None; or use is_empty(x)")
        fn = _COMPARE[type(op)]
        equality = isinstance(op, ast.Eq | ast.NotEq)

        def run(env: Env) -> pd.Series:
            a, b = left.fn(env), right.fn(env)
            a_empty, b_empty = _empty(a, env), _empty(b, env)
            both = ~a_empty & ~b_empty
            if equality:
                same = (_raw_eq(a, b, env) & both) | (a_empty & b_empty)
                return same if isinstance(op, ast.Eq) else ~same
            result = pd.Series(False, index=env.index)
            if both.any():
                a_k = _series(a, env)[both]
                b_k = b[both] if isinstance(b, pd.Series) else b
                result[both] = np.asarray(fn(a_k, b_k), dtype=bool)
            return result

        return Compiled(BOOL, run, fields, history)

    def date_literal(self, node: ast.AST, value: str) -> Compiled:
        stamp = pd.to_datetime(value, errors="coerce")
        if pd.isna(stamp):
            raise self.fail(node, f'{value!r} is not a date; write dates as "2026-12-31"')
        return Compiled(DATE, lambda env: stamp)

    # -- functions -----------------------------------------------------------------------------
    def _duration(self, unit: str) -> Callable[[ast.Call, list[ast.expr]], Compiled]:
        def make(n: ast.Call, args: list[ast.expr]) -> Compiled:
            (a,) = self.args(n, args, 1)
            self.expect(args[0], a, NUMBER)

            def run(env: Env) -> Any:
                v = a.fn(env)
                if isinstance(v, pd.Series):
                    return pd.to_timedelta(v, unit=unit)
                return pd.Timedelta(v, unit=unit)

            return Compiled(DURATION, run, a.fields, a.uses_history)

        return make

    def call_days(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._duration("D")(n, args)

    def call_hours(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._duration("h")(n, args)

    def call_weeks(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._duration("W")(n, args)

    def call_date(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        if (
            len(args) != 1
            or not isinstance(args[0], ast.Constant)
            or not isinstance(args[0].value, str)
        ):
            raise self.fail(n, FUNCTIONS["date"])
        return self.date_literal(args[0], args[0].value)

    def call_days_since(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        (a,) = self.args(n, args, 1)
        self.expect(args[0], a, DATE)
        return Compiled(NUMBER, lambda env: _days(env.today - _series(a.fn(env), env).dt.normalize()),
                        a.fields, a.uses_history)  # fmt: skip

    def call_days_until(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        (a,) = self.args(n, args, 1)
        self.expect(args[0], a, DATE)
        return Compiled(NUMBER, lambda env: _days(_series(a.fn(env), env).dt.normalize() - env.today),
                        a.fields, a.uses_history)  # fmt: skip

    def call_is_empty(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        (a,) = self.args(n, args, 1)
        return Compiled(BOOL, lambda env: _empty(a.fn(env), env), a.fields, a.uses_history)

    def _text_test(self, n: ast.Call, args: list[ast.expr], method: str) -> Compiled:
        a, b = self.args(n, args, 2)
        self.expect(args[0], a, TEXT)
        if not isinstance(args[1], ast.Constant) or not isinstance(args[1].value, str):
            raise self.fail(
                args[1], f"{FUNCTIONS[_function(n)]}: the second argument is a quoted text"
            )
        needle = args[1].value

        def run(env: Env) -> pd.Series:
            values = _series(a.fn(env), env)
            if method == "contains":
                return _contains(values, needle)
            return getattr(values.astype("string").str, method)(needle).fillna(False).astype(bool)

        return Compiled(BOOL, run, a.fields, a.uses_history)

    def call_startswith(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._text_test(n, args, "startswith")

    def call_endswith(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._text_test(n, args, "endswith")

    def call_contains(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._text_test(n, args, "contains")

    def call_changed(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        if len(args) != 1:
            raise self.fail(n, FUNCTIONS["changed"])
        key = self.field_arg(n, args[0])
        return Compiled(BOOL, lambda env: _changed(env, key), frozenset({key}), True)

    def _changed_value(self, n: ast.Call, args: list[ast.expr], now_side: bool) -> Compiled:
        name = _function(n)
        if len(args) != 2:
            raise self.fail(n, FUNCTIONS[name])
        key = self.field_arg(n, args[0])
        value = self.node(args[1])
        kind = self.kinds.get(key, TEXT)
        if value.kind == TEXT and kind == DATE and isinstance(args[1], ast.Constant):
            value = self.date_literal(args[1], cast(str, args[1].value))  # a TEXT constant
        if value.kind not in (kind, NONE) or value.fields:
            raise self.fail(args[1], f"{name}() compares with a fixed {kind} value, "
                                     f'e.g. {name}({ast.unparse(args[0])}, "商务谈判")')  # fmt: skip
        wanted = canonical(value.fn(cast(Env, None)))  # a literal: needs no Env

        def run(env: Env) -> pd.Series:
            moved = _changed(env, key)
            if not moved.any():
                return moved
            rows = env.index[moved.to_numpy()]
            if now_side:
                side = env.canonical(key)[rows]
            else:
                assert env.previous is not None
                side = (
                    env.previous.loc[rows, key]
                    if key in env.previous
                    else pd.Series("", index=rows)
                )
            result = pd.Series(False, index=env.index)
            result[rows] = (side == wanted).to_numpy(dtype=bool)
            return result

        return Compiled(BOOL, run, frozenset({key}), True)

    def call_changed_to(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._changed_value(n, args, now_side=True)

    def call_changed_from(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        return self._changed_value(n, args, now_side=False)

    def call_is_new(self, n: ast.Call, args: list[ast.expr]) -> Compiled:
        if args:
            raise self.fail(n, FUNCTIONS["is_new"])

        def run(env: Env) -> pd.Series:
            if env.existed is None:
                return pd.Series(False, index=env.index)  # no history at all: nothing is "new"
            return ~env.existed

        return Compiled(BOOL, run, frozenset(), True)


# ---------------------------------------------------------------------------------------------
# Vectorised pieces


_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}  # fmt: skip
_ARITHMETIC = {
    (ast.Add, NUMBER, NUMBER): NUMBER, (ast.Sub, NUMBER, NUMBER): NUMBER,
    (ast.Mult, NUMBER, NUMBER): NUMBER, (ast.Div, NUMBER, NUMBER): NUMBER,
    (ast.Add, DATE, DURATION): DATE, (ast.Add, DURATION, DATE): DATE,
    (ast.Sub, DATE, DURATION): DATE, (ast.Sub, DATE, DATE): NUMBER,
    (ast.Add, DURATION, DURATION): DURATION, (ast.Sub, DURATION, DURATION): DURATION,
    (ast.Mult, DURATION, NUMBER): DURATION, (ast.Mult, NUMBER, DURATION): DURATION,
}  # fmt: skip


def _hint(kinds: tuple[str, str]) -> str:
    if DATE in kinds and NUMBER in kinds:
        return "; for a number of days use days(n), e.g. today + days(7), or days_since(x) > 3"
    if DURATION in kinds and NUMBER in kinds:
        return "; write the number as a duration, e.g. days(3)"
    return ""


def _function(n: ast.Call) -> str:
    """The name of the function a call_* method handles (_Call checked that it is a name)."""
    return cast(ast.Name, n.func).id


def _refusal(n: ast.AST) -> str:
    what = {
        ast.Attribute: "attribute access (x.y)", ast.Subscript: "subscripts (x[...])",
        ast.Lambda: "lambda", ast.IfExp: "if-else expressions", ast.Dict: "dicts",
        ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.Starred: "*args",
        ast.NamedExpr: ":=", ast.JoinedStr: "f-strings", ast.Await: "await",
    }.get(type(n), type(n).__name__)  # fmt: skip
    return f"{what} is not allowed in a condition"


def _union(parts: list[Compiled]) -> frozenset[str]:
    return frozenset().union(*(p.fields for p in parts))


def _series(value: Any, env: Env) -> pd.Series:
    if isinstance(value, pd.Series):
        return value
    return pd.Series([value] * len(env.index), index=env.index)


def _bools(value: Any, env: Env) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.fillna(False).astype(bool) if value.dtype == object else value
    return pd.Series(bool(value), index=env.index)


def _empty(value: Any, env: Env) -> Any:
    if not isinstance(value, pd.Series):
        empty = value is None or value == "" or (isinstance(value, float) and value != value) \
            or value is pd.NaT  # fmt: skip
        return pd.Series(empty, index=env.index)
    if value.dtype == object:
        return value.isna() | (value == "")
    return value.isna()


def _raw_eq(a: Any, b: Any, env: Env) -> pd.Series:
    if isinstance(a, pd.Series):
        return (a == b).fillna(False).astype(bool)
    if isinstance(b, pd.Series):
        return (b == a).fillna(False).astype(bool)
    return pd.Series(a == b, index=env.index)


def _days(delta: Any) -> Any:
    """A duration as a number of days (float, empty stays empty)."""
    if isinstance(delta, pd.Series):
        return delta.dt.days.astype("float64")
    return float(delta.days) if not pd.isna(delta) else np.nan


def _contains(values: pd.Series, needle: str) -> pd.Series:
    """Whether each text holds `needle` (as a substring: 已确认预算 in a free-text demand)."""
    text = values.astype("string")
    return text.str.contains(needle, regex=False).fillna(False).astype(bool)


def _changed(env: Env, key: str) -> pd.Series:
    """Rows that existed last run and whose value of `key` differs. `env.previous` holds only the
    rows whose content changed (the others are equal by their hash), so the comparison is small."""
    result = pd.Series(False, index=env.index)
    if env.previous is None or env.existed is None or env.previous.empty:
        return result
    rows = env.previous.index.intersection(env.index)
    before = env.previous.loc[rows, key] if key in env.previous else pd.Series("", index=rows)
    result[rows] = (env.canonical(key)[rows] != before).to_numpy(dtype=bool)
    return result & env.existed


def kind_of(field_type: str) -> str:
    """The expression kind of a config field type."""
    if field_type in ("number", "money", "rating"):
        return NUMBER
    if field_type == "date":
        return DATE
    return TEXT
