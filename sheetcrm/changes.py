"""Change detection: this run's rows against the last snapshot, as events.

A spreadsheet forgets: when 王明 moves a customer from 意向客户 to 商务谈判, the sheet keeps only the
new value. Each run compares every row with the snapshot the store kept from the last run and emits
events: created, changed (field, old → new), stage (from → to), missing (the row is gone), returned.

Cost is about linear and mostly vectorised: values are turned into canonical text once per column,
each row gets a 64-bit hash of its text, and only rows whose hash differs from the stored one are
loaded from the store and compared field by field (few rows, after the first night).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .table import CHANGED, CREATED, MISSING, RETURNED, STAGE, ChangeSet, Event, Snapshot
from .text import canonical_column

SEP = "\x1f"  # joins a row's values in the stored snapshot (text.clean removes it from typed text)


def canonical_frame(typed: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """The canonical text of every tracked field (a field without a column is all '')."""
    out = {}
    for key in fields:
        out[key] = (
            canonical_column(typed[key])
            if key in typed
            else pd.Series("", index=typed.index, dtype=object)
        )
    return pd.DataFrame(out, index=typed.index)


def row_hashes(canon: pd.DataFrame) -> np.ndarray:
    """A 64-bit fingerprint per row of canonical text (pandas' fixed-key hash: the same text gives
    the same number on every run), as int64 so every SQL database can store it."""
    if canon.empty:
        return np.zeros(len(canon), dtype=np.int64)
    return pd.util.hash_pandas_object(canon, index=False).to_numpy().view(np.int64)


def split_row(data: str, fields: list[str], stored_fields: list[str]) -> dict[str, str]:
    """A stored row back as {field: text}; fields added to config since then read as ''."""
    parts = data.split(SEP)
    stored = dict(zip(stored_fields, parts, strict=False))
    return {k: stored.get(k, "") for k in fields}


def detect_changes(sheet: str, typed: pd.DataFrame, ids: pd.Series, fields: list[str],
                   snapshot: Snapshot, *, stage_field: str | None = None) -> ChangeSet:  # fmt: skip
    """Compare a sheet's typed rows (keyed by record ID in `ids`, '' = no ID yet) with its snapshot.

    Rows without an ID are skipped until they get one; a repeated ID is tracked by its first row."""
    result = ChangeSet(sheet, fields, first_run=snapshot.hashes.empty)
    has_id = (ids != "") & ~ids.duplicated()
    rows = ids.index[has_id.to_numpy()]
    canon = canonical_frame(typed.loc[rows], fields)
    hashes = pd.Series(row_hashes(canon), index=ids[rows].to_numpy())
    row_of = pd.Series(rows, index=ids[rows].to_numpy())

    known = hashes.index.isin(snapshot.hashes.index)
    old_hash = snapshot.hashes.reindex(hashes.index)
    was_missing = snapshot.missing.reindex(hashes.index, fill_value=False).astype(bool)
    same_layout = snapshot.fields == fields
    differs = ~known | (old_hash.to_numpy() != hashes.to_numpy()) | (not same_layout)
    write = differs | was_missing.to_numpy()  # returned rows clear their missing flag
    texts = _texts(canon.loc[row_of[hashes.index[write]].to_numpy()])

    result.events = [Event(sheet, rid, CREATED) for rid in hashes.index[~known].tolist()]
    for rid in hashes.index[known & was_missing.to_numpy()]:
        result.events.append(Event(sheet, rid, RETURNED))
    changed_ids = list(hashes.index[known & differs])
    stored = snapshot.load(changed_ids) if changed_ids else {}
    previous_rows: dict[int, dict[str, str]] = {}
    for rid in changed_ids:
        old = split_row(stored[rid], fields, snapshot.fields) if rid in stored else {}
        row = int(row_of[rid])
        new = dict(zip(fields, canon.loc[row].tolist(), strict=True))
        previous_rows[row] = old
        for key in fields:
            if old.get(key, "") != new[key]:
                kind = STAGE if key == stage_field else CHANGED
                result.events.append(Event(sheet, rid, kind, key, old.get(key, ""), new[key]))
    result.upserts = dict(zip(hashes.index[write].tolist(), zip(hashes.to_numpy()[write].tolist(), texts, strict=True),
                              strict=True))  # fmt: skip
    gone = snapshot.hashes.index[~snapshot.hashes.index.isin(hashes.index)]
    for rid in gone[~snapshot.missing.reindex(gone, fill_value=False).to_numpy(dtype=bool)]:
        result.events.append(Event(sheet, rid, MISSING))
        result.missing.append(rid)
    result.previous = pd.DataFrame.from_dict(previous_rows, orient="index", columns=fields) \
        if previous_rows else pd.DataFrame(columns=fields)  # fmt: skip
    if not result.first_run:
        result.existed = pd.Series(ids.isin(snapshot.hashes.index[~snapshot.missing.to_numpy(dtype=bool)]).to_numpy(),
                                   index=ids.index)  # fmt: skip
    return result


def _texts(canon: pd.DataFrame) -> list[str]:
    """Each row's values joined with SEP (one str.join per row: ~1 µs)."""
    if not len(canon.columns):  # a sheet whose only field is its ID: nothing else to remember
        return [""] * len(canon)
    return [
        SEP.join(values) for values in zip(*(canon[c].tolist() for c in canon.columns), strict=True)
    ]


def refresh_snapshot(
    change: ChangeSet, typed: pd.DataFrame, ids: pd.Series, record_ids: list[str]
) -> None:
    """Store these records as they will be after this run's own writes (a rule assigned an owner),
    so the next run does not see the tool's writes as people's changes."""
    wanted = set(record_ids)
    first = ~ids.duplicated()  # a repeated ID is tracked by its first row, as in detect_changes
    rows = [row for row, rid in ids[first].items() if rid in wanted]
    if not rows:
        return
    canon = canonical_frame(typed.loc[rows], change.fields)
    hashes = row_hashes(canon).tolist()
    for rid, h, text in zip(ids[rows].tolist(), hashes, _texts(canon), strict=True):
        change.upserts[rid] = (h, text)


def as_first_seen(change: ChangeSet, earlier: list[Event], baseline: bool, typed: pd.DataFrame,
                  ids: pd.Series) -> ChangeSet:  # fmt: skip
    """For a run again at the time of an earlier run: what changed as that run saw it (its events,
    `earlier`), merged with what changed since, so every rule that asks what changed (changed(),
    changed_to(), is_new(), stage moves) answers the same both times. `baseline`: the earlier run
    was the first night, where nothing is new. Only for evaluating rules: the events recorded are
    still `change`'s."""
    seen = {(e.record_id, e.kind, e.field) for e in change.events}
    replayed = [e for e in earlier if (e.record_id, e.kind, e.field) not in seen]
    out = ChangeSet(change.sheet, change.fields, events=change.events + replayed,
                    first_run=change.first_run, previous=change.previous)  # fmt: skip
    if baseline:  # nothing was new then; rows added since are new now
        out.existed = change.existed
        return out
    born = {e.record_id for e in earlier if e.kind in (CREATED, RETURNED)}
    existed = change.existed if change.existed is not None else pd.Series(True, index=ids.index)
    out.existed = existed & ~ids.isin(born)
    first_row = ids[(ids != "") & ~ids.duplicated()]
    row_of = dict(zip(first_row.tolist(), first_row.index.tolist(), strict=True))
    olds: dict[int, dict[str, str]] = {}
    for e in replayed:
        row = row_of.get(e.record_id)
        if e.kind in (CHANGED, STAGE) and e.field and row is not None:
            olds.setdefault(row, {})[e.field] = e.old or ""
    if olds:
        previous = change.previous.copy()
        fresh = [row for row in sorted(olds) if row not in previous.index]
        if fresh:  # rows this run saw unchanged: their text now, then the old values
            before = canonical_frame(typed.loc[fresh], change.fields)
            previous = pd.concat([previous, before]) if len(previous) else before
        for row, fields in olds.items():  # edited again since: the value before the first run
            for f, old in fields.items():
                if f in previous:
                    previous.at[row, f] = old
        out.previous = previous
    return out
