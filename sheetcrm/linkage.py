"""Probabilistic record linkage (Fellegi–Sunter) with splink on an in-process DuckDB.

Which pairs of records are probably the same customer, how sure (a match probability), and which
fields agreed. Each field of [sheets.dedupe] fields is compared at levels (exact, contained, close,
far; a missing value is neutral), each level weighs log2(m/u): m, how often two records of one
customer land on it, is a prior (below, from the demo's measured variation); u, how often two
unrelated records do, is learned from random pairs of the sheet itself, and exact names and persons
are weighed by how common the value is (two 王芳 agree less than two 欧阳靖). A different phone,
e-mail or credit code counts against. Pairs are only scored where a blocking rule puts them side by
side (same name, same address, same first characters of name and address, same person with the same
start of the name), so the cost grows with the rows, not their square.

Small sheets (below LEARN_FROM rows) cannot tell what is common: they use the priors for u as well.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .config import MatchKind

CITY = ".city"  # keys' column beside an address field: the city it names (None: none named)
LEARN_FROM = 1_000  # rows from which u and term frequencies are learned from the sheet
U_SAMPLE_PAIRS = 2_000_000  # random pairs sampled for u (splink's max_pairs)
_NAME_CONTAINED_MIN = 4  # a name contained in another counts only from this length (王芳 ⊂ 王芳芳)


@dataclass(frozen=True)
class _Level:
    label: str
    sql: str | None  # None: the exact level (term-frequency adjusted where learned)
    m: float
    u: float


# m: how often a customer's two records fall on the level (from the demo's variation: one in four
# duplicates has its address shortened, blank or extended, one in five another contact person).
# u: how often two different customers do, used on small sheets (random pairs decide on larger).
_LEVELS: dict[MatchKind, list[_Level]] = {
    MatchKind.name: [
        _Level("exact", None, 0.62, 1e-3),  # a mix of company names and people's (王芳)
        _Level("contained", "{contained}", 0.18, 2e-4),
        _Level("close", "jaro_winkler_similarity({l}, {r}) >= 0.92", 0.12, 1e-3),
        _Level("similar", "jaro_winkler_similarity({l}, {r}) >= 0.8", 0.05, 2e-2),
    ],
    MatchKind.person: [
        _Level("exact", None, 0.75, 2e-3),
        _Level("close", "jaro_winkler_similarity({l}, {r}) >= 0.9", 0.05, 4e-3),
    ],
    MatchKind.address: [
        # both name a city and not the same one: a customer who moved, or two namesakes
        _Level("another city", "{city_l} <> {city_r}", 0.02, 0.9),
        _Level("exact", None, 0.58, 1e-4),
        _Level("contained", "{contained}", 0.22, 3e-4),
        # a typo in the street, the same numbers (中山路12号 and 中山路38号 are two addresses)
        _Level("close", "jaro_winkler_similarity({l}, {r}) >= 0.85 and {digits}", 0.15, 1e-3),
        # else (0.03): a customer who moved; two namesakes in different streets are two people
    ],
    MatchKind.phone: [_Level("exact", None, 0.6, 1e-6)],
    MatchKind.exact: [_Level("exact", None, 0.8, 1e-6)],
}
_TERM_FREQUENCY = {MatchKind.name, MatchKind.person}


@dataclass
class Matches:
    """Scored pairs (positions in the frame), each with its probability and the fields that agreed."""

    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray
    agreed: list[tuple[str, ...]]


def probable_matches(keys: pd.DataFrame, kinds: Mapping[str, MatchKind], threshold: float,
                     ) -> Matches:  # fmt: skip
    """Return the pairs of rows of `keys` (normalised match keys, None where empty, one column per
    field of `kinds`) that are the same record with at least `threshold` probability."""
    n = len(keys)
    fields = [f for f in kinds if f in keys]
    none = Matches(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), [])
    if n < 2 or not any(kinds[f] not in (MatchKind.phone, MatchKind.exact) for f in fields):
        return none
    import duckdb
    from splink import DuckDBAPI, Linker

    # text columns, also where every value is missing (DuckDB would type them NULL)
    frame = pd.DataFrame({f"f{i}": keys[f].astype("string") for i, f in enumerate(fields)})
    for i, f in enumerate(fields):
        if kinds[f] == MatchKind.address:
            city = keys[f + CITY] if f + CITY in keys else pd.Series(None, index=keys.index)
            frame[f"f{i}c"] = city.astype("string").to_numpy()
    frame.index = range(n)
    frame.insert(0, "unique_id", np.arange(n, dtype=np.int64))
    learn = n >= LEARN_FROM
    settings = {
        "link_type": "dedupe_only",
        "probability_two_random_records_match": _prior(frame, fields, kinds),
        "comparisons": [_comparison(f"f{i}", kinds[f], learn) for i, f in enumerate(fields)],
        "blocking_rules_to_generate_predictions": _blocking(fields, kinds),
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,  # the per-field weights
        "unique_id_column_name": "unique_id",
    }
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    try:
        api = DuckDBAPI(connection)
        linker = Linker(api.register(frame), settings, log_level=logging.WARNING)
        if learn:
            linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=1)
        predicted = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        found = predicted.as_pandas_dataframe()
    finally:
        connection.close()
    if found.empty:
        return none
    # a field agreed where its level weighed for the match (splink's per-comparison match weight)
    weights = np.column_stack([found[f"mw_f{i}"].to_numpy(dtype=float) for i in range(len(fields))])
    agreed = [tuple(f for f, w in zip(fields, row, strict=True) if w > 0) for row in weights]
    return Matches(
        found["unique_id_l"].to_numpy(dtype=np.int64),
        found["unique_id_r"].to_numpy(dtype=np.int64),
        found["match_probability"].to_numpy(dtype=float),
        agreed,
    )


def _comparison(column: str, kind: MatchKind, learn: bool) -> dict[str, Any]:
    """One field's comparison, as splink's settings dictionary spells it: null, levels, else."""
    left, right = f'"{column}_l"', f'"{column}_r"'
    contained = (
        f"least(length({left}), length({right})) >= {_NAME_CONTAINED_MIN} and "
        f"(contains({left}, {right}) or contains({right}, {left}))"
    )
    digits = (
        f"regexp_replace({left}, '[^0-9]', '', 'g') = regexp_replace({right}, '[^0-9]', '', 'g')"
    )
    levels: list[dict[str, Any]] = [
        {"sql_condition": f"{left} IS NULL OR {right} IS NULL", "label_for_charts": "missing",
         "is_null_level": True},
    ]  # fmt: skip
    for level in _LEVELS[kind]:
        if level.sql is None:
            sql = f"{left} = {right}"
        else:
            sql = level.sql.format(l=left, r=right, contained=contained, digits=digits,
                                   city_l=f'"{column}c_l"', city_r=f'"{column}c_r"')  # fmt: skip
        entry = {"sql_condition": sql, "label_for_charts": level.label,
                 "m_probability": level.m, "u_probability": level.u}  # fmt: skip
        if level.sql is None and learn and kind in _TERM_FREQUENCY:
            entry |= {"tf_adjustment_column": column, "tf_adjustment_weight": 1.0}
        levels.append(entry)
    rest = 1.0 - sum(level.m for level in _LEVELS[kind])
    levels.append({"sql_condition": "ELSE", "label_for_charts": "different",
                   "m_probability": rest, "u_probability": 1.0 - sum(x.u for x in _LEVELS[kind])})  # fmt: skip
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
    """The probability that two random records are one customer: pairs agreeing on every name and
    address (or on an exact key), over all pairs, taking those for about half the true ones."""
    n = len(frame)
    total = n * (n - 1) / 2
    strong = [
        f"f{i}" for i, f in enumerate(fields) if kinds[f] in (MatchKind.name, MatchKind.address)
    ]
    exact = [
        f"f{i}" for i, f in enumerate(fields) if kinds[f] in (MatchKind.phone, MatchKind.exact)
    ]
    agreeing = 0.0
    for columns in [strong] + [[c] for c in exact]:
        if not columns:
            continue
        sizes = frame[columns].dropna().value_counts()
        agreeing += float((sizes * (sizes - 1) / 2).sum())
    return min(max(2 * agreeing, 1.0) / total, 0.5) if total else 0.5


def percent(probability: float) -> int:
    """How sure, as people read it: 0.987 is 98 (never rounded up to a certainty)."""
    return min(99, math.floor(probability * 100))
