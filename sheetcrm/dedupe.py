"""Duplicate records: normalise, match, cluster. Marks duplicates; never merges or deletes.

Keys are normalised first: names lose width and case differences, punctuation, anything in brackets,
a leading place name and trailing legal forms, so （北京）某某有限公司, 某某（北京）公司 and 北京某某有限责任公司
share one key; addresses lose province, city and district prefixes and floor/room suffixes; phones,
e-mails and credit codes arrive already normalised by the check (E.164, lower case).

[sheets.dedupe] fields says how each field identifies a record:
- exact and phone fields: records with the same non-empty value are the same record (同手机号);
- every field, also those: evidence in a probabilistic linkage (sheetcrm/linkage.py, splink), which
  says how sure it is that two records are one customer and which fields agreed.

Matches are joined into clusters (union-find). In each cluster the oldest record (first contact, then
lowest ID) is the original; every other member points to it with a short reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .config import DedupeConfig, FieldType, MatchKind, SheetConfig
from .linkage import CITY, EXACT_KINDS, kept_matches, percent
from .messages import LOCALES, enumeration_separator, text
from .store import DUPLICATE, NOT_DUPLICATE, Decision, Store, pair_hash
from .text import clean, display, map_distinct

# the 判定 people choose in the decisions sheet, in any locale's words
NOT_A_DUPLICATE = {text(locale, "dedupe.not_a_duplicate") for locale in LOCALES}
A_DUPLICATE = {text(locale, "dedupe.a_duplicate") for locale in LOCALES}

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
_BRACKETED = re.compile(r"[(\[【〔][^)\]】〕]*[)\]】〕]")  # after NFKC: （ is (
# 广东省, 广西壮族自治区, 深圳市, 昆山市, 南山区: the administrative units an address may or may not
# start with (not 华联超市 or 中山路菜市, not 阳光小区 or 科技园区; 海门市 and 厦门市 are cities)
_ADMIN_PREFIX = re.compile(
    r"^(?:[^省市]{2,7}?(?:省|自治区)|[^省市区县路街道号]{2,9}?(?:自治州|盟市|州市|(?<![超菜])市|地区|盟))"
    r"(?![街路道巷])"  # 兴安盟街, 南京路: a street named after a place is a street
)
_DISTRICT_PREFIX = re.compile(r"^[^省市区县路街道号]{1,4}?(?:(?<![小社园校景营厂])区|县)")
# 3楼301室, 12F: where in the building, which the same customer writes or leaves out (a building
# stays: 12号楼, 5栋, B座, 2单元 are other addresses)
_ROOM_SUFFIX = re.compile(r"(?:[\d一二三四五六七八九十a-z]+(?:楼|层|f|室|房))+$")
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
        text = clean(str(value)).lower()
        # 星辰科技（北京）有限公司: the region in brackets, anywhere (unless the name is all brackets)
        bare = _BRACKETED.sub("", text)
        text = _PUNCT.sub("", bare if _PUNCT.sub("", bare) else text)
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


class AddressKey:
    """Turns an address into its match key: 广东省深圳市南山区科技园1号3楼301室 and 南山区科技园1号
    and 深圳市科技园1号 share 科技园1号."""

    def __call__(self, value: Any) -> str:
        return self.split(value)[1]

    def split(self, value: Any) -> tuple[str, str]:
        """(the cities it names, "|"-joined ("" for none: 苏州市昆山市 names both); the key)."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "", ""
        text = _PUNCT.sub("", clean(str(value)).lower())
        cities = []
        for _ in range(3):  # a province, a city, a county-level city
            unit = _ADMIN_PREFIX.match(text) if len(text) > 6 else None
            if not unit:
                break
            text = text[unit.end() :]
            name = unit.group()
            if not name.endswith(("省", "自治区")):  # 兴安盟市 and 兴安盟 are one city
                cities.append(name[:-1] if name.endswith("市") else name)
        city = "|".join(cities)
        rest = _DISTRICT_PREFIX.sub("", text, count=1)
        if len(rest) >= 5:  # 工业园区8号 keeps its 园区
            text = rest
        rest = _ROOM_SUFFIX.sub("", text)
        return city, rest if len(rest) >= 3 else text


@dataclass
class DuplicateResult:
    """For each row of the frame: the ID it duplicates ("" if none) and why."""

    duplicate_of: pd.Series
    reason: pd.Series
    groups: int
    kept: str = ""  # the linkage's matches, for the next night (linkage.kept_matches)

    def status(self) -> pd.Series:
        """The 重复客户 cell: "C000012 同手机号", or "" for an original or a single record."""
        return (self.duplicate_of + " " + self.reason).str.strip()


def find_duplicates(typed: pd.DataFrame, ids: pd.Series, sheet: SheetConfig,
                    *, order_by: str | None = "first_contact",
                    distinct: set[tuple[str, str]] | None = None,
                    same: set[tuple[str, str]] | None = None,
                    kept: str | None = None) -> DuplicateResult:  # fmt: skip
    """Return the duplicate marks for one sheet's typed frame (rows in any order).

    `distinct` holds pairs of IDs (sorted) that people confirmed are not duplicates: they are never
    joined directly (a third record matching both can still bring them into one group). `same`
    holds pairs people confirmed are one customer: joined whatever the evidence says. `kept`: the
    linkage's matches kept from the last night (`DuplicateResult.kept` of that night)."""
    index = typed.index
    empty = pd.Series("", index=index, dtype=object)
    if sheet.dedupe is None or len(typed) < 2:
        return DuplicateResult(empty, empty.copy(), 0)
    roots, reason, kept = _clusters(
        typed, sheet, ids.to_numpy(dtype=object), distinct or set(), same, kept
    )
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
        kept,
    )


def match_existing(new: pd.DataFrame, existing: pd.DataFrame, existing_ids: pd.Series,
                   sheet: SheetConfig, *, order_by: str | None = "first_contact") -> pd.DataFrame:  # fmt: skip
    """Return, for each row of `new`, the existing record it duplicates ("" if none) and why, plus
    the new rows it duplicates among themselves (the first of them is kept). For import."""
    both = pd.concat([existing, new], ignore_index=True)
    ids = pd.Series(list(existing_ids) + [f"\x00new{i}" for i in range(len(new))], dtype=object)
    roots, reason, _ = _clusters(both, sheet, ids.to_numpy(dtype=object), set())
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


def _clusters(typed: pd.DataFrame, sheet: SheetConfig, ids: np.ndarray, distinct: set[tuple[str, str]],
              same: set[tuple[str, str]] | None = None, kept: str | None = None,
              ) -> tuple[np.ndarray, np.ndarray, str]:  # fmt: skip
    """Return each row's cluster (the lowest position in it), why it joined (union-find), and the
    linkage's matches to keep for the next night (`kept`: last night's)."""
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

    if same:  # people's 是重复 first: their reason is the one shown
        position = {str(rid): i for i, rid in enumerate(ids) if rid}
        confirmed = text(sheet.locale, "dedupe.confirmed")
        for a, b in sorted(same):
            if a in position and b in position:
                union(position[a], position[b], confirmed)

    # exact keys: every record with the same value joins the next one with it
    for key, kind in config.fields.items():
        if kind not in EXACT_KINDS or key not in typed:
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

    # the other evidence: probabilistic linkage, strongest pairs first (their reason is kept)
    found, kept = kept_matches(match_keys(typed, sheet), config.fields, config.threshold, kept)
    labels = {f.key: f.label for f in sheet.fields}
    for k in np.argsort(-found.probability, kind="stable"):
        why = text(sheet.locale, "dedupe.probable", percent=percent(found.probability[k]),
                   fields=enumeration_separator(sheet.locale).join(labels[f] for f in found.agreed[k]))  # fmt: skip
        union(int(found.left[k]), int(found.right[k]), why)
    roots = np.array(parent, dtype=np.int64)
    while not np.array_equal(jumped := roots[roots], roots):  # pointer jumping: log(depth) passes
        roots = jumped
    return roots, reason, kept


def match_keys(typed: pd.DataFrame, sheet: SheetConfig) -> pd.DataFrame:
    """The normalised value of every field that identifies a record (None where empty): names
    without legal forms and regions, addresses without administrative prefixes and room suffixes.
    A person's name that is the record's own name (个人客户) is no second evidence: None."""
    config = sheet.dedupe
    assert config is not None
    name_key, address_key = NameKey(config), AddressKey()
    how: dict[MatchKind, Callable[[Any], str]] = {MatchKind.name: name_key}
    keys = pd.DataFrame(index=typed.index)
    for key, kind in config.fields.items():
        if key not in typed:
            continue
        if kind == MatchKind.address:  # and its city, when it names one: 天津 and 巢湖 are apart
            split = map_distinct(typed[key], address_key.split)
            keys[key] = split.str[1].replace("", None)
            keys[key + CITY] = split.str[0].replace("", None)
        else:
            keys[key] = map_distinct(typed[key], how.get(kind, _plain_key)).replace("", None)
    names = [k for k, kind in config.fields.items() if kind == MatchKind.name and k in keys]
    for key, kind in config.fields.items():
        if kind == MatchKind.person and key in keys:
            own = map_distinct(typed[key], name_key)
            for name in names:
                keys.loc[own.to_numpy() == keys[name].to_numpy(), key] = None
    return keys


def _plain_key(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _PUNCT.sub("", clean(str(value)).lower())


def match_data(typed: pd.DataFrame, sheet: SheetConfig, row: Any) -> dict[str, Any]:
    """The values of one record that matching looks at (what a decision's fingerprint covers)."""
    config = sheet.dedupe
    assert config is not None
    return {k: display(typed.at[row, k]) for k in config.fields if k in typed}


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
    same: set[tuple[str, str]] = set()
    if store is not None:
        for verdicts, kind in ((distinct, NOT_DUPLICATE), (same, DUPLICATE)):
            for (a, b), stored in store.verdicts(sheet.key, kind).items():
                if fingerprint(a, b) == stored:
                    verdicts.add((a, b))
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
        verdict = (
            NOT_DUPLICATE
            if value in NOT_A_DUPLICATE
            else DUPLICATE
            if value in A_DUPLICATE
            else None
        )
        if verdict is None or not rec or not other:
            continue
        a, b = sorted((str(rec), str(other)))
        h = fingerprint(a, b)
        mine, theirs = (distinct, same) if verdict == NOT_DUPLICATE else (same, distinct)
        if h is None or (seen is not None and (seen != h or (a, b) in mine)):
            continue  # a review workbook's pair: as it was reviewed, and not already remembered
        mine.add((a, b))
        theirs.discard((a, b))  # the latest verdict stands
        fresh.append(Decision(sheet.key, a, b, h, str(by or ""), kind=verdict))
    kept = store.get(kept_key(sheet.key)) if store is not None else None
    return find_duplicates(rows_typed, ids, sheet, distinct=distinct, same=same, kept=kept), fresh


def kept_key(sheet_key: str) -> str:
    """Where the store keeps a sheet's linkage matches between nights (a `meta` key)."""
    return f"linkage:{sheet_key}"
