"""Duplicate records: normalise, block, score, cluster. Marks duplicates; never merges or deletes.

Keys are normalised first: names lose width and case differences, punctuation, brackets, a leading
place name and trailing legal forms, so （北京）某某有限公司, (北京)某某公司 and 某某有限责任公司 share one
key; phones, e-mails and credit codes arrive already normalised by the check (E.164, lower case).

Two ways to match, both from config ([sheets.dedupe]):
- exact fields: records with the same non-empty value are the same record (同手机号);
- fuzzy fields: a weighted rapidfuzz similarity, compared only between neighbours in two sorted orders
  (by name and by reversed name, so a typo at either end still meets its twin). Cost grows with
  rows × window, never rows², and the scoring runs in rapidfuzz's C code over whole arrays.

Matches are joined into clusters (union-find). In each cluster the oldest record (first contact, then
lowest ID) is the original; every other member points to it with a short reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from .config import DedupeConfig, FieldType, SheetConfig
from .messages import LOCALES, text
from .store import Decision, Store, pair_hash
from .text import clean, display, map_distinct

# the 判定 people choose in the decisions sheet, in any locale's words
NOT_A_DUPLICATE = {text(locale, "dedupe.not_a_duplicate") for locale in LOCALES}

REGION_PREFIXES = [
    "北京", "上海", "天津", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门", "深圳", "广州",
    "杭州", "南京", "苏州", "成都", "武汉", "西安", "青岛", "厦门", "宁波", "大连", "沈阳", "长沙",
    "郑州", "济南", "合肥", "福州", "无锡", "东莞", "佛山", "昆明", "哈尔滨", "长春", "石家庄",
]  # fmt: skip
LEGAL_SUFFIXES = [
    "股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司", "分公司", "总公司", "公司",
    "集团", "有限合伙", "合伙企业", "个体工商户", "工作室", "co.,ltd.", "co.,ltd", "co.ltd", "ltd.",
    "ltd", "limited", "inc.", "inc", "corporation", "corp.", "corp", "llc", "company", "co.",
]  # fmt: skip
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_REASONS = {
    FieldType.phone: "同手机号", FieldType.email: "同电子邮箱", FieldType.credit_code: "同信用代码",
}  # fmt: skip


class NameKey:
    """Turns a company or person name into its match key."""

    def __init__(self, config: DedupeConfig) -> None:
        regions = config.region_prefixes if config.region_prefixes is not None else REGION_PREFIXES
        suffixes = config.legal_suffixes if config.legal_suffixes is not None else LEGAL_SUFFIXES
        base = {clean(r).lower() for r in regions}
        self._regions = base | {r + s for r in base for s in ("省", "市")}
        self._suffixes = {_PUNCT.sub("", clean(x).lower()) for x in suffixes}
        # set look-ups by length, longest first: a few dict probes instead of a scan of the lists
        self._region_lengths = sorted({len(r) for r in self._regions}, reverse=True)
        self._suffix_lengths = sorted({len(x) for x in self._suffixes}, reverse=True)

    def __call__(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        text = _PUNCT.sub("", clean(str(value)).lower())
        for n in self._region_lengths:
            if len(text) > n + 1 and text[:n] in self._regions:
                text = text[n:]
                break
        stripped = True
        while stripped:
            stripped = False
            for n in self._suffix_lengths:
                if len(text) > n + 1 and text[-n:] in self._suffixes:
                    text = text[:-n]
                    stripped = True
                    break
        return text


@dataclass
class DuplicateResult:
    """For each row of the frame: the ID it duplicates ("" if none) and why."""

    duplicate_of: pd.Series
    reason: pd.Series
    groups: int

    def status(self) -> pd.Series:
        """The 重复客户 cell: "C000012 同手机号", or "" for an original or a single record."""
        return (self.duplicate_of + " " + self.reason).str.strip()


def find_duplicates(typed: pd.DataFrame, ids: pd.Series, sheet: SheetConfig,
                    *, order_by: str | None = "first_contact",
                    distinct: set[tuple[str, str]] | None = None) -> DuplicateResult:  # fmt: skip
    """Return the duplicate marks for one sheet's typed frame (rows in any order).

    `distinct` holds pairs of IDs (sorted) that people confirmed are not duplicates: they are never
    joined directly (a third record matching both can still bring them into one group)."""
    index = typed.index
    empty = pd.Series("", index=index, dtype=object)
    if sheet.dedupe is None or len(typed) < 2:
        return DuplicateResult(empty, empty.copy(), 0)
    roots, reason = _clusters(typed, sheet, ids.to_numpy(dtype=object), distinct or set())
    n = len(typed)
    sizes = np.bincount(roots, minlength=n)
    in_group = sizes[roots] > 1
    duplicate_of = np.full(n, "", dtype=object)
    why = np.full(n, "", dtype=object)
    if in_group.any():
        original = _originals(typed, ids, roots, in_group, order_by)
        id_values = ids.to_numpy(dtype=object)
        for i in np.flatnonzero(in_group):
            rid = original[roots[i]]
            if rid != id_values[i]:
                duplicate_of[i] = rid
                why[i] = reason[i]
    return DuplicateResult(
        pd.Series(duplicate_of, index=index, dtype=object),
        pd.Series(why, index=index, dtype=object),
        int((sizes > 1).sum()),
    )


def match_existing(new: pd.DataFrame, existing: pd.DataFrame, existing_ids: pd.Series,
                   sheet: SheetConfig, *, order_by: str | None = "first_contact") -> pd.DataFrame:  # fmt: skip
    """Return, for each row of `new`, the existing record it duplicates ("" if none) and why, plus
    the new rows it duplicates among themselves (the first of them is kept). For import."""
    both = pd.concat([existing, new], ignore_index=True)
    ids = pd.Series(list(existing_ids) + [f"\x00new{i}" for i in range(len(new))], dtype=object)
    roots, reason = _clusters(both, sheet, ids.to_numpy(dtype=object), set())
    n_old = len(existing)
    sizes = np.bincount(roots, minlength=len(both))
    old_roots = {}
    id_values = ids.to_numpy(dtype=object)
    frame = pd.DataFrame({"root": roots[:n_old], "id": id_values[:n_old]})
    if n_old:
        frame["first"] = _first_values(existing, order_by)
        for root, group in frame.sort_values(["first", "id"], kind="stable").groupby("root"):
            old_roots[root] = group["id"].iloc[0]
    matched, why, same_as = [], [], []
    first_new: dict[int, int] = {}
    for j in range(len(new)):
        i = n_old + j
        root = roots[i]
        if root in old_roots:
            matched.append(old_roots[root])
            why.append(reason[i])
            same_as.append(-1)
        elif sizes[root] > 1 and root in first_new:
            matched.append("")
            why.append(reason[i])
            same_as.append(first_new[root])
        else:
            first_new.setdefault(root, j)
            matched.append("")
            why.append("")
            same_as.append(-1)
    return pd.DataFrame(
        {"existing_id": matched, "reason": why, "same_as_new": same_as}, index=new.index
    )


def _first_values(typed: pd.DataFrame, order_by: str | None) -> list[Any]:
    if not order_by or order_by not in typed:
        return [0] * len(typed)
    latest = date.max
    return [d if isinstance(d, date) else latest for d in typed[order_by].to_numpy(dtype=object)]


def _originals(typed: pd.DataFrame, ids: pd.Series, roots: np.ndarray, in_group: np.ndarray,
               order_by: str | None) -> dict[int, str]:  # fmt: skip
    """The original of each cluster: the oldest record, then the lowest ID (a row without an ID
    never: it cannot be pointed at)."""
    id_values = ids.to_numpy(dtype=object)
    frame = pd.DataFrame({"root": roots, "id": id_values, "blank": id_values == "",
                          "first": _first_values(typed, order_by)})  # fmt: skip
    grouped = frame[in_group].sort_values(["blank", "first", "id"], kind="stable")
    return grouped.groupby("root")["id"].first().to_dict()


def _clusters(typed: pd.DataFrame, sheet: SheetConfig, ids: np.ndarray,
              distinct: set[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Return each row's cluster (the lowest position in it) and why it joined (union-find)."""
    config = sheet.dedupe
    assert config is not None
    n = len(typed)
    parent = list(range(n))  # a list: union-find touches single items, slow on a numpy array
    reason = np.full(n, "", dtype=object)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int, why: str) -> None:
        if distinct and tuple(sorted((str(ids[a]), str(ids[b])))) in distinct:
            return  # a person confirmed these two are different
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            for x in (a, b):
                if not reason[x]:
                    reason[x] = why

    # exact keys: every record with the same value joins the next one with it
    for key in config.exact:
        if key not in typed:
            continue
        values = typed[key].astype(object)
        present = values.notna() & (values.astype(str) != "")
        why = _REASONS.get(sheet.field(key).type, f"同{sheet.field(key).label}")
        codes = pd.factorize(values[present])[0]
        positions = np.flatnonzero(present.to_numpy())
        order = np.argsort(codes, kind="stable")
        codes, positions = codes[order], positions[order]
        for i in np.flatnonzero(codes[1:] == codes[:-1]):
            union(int(positions[i]), int(positions[i + 1]), why)

    # fuzzy fields: neighbours in two sorted orders, weighted similarity
    fuzzy = [m for m in config.fuzzy if m.field in typed]
    if fuzzy:
        # the first fuzzy field is the name: regions and legal forms go; the others only lose
        # width, case and punctuation. Each key is computed once per distinct value.
        name_key = NameKey(config)
        keys = {m.field: _keys(typed[m.field], name_key if i == 0 else _plain_key)
                for i, m in enumerate(fuzzy)}  # fmt: skip
        main = keys[fuzzy[0].field]
        empty = {f: k == "" for f, k in keys.items()}  # once, not once per window step
        total = sum(m.weight for m in fuzzy)
        has_main = ~empty[fuzzy[0].field]
        for sort_key in (main, np.array([k[::-1] for k in main], dtype=object)):
            order = np.argsort(sort_key, kind="stable")
            order = order[has_main[order]]
            for k in range(1, config.window + 1):
                a, b = order[:-k], order[k:]
                if not len(a):
                    break
                score = np.zeros(len(a))
                for m in fuzzy:
                    field_keys, blank = keys[m.field], empty[m.field]
                    similar = _similarity(field_keys[a], field_keys[b])
                    similar[blank[a] | blank[b]] = 0.0  # empty never matches
                    score += m.weight * similar
                score /= total
                for i in np.flatnonzero(score >= config.threshold):
                    union(int(a[i]), int(b[i]), f"名称相似 {score[i]:.2f}")
    roots = np.array(parent, dtype=np.int64)
    while not np.array_equal(jumped := roots[roots], roots):  # pointer jumping: log(depth) passes
        roots = jumped
    return roots, reason


def _plain_key(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _PUNCT.sub("", clean(str(value)).lower())


def _keys(values: pd.Series, key: Any) -> np.ndarray:
    """The match key of every value, computed once per distinct value (None, NaN: key(None))."""
    return map_distinct(values, key).to_numpy(dtype=object)


def _similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return element-wise similarity (0-1) of two aligned arrays of keys (the caller zeroes the
    pairs with an empty key: two empty keys are "equal" to rapidfuzz)."""
    return process.cpdist(a.tolist(), b.tolist(), scorer=fuzz.ratio, workers=-1) / 100.0


def match_data(typed: pd.DataFrame, sheet: SheetConfig, row: Any) -> dict[str, Any]:
    """The values of one record that matching looks at (what a decision's fingerprint covers)."""
    config = sheet.dedupe
    assert config is not None
    keys = list(config.exact) + [m.field for m in config.fuzzy]
    return {k: display(typed.at[row, k]) for k in keys if k in typed}


def pair_fingerprint(typed: pd.DataFrame, sheet: SheetConfig, a: Any, b: Any) -> str:
    """What a decision about rows `a` and `b` was made on: their match data (an edit asks again)."""
    return pair_hash(match_data(typed, sheet, a), match_data(typed, sheet, b))


def decide_duplicates(sheet: SheetConfig, typed: dict[str, pd.DataFrame], ids: pd.Series,
                      store: Store | None, reviewed: Sequence[tuple[str, str, str, str]] = (),
                      ) -> tuple[DuplicateResult, list[Decision]]:  # fmt: skip
    """How a duplicate is decided, all of it: the matches in `sheet` (typed rows, record IDs), less
    the pairs people said are different customers (in the store, or new in the decisions sheet
    `typed[sheet.dedupe.decisions_sheet]`, or a 判定 in a review workbook: `reviewed`, as
    (record ID, other ID, decision, the pair's fingerprint when the workbook was made)). Returns
    the duplicates and the new decisions to record.

    A decision holds while both records' match data is what it was when it was made: an edit of
    either record asks again."""
    assert sheet.dedupe is not None
    rows_typed = typed[sheet.key]
    rows = {rid: row for row, rid in ids.items() if rid}

    def fingerprint(a: str, b: str) -> str | None:
        if a not in rows or b not in rows:
            return None
        return pair_fingerprint(rows_typed, sheet, rows[a], rows[b])

    distinct: set[tuple[str, str]] = set()
    if store is not None:
        for (a, b), stored in store.not_duplicates(sheet.key).items():
            if fingerprint(a, b) == stored:
                distinct.add((a, b))
    fresh: list[Decision] = []
    source_key = sheet.dedupe.decisions_sheet
    said: list[tuple[Any, Any, Any, Any, str | None]] = [
        (rec, other, value, "", seen) for rec, other, value, seen in reviewed
    ]
    if source_key and source_key in typed:
        d = typed[source_key]
        said += [(*x, None) for x in zip(d["record_id"], d["other_id"], d["decision"],
                                         d["by"] if "by" in d else [""] * len(d), strict=True)]  # fmt: skip
    for rec, other, value, by, seen in said:
        if value not in NOT_A_DUPLICATE or not rec or not other:
            continue
        a, b = sorted((str(rec), str(other)))
        h = fingerprint(a, b)
        if h is None or (seen is not None and (seen != h or (a, b) in distinct)):
            continue  # a review workbook's pair: as it was reviewed, and not already remembered
        distinct.add((a, b))
        fresh.append(Decision(sheet.key, a, b, h, str(by or "")))
    return find_duplicates(rows_typed, ids, sheet, distinct=distinct), fresh
