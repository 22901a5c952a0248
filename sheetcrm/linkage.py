"""Probabilistic record linkage (Fellegi–Sunter) with splink on an in-process DuckDB.

Which pairs of records are probably the same customer, how sure (a match probability), and which
fields agreed. Each field of [sheets.dedupe] fields is compared at levels (for a name: exact,
contained, close, similar, different; an address in another city is different; a missing value is
neutral), each level weighing log2(m/u): m, how often two records of one customer land on it, is a
prior (below, set by hand for records typed again); u, how often two unrelated records do, is
counted on the sheet itself (exact levels) or sampled from random pairs of it (the others), and
exact names and persons are weighed by how common the value is (two 王芳 agree less than two 欧阳靖). A different phone, e-mail or credit code
counts against. Pairs are only scored where a blocking rule puts them side by side (same name, same
address, same first characters of name and address, same person with the same start of the name),
so the cost follows the rows and the size of those blocks, not the square of the rows.

Small sheets (below LEARN_FROM rows) cannot tell what is common: they use the priors for u and no
term frequencies, so a sheet that grows past LEARN_FROM rows may see a few marks change that night.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .changes import row_hashes
from .config import MatchKind

CITY = ".city"  # keys' column beside an address field: the cities it names, "|"-joined (or None)
EXACT_KINDS = {MatchKind.phone, MatchKind.exact}  # an equal value alone is the same record
MIN_PAIRS = 10_000  # the prior's denominator at least: a 3-row sheet is not a third duplicates
LEARN_FROM = 1_000  # rows from which u and term frequencies are learned from the sheet
U_SAMPLE_PAIRS = 1_000_000  # random pairs sampled for u (splink's max_pairs)
_NAME_CONTAINED_MIN = 4  # a name contained in another counts only from this length (王芳 ⊂ 王芳芳)


@dataclass(frozen=True)
class _Level:
    label: str
    sql: str | None  # None: the exact level (term-frequency adjusted where learned)
    m: float
    u: float


# m: how often a customer's two records fall on the level: set by hand for records typed again by
# another rep (the demo plants them: benchmarks/dedupe_quality.py measures the result), not trained.
# u: how often two different customers do; the priors here serve sheets below LEARN_FROM rows,
# larger ones count it (exact levels) or sample random pairs (the others).
_LEVELS: dict[MatchKind, list[_Level]] = {
    MatchKind.name: [
        _Level("exact", None, 0.62, 1e-3),  # a mix of company names and people's (王芳)
        _Level("contained", "{contained}", 0.18, 2e-3),  # never more than an exact name
        _Level("close", "jaro_winkler_similarity({l}, {r}) >= 0.92", 0.12, 1e-3),
        _Level("similar", "jaro_winkler_similarity({l}, {r}) >= 0.8", 0.05, 2e-2),
    ],
    MatchKind.person: [
        _Level("exact", None, 0.75, 2e-3),
        _Level("close", "jaro_winkler_similarity({l}, {r}) >= 0.9", 0.05, 4e-3),
    ],
    MatchKind.address: [
        # no level counts for a match when both addresses name cities and none is the same (天津市
        # 陆街915号 and 巢湖市陆街915号): such a pair is "different"
        _Level("exact", None, 0.58, 1e-4),
        _Level("contained", "{contained} and {digits}", 0.22, 3e-4),
        # a typo in the street, the same numbers (中山路12号 and 中山路38号 are two addresses, and
        # so are 胡街616号 and 周街616号: the words are compared without the numbers)
        _Level("close", "{digits} and jaro_winkler_similarity({words}) >= 0.85", 0.15, 1e-3),
        # different (0.05): a customer who moved; two namesakes in different streets are two people
    ],
    MatchKind.phone: [_Level("exact", None, 0.6, 1e-6)],
    MatchKind.exact: [_Level("exact", None, 0.8, 1e-6)],
}
_TERM_FREQUENCY = {MatchKind.name, MatchKind.person}


MODEL = "1"  # change it with the levels or priors: a night's kept matches are then scored again


@dataclass
class Matches:
    """Scored pairs (positions in the frame), each with its probability and the fields that agreed."""

    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray
    agreed: list[tuple[str, ...]]


def kept_matches(keys: pd.DataFrame, kinds: Mapping[str, MatchKind], threshold: float,
                 kept: str | None) -> tuple[Matches, str]:  # fmt: skip
    """`probable_matches`, or the matches `kept` from a night whose match keys were these very
    ones (a later night on unchanged records scores nothing: at a million rows that is 45 s);
    returns them with what to keep for the next night (JSON: the keys' fingerprint and the pairs)."""
    digest = hashlib.sha256(
        f"{MODEL}|{threshold}|{sorted(kinds.items())}|{list(keys.columns)}".encode()
    )
    digest.update(row_hashes(keys).tobytes())
    fingerprint = digest.hexdigest()
    if kept:
        try:
            saved = json.loads(kept)
            if saved.get("fingerprint") == fingerprint:
                found = Matches(np.asarray(saved["left"], dtype=np.int64),
                                np.asarray(saved["right"], dtype=np.int64),
                                np.asarray(saved["probability"], dtype=float),
                                [tuple(a) for a in saved["agreed"]])  # fmt: skip
                return found, kept
        except (ValueError, KeyError, TypeError):
            pass  # unreadable: score again
    found = probable_matches(keys, kinds, threshold)
    saved_text = json.dumps({"fingerprint": fingerprint, "left": found.left.tolist(),
                             "right": found.right.tolist(),
                             "probability": found.probability.round(6).tolist(),
                             "agreed": [list(a) for a in found.agreed]},
                            ensure_ascii=False, separators=(",", ":"))  # fmt: skip
    return found, saved_text


def probable_matches(keys: pd.DataFrame, kinds: Mapping[str, MatchKind], threshold: float,
                     ) -> Matches:  # fmt: skip
    """Return the pairs of rows of `keys` (normalised match keys, None where empty, one column per
    field of `kinds`, and beside an address field `<field>.city`, the cities it names) that are the
    same record with at least `threshold` probability."""
    n = len(keys)
    fields = [f for f in kinds if f in keys]
    none = Matches(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), [])
    if n < 2 or not any(kinds[f] not in EXACT_KINDS for f in fields):
        return none
    import duckdb
    from splink import DuckDBAPI, Linker

    # text columns, also where every value is missing (DuckDB would type them NULL)
    frame = pd.DataFrame({f"f{i}": keys[f].astype("string") for i, f in enumerate(fields)})
    for i, f in enumerate(fields):
        if kinds[f] == MatchKind.address:
            city = keys[f + CITY] if f + CITY in keys else pd.Series(None, index=keys.index)
            frame[f"f{i}c"] = city.astype("string").to_numpy()  # Linker needs no other columns
    frame.index = range(n)
    frame.insert(0, "unique_id", np.arange(n, dtype=np.int64))
    # from LEARN_FROM rows the sheet tells how common each value is (once per column)
    counts = {i: frame[f"f{i}"].value_counts(dropna=True) for i in range(len(fields))
              } if n >= LEARN_FROM else {}  # fmt: skip
    settings = {
        "link_type": "dedupe_only",
        "probability_two_random_records_match": _prior(frame, fields, kinds),
        "comparisons": [
            _comparison(f"f{i}", kinds[f], _sharing(counts[i]) if counts else None)
            for i, f in enumerate(fields)
        ],
        "blocking_rules_to_generate_predictions": _blocking(fields, kinds),
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,  # the per-field weights
        "unique_id_column_name": "unique_id",
    }
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    try:
        api = DuckDBAPI(connection)
        # splink's own logging stays off (its handler would write to a cron log's stderr)
        logging.getLogger("splink").setLevel(logging.ERROR)
        linker = Linker(api.register(frame), settings, log_level=None)
        if counts:
            for i, f in enumerate(fields):
                if kinds[f] in _TERM_FREQUENCY:
                    tf = _term_frequencies(counts[i], f"f{i}")
                    linker.table_management.register_term_frequency_lookup(
                        api.register(tf), f"f{i}"
                    )
            linker.training.estimate_u_using_random_sampling(
                max_pairs=U_SAMPLE_PAIRS, seed=1, min_count_per_level=None, num_chunks=1
            )  # one pass: many levels are rare by nature, waiting for 100 of each never ends
        predicted = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        found = predicted.as_pandas_dataframe()
    finally:
        connection.close()
    if found.empty:
        return none
    # a field agreed where its level weighed for the match by more than a bit (splink's weight per
    # comparison, with its term-frequency adjustment: a common name may weigh nothing)
    weights = np.column_stack([
        found[f"mw_f{i}"].to_numpy(dtype=float)
        + (found[f"mw_tf_adj_f{i}"].to_numpy(dtype=float) if f"mw_tf_adj_f{i}" in found else 0.0)
        for i in range(len(fields))
    ])  # fmt: skip
    agreed = [tuple(f for f, w in zip(fields, row, strict=True) if w > 1) for row in weights]
    return Matches(
        found["unique_id_l"].to_numpy(dtype=np.int64),
        found["unique_id_r"].to_numpy(dtype=np.int64),
        found["match_probability"].to_numpy(dtype=float),
        agreed,
    )


def _comparison(column: str, kind: MatchKind, exact_u: float | None) -> dict[str, Any]:
    """One field's comparison, as splink's settings dictionary spells it: null, levels, else.
    `exact_u`: the exact level's u counted on the sheet (kept: random pairs rarely meet an exact
    address or phone on a big sheet, and would leave the prior); None below LEARN_FROM rows,
    where the priors and no term frequencies serve."""
    left, right = f'"{column}_l"', f'"{column}_r"'
    contained = (
        f"least(length({left}), length({right})) >= {_NAME_CONTAINED_MIN} and "
        f"(contains({left}, {right}) or contains({right}, {left}))"
    )
    digits = (
        f"regexp_replace({left}, '[^0-9]', '', 'g') = regexp_replace({right}, '[^0-9]', '', 'g')"
    )
    words = f"regexp_replace({left}, '[0-9]', '', 'g'), regexp_replace({right}, '[0-9]', '', 'g')"
    city_l, city_r = f'"{column}c_l"', f'"{column}c_r"'
    another_city = (
        f"{city_l} IS NOT NULL AND {city_r} IS NOT NULL AND "
        f"NOT list_has_any(string_split({city_l}, '|'), string_split({city_r}, '|'))"
    )
    levels: list[dict[str, Any]] = [
        {"sql_condition": f"{left} IS NULL OR {right} IS NULL", "label_for_charts": "missing",
         "is_null_level": True},
    ]  # fmt: skip
    same_city = f" and not ({another_city})" if kind == MatchKind.address else ""
    for level in _LEVELS[kind]:
        if level.sql is None:
            sql = f"{left} = {right}"
        else:
            sql = level.sql.format(l=left, r=right, contained=contained, digits=digits, words=words)
        entry = {"sql_condition": sql + same_city, "label_for_charts": level.label,
                 "m_probability": level.m, "u_probability": level.u}  # fmt: skip
        if level.sql is None and exact_u is not None:
            entry |= {"u_probability": exact_u, "fix_u_probability": True}
            if kind in _TERM_FREQUENCY:
                entry |= {"tf_adjustment_column": column, "tf_adjustment_weight": 1.0}
        levels.append(entry)
    rest_m = 1.0 - sum(level.m for level in _LEVELS[kind])
    rest_u = 1.0 - sum(level.u for level in _LEVELS[kind])
    levels.append({"sql_condition": "ELSE", "label_for_charts": "different",
                   "m_probability": rest_m, "u_probability": rest_u})  # fmt: skip
    return {"output_column_name": column, "comparison_levels": levels}


def _blocking(fields: Sequence[str], kinds: Mapping[str, MatchKind]) -> list[str]:
    """Which pairs are scored at all: several cheap rules, each a join on equal keys."""
    col = {f: f"f{i}" for i, f in enumerate(fields)}
    names = [col[f] for f in fields if kinds[f] == MatchKind.name]
    people = [col[f] for f in fields if kinds[f] == MatchKind.person]
    places = [col[f] for f in fields if kinds[f] == MatchKind.address]
    rules = [f"l.{c} = r.{c}" for c in names + places]
    for name in names:
        for place in places:
            rules.append(f"substr(l.{name}, 1, 2) = substr(r.{name}, 1, 2) and "
                         f"substr(l.{place}, 1, 2) = substr(r.{place}, 1, 2)")  # fmt: skip
        for person in people:
            rules.append(
                f"l.{person} = r.{person} and substr(l.{name}, 1, 1) = substr(r.{name}, 1, 1)"
            )
    if not names:  # records of people: the persons' fields together
        if len(people) > 1:
            rules.append(" and ".join(f"l.{p} = r.{p}" for p in people))
        rules += [f"l.{p} = r.{p} and substr(l.{a}, 1, 2) = substr(r.{a}, 1, 2)"
                  for p in people for a in places]  # fmt: skip
    return rules or [f"l.{c} = r.{c}" for c in col.values()]


def _prior(frame: pd.DataFrame, fields: Sequence[str], kinds: Mapping[str, MatchKind]) -> float:
    """The probability that two random records are one customer, from the surest rules: records
    agreeing on every name and address, on every name and person, or on an exact key, among the
    pairs of records that have those values (a blank address column does not dilute it), taking
    the likeliest for about half the true ones; never more than one pair in MIN_PAIRS when nothing
    agrees."""
    column = {f: f"f{i}" for i, f in enumerate(fields)}

    def of(*wanted: MatchKind) -> list[str]:
        return [column[f] for f in fields if kinds[f] in wanted]

    names = of(MatchKind.name)
    rules = [names + of(MatchKind.address), names + of(MatchKind.person)] + [
        [c] for c in of(*EXACT_KINDS)
    ]
    share = 0.0
    for columns in rules:
        if not columns or columns == names:
            continue
        present = frame[columns].dropna()
        sizes = present.value_counts()
        agreeing = float((sizes * (sizes - 1) / 2).sum())
        pairs = max(len(present) * (len(present) - 1) / 2, MIN_PAIRS)
        share = max(share, agreeing / pairs)
    n = len(frame)
    return min(max(2 * share, 1 / max(n * (n - 1) / 2, MIN_PAIRS)), 0.5)


def _term_frequencies(counts: pd.Series, column: str) -> pd.DataFrame:
    """How common each value is among the *other* records ((count - 1) / (records - 1), at least
    one): splink's own table counts the pair being compared, so a name only the two records of one
    customer carry would read as twice as common as one record alone (2/n, not 1/n). `counts`:
    the column's value_counts."""
    k = max(int(counts.sum()) - 1, 1)
    frequency = (counts.clip(lower=2) - 1) / k
    return pd.DataFrame({column: counts.index.astype(str), f"tf_{column}": frequency.to_numpy()})


def _sharing(counts: pd.Series) -> float:
    """How often two records with a value have the same one (an exact level's u, from the sheet;
    `counts`: the column's value_counts)."""
    c = counts.to_numpy(dtype=float)
    k = c.sum()
    if k < 2:
        return 1e-6
    return max(float((c * (c - 1)).sum() / (k * (k - 1))), 1e-9)


def percent(probability: float) -> int:
    """How sure, as people read it: 0.987 is 98 (never rounded up to a certainty)."""
    return min(99, math.floor(probability * 100))
