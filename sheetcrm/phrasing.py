"""Conditions in the team's words: `customer_type == "企业客户"` reads 客户类型为“企业客户”.

People see conditions in 问题说明, 填写说明, 规则提示 and the digest; they must never see a field key,
`==` or Python. A condition is phrased from its parsed form (the same `ast` the condition language
compiles, see expr.py) with the fields' labels; a part with no phrasing falls back to the
expression itself, written with labels, so nothing is ever lost, only less fluent.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

from .messages import Locale
from .text import display

Words = Mapping[str, str]

ZH: Words = {
    "and": "且", "or": "或", "not": "不满足（{x}）", "open": "（", "close": "）",
    "Eq": "{a}为{b}", "NotEq": "{a}不为{b}", "Gt": "{a}大于{b}", "GtE": "{a}不小于{b}",
    "Lt": "{a}小于{b}", "LtE": "{a}不大于{b}",
    "date.Gt": "{a}晚于{b}", "date.GtE": "{a}不早于{b}", "date.Lt": "{a}早于{b}",
    "date.LtE": "{a}不晚于{b}",
    "In": "{a}为{b}之一", "NotIn": "{a}不是{b}之一", "contains": "{a}含{b}",
    "not_contains": "{a}不含{b}", "list_sep": "、", "quote": "“{v}”",
    "is_empty": "{a}为空", "not_is_empty": "{a}已填写", "changed": "{a}有改动",
    "changed_to": "{a}改为{b}", "changed_from": "{a}从{b}改为其他", "is_new": "新增的行",
    "startswith": "{a}以{b}开头", "endswith": "{a}以{b}结尾",
    "days_since": "距{a}的天数", "days_until": "到{a}的天数",
    "days": "{n}天", "hours": "{n}小时", "weeks": "{n}周", "date": "{v}",
    "later": "{a}后{n}", "earlier": "{a}前{n}", "later_today": "{n}后", "earlier_today": "{n}前", "plus": "{a}加{b}", "minus": "{a}减{b}",
    "times": "{a}乘{b}", "divided": "{a}除以{b}",
    "today": "今天", "now": "现在", "True": "总是", "False": "从不", "None": "空",
    "empty_eq": "{a}为空", "empty_ne": "{a}已填写",
}  # fmt: skip

EN: Words = {
    "and": " and ", "or": " or ", "not": "not ({x})", "open": "(", "close": ")",
    "Eq": "{a} is {b}", "NotEq": "{a} is not {b}", "Gt": "{a} is more than {b}",
    "GtE": "{a} is at least {b}", "Lt": "{a} is less than {b}", "LtE": "{a} is at most {b}",
    "date.Gt": "{a} is after {b}", "date.GtE": "{a} is on or after {b}",
    "date.Lt": "{a} is before {b}", "date.LtE": "{a} is on or before {b}",
    "In": "{a} is one of {b}", "NotIn": "{a} is none of {b}", "contains": "{a} contains {b}",
    "not_contains": "{a} does not contain {b}", "list_sep": ", ", "quote": "\u201c{v}\u201d",
    "is_empty": "{a} is blank", "not_is_empty": "{a} is filled in", "changed": "{a} changed",
    "changed_to": "{a} changed to {b}", "changed_from": "{a} changed from {b}",
    "is_new": "the row is new", "startswith": "{a} starts with {b}",
    "endswith": "{a} ends with {b}", "days_since": "days since {a}", "days_until": "days until {a}",
    "days": "{n} days", "hours": "{n} hours", "weeks": "{n} weeks", "date": "{v}",
    "later": "{n} after {a}", "earlier": "{n} before {a}", "later_today": "{n} from today",
    "earlier_today": "{n} ago", "plus": "{a} plus {b}",
    "minus": "{a} minus {b}", "times": "{a} times {b}", "divided": "{a} divided by {b}",
    "today": "today", "now": "now", "True": "always", "False": "never", "None": "blank",
    "empty_eq": "{a} is blank", "empty_ne": "{a} is filled in",
}  # fmt: skip

WORDS: dict[str, Words] = {"zh_CN": ZH, "en": EN}
DURATIONS = {"days", "hours", "weeks"}
DATE_MAKERS = {"date", "today", "now"}


def phrase(text: str, labels: Mapping[str, str], locale: Locale,
           dates: frozenset[str] = frozenset()) -> str:  # fmt: skip
    """`text` (a condition of config.toml) in words. `labels` maps each name a condition may use
    (key or label) to the label people see; `dates` holds the names of date fields (a date is
    "before" another, a number "less than")."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return text
    return _Phraser(labels, WORDS.get(locale, ZH), dates).node(tree.body)


class _Phraser:
    def __init__(self, labels: Mapping[str, str], words: Words, dates: frozenset[str]) -> None:
        self.labels, self.w, self.dates = labels, words, dates

    def node(self, n: ast.AST) -> str:
        method: Callable[[ast.AST], str] | None = getattr(self, "_" + type(n).__name__, None)
        out = method(n) if method else None
        if out is None:
            out = self.plain(n)
        return out

    def plain(self, n: ast.AST) -> str:
        """The expression itself with labels for names: what has no phrasing."""

        class Relabel(ast.NodeTransformer):
            def visit_Name(inner, name: ast.Name) -> ast.AST:  # noqa: N805
                return ast.Name(self.labels.get(name.id, self.w.get(name.id, name.id)))

        return ast.unparse(Relabel().visit(ast.parse(ast.unparse(n), mode="eval")).body)

    def value(self, n: ast.AST) -> str:
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return self.w["quote"].format(v=n.value)
        if isinstance(n, ast.List | ast.Tuple | ast.Set):
            return self.w["list_sep"].join(self.value(e) for e in n.elts)
        return self.node(n)

    def is_date(self, n: ast.AST) -> bool:
        if isinstance(n, ast.Name):
            return n.id in self.dates or n.id in DATE_MAKERS
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            return n.func.id == "date"
        if isinstance(n, ast.BinOp):
            return self.is_date(n.left)
        return False

    # -- nodes ---------------------------------------------------------------------------------

    def _Constant(self, n: ast.Constant) -> str | None:
        if isinstance(n.value, bool) or n.value is None:
            return self.w[str(n.value)]
        if isinstance(n.value, int | float):
            return display(n.value)  # 1500000, not 1.5e+06
        return self.value(n)

    def _Name(self, n: ast.Name) -> str | None:
        if n.id in self.labels:
            return self.labels[n.id]
        return self.w.get(n.id)

    def _BoolOp(self, n: ast.BoolOp) -> str:
        joiner = self.w["and"] if isinstance(n.op, ast.And) else self.w["or"]
        parts = []
        for v in n.values:
            part = self.node(v)
            if isinstance(v, ast.BoolOp):  # a mix of and / or keeps its grouping
                part = self.w["open"] + part + self.w["close"]
            parts.append(part)
        return joiner.join(parts)

    def _UnaryOp(self, n: ast.UnaryOp) -> str | None:
        if not isinstance(n.op, ast.Not):
            return None
        inner = n.operand
        if isinstance(inner, ast.Call) and _func(inner) == "is_empty" and len(inner.args) == 1:
            return self.w["not_is_empty"].format(a=self.node(inner.args[0]))
        if isinstance(inner, ast.Compare) and len(inner.ops) == 1:
            flipped = {ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
            op = flipped.get(type(inner.ops[0]))
            if op is not None:
                return self.node(ast.Compare(inner.left, [op()], inner.comparators))
        return self.w["not"].format(x=self.node(inner))

    def _Compare(self, n: ast.Compare) -> str:
        parts, left = [], n.left
        for op, right in zip(n.ops, n.comparators, strict=True):
            parts.append(self.compare(op, left, right))
            left = right
        return self.w["and"].join(parts)

    def compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> str:
        name = type(op).__name__
        if name in ("In", "NotIn") and not isinstance(right, ast.List | ast.Tuple | ast.Set):
            # "text" in field: the field's text contains it
            key = "contains" if name == "In" else "not_contains"
            return self.w[key].format(a=self.node(right), b=self.value(left))
        if isinstance(right, ast.Constant) and right.value is None and name in ("Eq", "NotEq"):
            return self.w["empty_eq" if name == "Eq" else "empty_ne"].format(a=self.node(left))
        if name in ("Gt", "GtE", "Lt", "LtE") and (self.is_date(left) or self.is_date(right)):
            name = "date." + name
        if name not in self.w:
            return self.plain(ast.Compare(left, [op], [right]))
        return self.w[name].format(a=self.node(left), b=self.value(right))

    def _BinOp(self, n: ast.BinOp) -> str | None:
        right = n.right
        if (isinstance(right, ast.Call) and _func(right) in DURATIONS
                and isinstance(n.op, ast.Add | ast.Sub)):  # fmt: skip
            key = "later" if isinstance(n.op, ast.Add) else "earlier"
            if isinstance(n.left, ast.Name) and n.left.id in ("today", "now"):
                key += "_today"
            return self.w[key].format(a=self.node(n.left), n=self.node(right))
        ops = {ast.Add: "plus", ast.Sub: "minus", ast.Mult: "times", ast.Div: "divided"}
        word = ops.get(type(n.op))
        if word is None:
            return None
        return self.w[word].format(a=self.node(n.left), b=self.node(n.right))

    def _Call(self, n: ast.Call) -> str | None:
        name = _func(n)
        args = [self.node(a) for a in n.args[:1]] + [self.value(a) for a in n.args[1:]]
        if name in DURATIONS and len(n.args) == 1:
            return self.w[name].format(n=args[0])
        if name == "date" and len(n.args) == 1 and isinstance(n.args[0], ast.Constant):
            return self.w["date"].format(v=n.args[0].value)
        if name == "is_new" and not n.args:
            return self.w["is_new"]
        if name == "contains" and len(args) == 2:
            return self.w["contains"].format(a=args[0], b=args[1])
        if name in ("is_empty", "changed", "days_since", "days_until") and len(args) == 1:
            return self.w[name].format(a=args[0])
        if name in ("changed_to", "changed_from", "startswith", "endswith") and len(args) == 2:
            return self.w[name].format(a=args[0], b=args[1])
        return None


def _func(n: ast.Call) -> str:
    return n.func.id if isinstance(n.func, ast.Name) else ""


__all__ = ["phrase"]
