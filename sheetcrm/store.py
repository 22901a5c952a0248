"""The tool's memory: what a spreadsheet cannot remember. SQLite by default, any SQLAlchemy URL.

This first part holds runs and people's decisions (a pair of records confirmed "not a duplicate").
A decision keeps a fingerprint of both records' match data: it is respected while that data is
unchanged, so a pair confirmed distinct is not flagged again unless someone edits one of them.
The rules-engine issue adds snapshots, events and sent notifications to the same metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(64), nullable=False),
    Column("started", DateTime, nullable=False),
    Column("finished", DateTime),
    Column("outcome", String(32)),
    Column("counts", Text),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sheet", String(64), nullable=False),
    Column("kind", String(32), nullable=False),  # "not_duplicate"
    Column("a_id", String(64), nullable=False),  # the pair, a_id < b_id
    Column("b_id", String(64), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("decided_by", String(128)),
    Column("recorded_at", DateTime, nullable=False),
    UniqueConstraint("sheet", "kind", "a_id", "b_id"),
)


@dataclass(frozen=True)
class Decision:
    sheet: str
    a_id: str
    b_id: str
    data_hash: str
    decided_by: str = ""


def pair_hash(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A fingerprint of two records' match data (order-independent)."""
    parts = sorted(json.dumps(x, sort_keys=True, ensure_ascii=False, default=str) for x in (a, b))
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


class Store:
    """The state store. Tables are created on first use."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url)
        metadata.create_all(self.engine)

    def record_not_duplicate(self, decision: Decision, *, now: datetime) -> None:
        """Remember (or refresh) that two records are not duplicates, with their data's fingerprint."""
        a, b = sorted((decision.a_id, decision.b_id))
        key = (decisions.c.sheet == decision.sheet) & (decisions.c.kind == "not_duplicate") \
            & (decisions.c.a_id == a) & (decisions.c.b_id == b)  # fmt: skip
        values = {
            "data_hash": decision.data_hash,
            "decided_by": decision.decided_by,
            "recorded_at": now,
        }
        with self.engine.begin() as conn:
            if conn.execute(select(decisions.c.id).where(key)).first():
                conn.execute(update(decisions).where(key).values(**values))
            else:
                conn.execute(insert(decisions).values(sheet=decision.sheet, kind="not_duplicate",
                                                      a_id=a, b_id=b, **values))  # fmt: skip

    def not_duplicates(self, sheet: str) -> dict[tuple[str, str], str]:
        """Return {(a_id, b_id): data hash} of the pairs confirmed distinct in `sheet`."""
        query = select(decisions.c.a_id, decisions.c.b_id, decisions.c.data_hash).where(
            (decisions.c.sheet == sheet) & (decisions.c.kind == "not_duplicate")
        )
        with self.engine.connect() as conn:
            return {(a, b): h for a, b, h in conn.execute(query)}

    def start_run(self, job: str, *, now: datetime) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(insert(runs).values(job=job, started=now)).inserted_primary_key[0]
            )

    def finish_run(
        self, run_id: int, *, now: datetime, outcome: str, counts: dict[str, Any]
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                finished=now, outcome=outcome, counts=json.dumps(counts, ensure_ascii=False)))  # fmt: skip
