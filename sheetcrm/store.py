"""The tool's memory: what a spreadsheet cannot remember. SQLite by default, any SQLAlchemy URL.

Tables: runs (one row per job run, with its outcome and counts), snapshots (the last seen text of
every record, with a 64-bit hash, so the next run can tell what changed), events (what changed, for a
record's history), decisions (a pair confirmed "not a duplicate", approvals), notifications (what was
sent, so nothing is sent twice) and locks (one run of a job at a time, across processes and
machines). The schema is created on first use and migrated forward on start (see MIGRATIONS).

A decision keeps a fingerprint of both records' match data: it is respected while that data is
unchanged, so a pair confirmed distinct is not flagged again unless someone edits one of them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from .config import driver_problem
from .errors import SheetCRMError
from .output import read_only
from .processes import machine, pid_alive, process_started
from .table import ChangeSet, Event, Notification, Snapshot

SCHEMA_VERSION = 5
CHUNK = 500  # IDs per IN (...) query: well under every database's parameter limit
INSERT_BATCH = 50_000  # rows per executemany of a bulk insert
# A lock lives this long unless its holder renews it (a heartbeat every LOCK_TTL / 5 while the job
# works): a runner on another machine that died is taken over after this, one on this machine at once.
LOCK_TTL = timedelta(minutes=10)
# times match within this: SQLite keeps them as text, with or without microseconds by how inserted
HALF_SECOND = timedelta(milliseconds=500)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(64), nullable=False),
    Column("started", DateTime, nullable=False),
    Column("finished", DateTime),
    Column("outcome", String(32)),
    Column("counts", Text),
    Column(
        "plan_key", String(64), index=True
    ),  # v2: the Plan applied, so applying it twice is a no-op
    Column("warnings", Text),  # v2
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("sheet", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("row_hash", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Column("missing", Boolean, nullable=False, default=False),
    Column("updated", DateTime, nullable=False),
)

snapshot_layouts = Table(
    "snapshot_layouts",
    metadata,
    Column("sheet", String(64), primary_key=True),
    Column("fields", Text, nullable=False),  # JSON list: the order of values in snapshots.data
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("sheet", String(64), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("field", String(64)),
    Column("old", Text),
    Column("new", Text),
    Column("at", DateTime, nullable=False),
    Index("ix_events_record", "sheet", "record_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),  # what it is about: sent once
    Column("run_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("sheet", String(64)),
    Column("record_id", String(64)),
    Column("subject", Text),
    Column("payload", Text),  # JSON: text, cc, template
    Column("status", String(16), nullable=False),  # pending / sent / failed
    Column("message_id", String(200)),
    Column("created", DateTime, nullable=False),
    Column("sent_at", DateTime),
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

imports = Table(  # v3: rows brought in by `sheetcrm import`, so a second import skips them
    "imports",
    metadata,
    Column("fingerprint", String(64), primary_key=True),  # of the row's mapped values
    Column("sheet", String(64), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("source", Text),  # file and row, for the report
    Column("at", DateTime, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired", DateTime, nullable=False),
    Column("expires", DateTime, nullable=False),
)

rule_flags = (
    Table(  # v5: flags rules keep between runs (a stage moved back, an edit outside a role)
        "rule_flags",
        metadata,
        Column("sheet", String(64), primary_key=True),
        Column("record_id", String(64), primary_key=True),
        Column("kind", String(64), primary_key=True),
        Column("text", Text, nullable=False),  # "" once cleared
        Column("at", DateTime, nullable=False),
    )
)

reminded = (
    Table(  # v5: when each reminder rule last reminded about a record (what timings count from)
        "reminded",
        metadata,
        Column("sheet", String(64), primary_key=True),
        Column("rule", String(200), primary_key=True),  # escalations as "<rule>#escalation"
        Column("record_id", String(64), primary_key=True),
        Column("at", DateTime, nullable=False),
    )
)

pending_commits = Table(  # v4: a run's store commit, journalled before its workbook swap
    "pending_commits",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("job", String(64), nullable=False),
    Column("expected", String(64), nullable=False),  # fingerprint of the workbook as written
    Column("before", String(64)),  # fingerprint of the workbook as read
    Column("source", Text),  # which workbook (a check of another file leaves this one alone)
    Column("proof", Text),  # JSON: cells the write put in, to tell a swap from an edit later
    Column("payload", LargeBinary, nullable=False),  # RunCommit.encode()
    Column("created", DateTime, nullable=False),
)


@dataclass(frozen=True)
class Decision:
    """A person's decision: two records are not duplicates (a_id, b_id, fingerprint of their data),
    or an approval (a_id the record, b_id the rule, data_hash its state: pending / approved)."""

    sheet: str
    a_id: str
    b_id: str
    data_hash: str
    decided_by: str = ""
    kind: str = "not_duplicate"


NOT_DUPLICATE, DUPLICATE = "not_duplicate", "duplicate"  # a person's verdict on a pair
PAIR_VERDICTS = {NOT_DUPLICATE, DUPLICATE}


def pair_hash(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A fingerprint of two records' match data (order-independent)."""
    parts = sorted(json.dumps(x, sort_keys=True, ensure_ascii=False, default=str) for x in (a, b))
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


class RunLocked(SheetCRMError):
    """Another runner holds this job's lock."""


def runner_id() -> str:
    """Who holds a lock: host, process, the process's start time (a PID is reused) and a random
    part (two stores in one process differ)."""
    pid = os.getpid()
    return f"{machine()}:{pid}:{process_started(pid) or 0}:{uuid.uuid4().hex[:8]}"


def holder_gone(owner: str) -> bool:
    """Whether the runner named by a lock's owner is certainly gone: it ran on this machine and its
    process has ended (or its PID now belongs to a process that started later). A runner on another
    machine, or an owner in another form, is never judged gone here: its lock expires instead."""
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != machine() or not parts[1].isdigit():
        return False
    pid, started = int(parts[1]), parts[2]
    if pid == os.getpid():
        return False  # this very process (another Store in it)
    alive = pid_alive(pid)
    if alive is None:
        return False
    if not alive:
        return True
    now_started = process_started(pid)
    return now_started is not None and started != "0" and str(now_started) != started


@dataclass
class RunCommit:
    """Everything a run records in the store in one transaction: snapshots and events (changes),
    decisions, notifications, small state and the run's counts. It can wait in the store as a
    journal (encode/decode) between the workbook's swap and the commit, so a run killed in between
    is finished by the next one instead of leaving the rules' own writes to look like people's."""

    changes: list[ChangeSet] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    notes: list[Notification] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    plan_key: str | None = None

    def encode(self) -> bytes:
        """JSON, compressed; the big parts (a first night has millions of snapshots and events)
        as parallel flat lists, which json encodes several times faster than lists of lists."""
        data = {
            "changes": [{"sheet": c.sheet, "fields": c.fields,
                         "events": [list(column) for column in zip(*c.events, strict=True)]
                         if c.events else [], "upsert_ids": list(c.upserts),
                         "upserts": [list(column) for column in zip(*c.upserts.values(), strict=True)]
                         if c.upserts else [[], []],
                         "missing": list(c.missing), "first_run": c.first_run}
                        for c in self.changes],
            "decisions": [asdict(d) for d in self.decisions],
            "notes": [asdict(n) for n in self.notes],
            "state": self.state, "counts": self.counts, "plan_key": self.plan_key,
        }  # fmt: skip
        return zlib.compress(json.dumps(data, ensure_ascii=False, default=str).encode(), 1)

    @classmethod
    def decode(cls, payload: bytes) -> RunCommit:
        data = json.loads(zlib.decompress(payload))
        changes = [ChangeSet(c["sheet"], c["fields"],
                             events=[Event(*e) for e in zip(*c["events"], strict=True)],
                             upserts=dict(zip(c["upsert_ids"], zip(*c["upserts"], strict=True),
                                              strict=True)),
                             missing=c["missing"], first_run=c["first_run"])
                   for c in data["changes"]]  # fmt: skip
        notes = [Notification(**{**n, "cc": tuple(n["cc"])}) for n in data["notes"]]
        return cls(changes, [Decision(**d) for d in data["decisions"]], notes, data["state"],
                   data["counts"], data["plan_key"])  # fmt: skip


def _add_pending_columns(conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns("pending_commits")}
    for name in ("source", "proof"):
        if name not in have:
            conn.execute(text(f"ALTER TABLE pending_commits ADD COLUMN {name} TEXT"))


def _add_run_columns(conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns("runs")}
    for name, kind in (("plan_key", "VARCHAR(64)"), ("warnings", "TEXT")):
        if name not in have:
            conn.execute(text(f"ALTER TABLE runs ADD COLUMN {name} {kind}"))


# version → step that brings a store of the version before it up to it. Version 1 (the first
# release) had runs and decisions only; create_all adds whole new tables, steps add columns.
def _fill_reminded(conn: Connection) -> None:
    """v5: the reminders a v4 store queued, as the last reminder per rule and record."""
    n = notifications.c
    rows = conn.execute(select(n.key, n.kind, n.sheet, n.record_id, n.created)
                        .where(n.kind.in_(REMINDER_KINDS))).all()  # fmt: skip
    _note_reminders(conn, [(key, kind, sheet, rid, at) for key, kind, sheet, rid, at in rows])


MIGRATIONS = {2: _add_run_columns, 3: lambda conn: None, 4: lambda conn: None,  # new tables only
              5: _fill_reminded}  # fmt: skip


class Store:
    """The state store. The schema is created or migrated when it is opened."""

    def __init__(self, url: str) -> None:
        # A run is a short batch job: on a shared server it holds no idle connections between steps
        # (NullPool closes each one when its block ends); SQLite keeps SQLAlchemy's default.
        args: dict[str, Any] = {"poolclass": NullPool}
        db = sqlite_file(url)
        if url.startswith("sqlite"):
            args = {}
            args["connect_args"] = {"timeout": 30}  # wait for another writer rather than fail
            if db is not None:
                _state_folder(db.parent)
        if (problem := driver_problem(url)) is not None:
            raise SheetCRMError(f"[store] url: {problem}")
        self.engine: Engine = create_engine(url, **args)
        self.owner = runner_id()
        try:
            self._migrate()
        except OperationalError as e:
            where = f"the state store {db}" if db is not None else "the state store"
            raise SheetCRMError(f"{where} cannot be opened: {e.orig}") from None

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            metadata.create_all(conn)
            stored = None
            if "meta" in existing:
                stored = conn.execute(
                    select(meta.c.value).where(meta.c.key == "schema_version")
                ).scalar()
            if stored is not None:
                version = int(stored)
            else:
                # no version row: the first release (no meta table), a new store, or a run killed
                # while creating or upgrading the tables (SQLite commits each CREATE at once). A
                # runs table without v2's columns is the first release's
                columns = {c["name"] for c in inspect(conn).get_columns("runs")} \
                    if "runs" in existing else set()  # fmt: skip
                version = 1 if "runs" in existing and "plan_key" not in columns else SCHEMA_VERSION
                conn.execute(insert(meta).values(key="schema_version", value=str(version)))
            if version > SCHEMA_VERSION:
                raise SheetCRMError(f"the state store has schema version {version}, newer than this "
                                    f"sheetcrm understands ({SCHEMA_VERSION}); upgrade sheetcrm")  # fmt: skip
            for step in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[step](conn)
            _add_pending_columns(conn)  # a v4 store made before the journal named its workbook
            if version != SCHEMA_VERSION:
                conn.execute(update(meta).where(meta.c.key == "schema_version")
                             .values(value=str(SCHEMA_VERSION)))  # fmt: skip

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(meta.c.value).where(meta.c.key == "schema_version")
                ).scalar_one()
            )

    # -- decisions -----------------------------------------------------------------------------
    def not_duplicates(self, sheet: str) -> dict[tuple[str, str], str]:
        """Return {(a_id, b_id): data hash} of the pairs confirmed distinct in `sheet`."""
        return self.verdicts(sheet, NOT_DUPLICATE)

    def verdicts(self, sheet: str, kind: str) -> dict[tuple[str, str], str]:
        """Return {(a_id, b_id): data hash} of the pairs people gave verdict `kind` in `sheet`
        (NOT_DUPLICATE: two customers; DUPLICATE: one)."""
        query = select(decisions.c.a_id, decisions.c.b_id, decisions.c.data_hash).where(
            (decisions.c.sheet == sheet) & (decisions.c.kind == kind)
        )
        with self.engine.connect() as conn:
            return {(a, b): h for a, b, h in conn.execute(query)}

    def approvals(self, sheet: str) -> dict[tuple[str, str], tuple[str, str]]:
        """Return {(record ID, rule): (state, decided by)} of the approvals recorded in `sheet`."""
        query = select(decisions.c.a_id, decisions.c.b_id, decisions.c.data_hash, decisions.c.decided_by
                       ).where((decisions.c.sheet == sheet) & (decisions.c.kind == "approval"))  # fmt: skip
        with self.engine.connect() as conn:
            return {(a, b): (h, by or "") for a, b, h, by in conn.execute(query)}

    def flags(self, sheet: str) -> dict[tuple[str, str], str]:
        """Return {(record ID, flag kind): text} of the flags rules keep in `sheet` ("" = cleared):
        a stage moved back, an edit outside a role's rights. They live here, not in the sheet's
        text, so a person editing 规则提示 cannot change what the rules remember."""
        f = rule_flags.c
        query = select(f.record_id, f.kind, f.text).where(f.sheet == sheet)
        with self.engine.connect() as conn:
            return {(rid, kind): t or "" for rid, kind, t in conn.execute(query)}

    def get(self, key: str) -> str | None:
        """A small piece of state kept between runs (e.g. whose turn it is in a round robin)."""
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def sent_on(self, sheet: str, kind: str, day: datetime) -> dict[str, int]:
        """{person: how many notifications of `kind` about `sheet` were queued on `day`'s date}."""
        n = notifications.c
        start = datetime.combine(day.date(), datetime.min.time())
        query = (select(n.recipient, func.count()).where((n.sheet == sheet) & (n.kind == kind)
                 & (n.created >= start) & (n.created < start + timedelta(days=1))).group_by(n.recipient))  # fmt: skip
        with self.engine.connect() as conn:
            return {who: int(c) for who, c in conn.execute(query)}

    def states(self, prefix: str) -> dict[str, str]:
        """Every piece of small state whose key starts with `prefix`."""
        query = select(meta.c.key, meta.c.value).where(
            meta.c.key.startswith(prefix, autoescape=True)
        )
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(query)}

    def queue(self, run_id: int, notes: Sequence[Any], *, now: datetime) -> None:
        """Queue notifications outside a run's commit (a job's own mail); known keys are skipped."""
        with self.engine.begin() as conn:
            _add_notifications(conn, run_id, notes, now)

    def notification_keys(self, keys: Sequence[str], status: str | None = None) -> set[str]:
        """Which of these notifications exist already (any status, or only `status`)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(keys), CHUNK):
                q = select(notifications.c.key).where(
                    notifications.c.key.in_(list(keys[i : i + CHUNK]))
                )
                if status is not None:
                    q = q.where(notifications.c.status == status)
                found.update(conn.execute(q).scalars())
        return found

    def notifications(self, status: str | None = None) -> list[dict[str, Any]]:
        query = select(notifications).order_by(notifications.c.id)
        if status:
            query = query.where(notifications.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def mark_notifications(self, keys: Sequence[str], status: str, *, message_id: str | None = None,
                           sent_at: datetime | None = None) -> None:  # fmt: skip
        """Move notifications to `status` (sending → sent, or back to pending), in one transaction."""
        with self.engine.begin() as conn:
            _mark(conn, keys, {"status": status, "message_id": message_id, "sent_at": sent_at})

    # -- runs and locks ------------------------------------------------------------------------
    def start_run(self, job: str, *, now: datetime) -> int:
        with self.engine.begin() as conn:
            key = conn.execute(insert(runs).values(job=job, started=now)).inserted_primary_key
            assert key is not None  # a single-row insert always has one
            return int(key[0])

    def finish_run(
        self, run_id: int, *, now: datetime, outcome: str, counts: dict[str, Any],
        warnings: Sequence[str] = (),
    ) -> None:  # fmt: skip
        with self.engine.begin() as conn:
            _finish(conn, run_id, now, outcome, counts, warnings, None)

    def runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if job:
            query = query.where(runs.c.job == job)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def imported(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """{fingerprint: record ID} of rows an earlier import brought in."""
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(fingerprints), CHUNK):
                q = select(imports.c.fingerprint, imports.c.record_id).where(
                    imports.c.fingerprint.in_(list(fingerprints[i : i + CHUNK])))  # fmt: skip
                found.update(dict(conn.execute(q).all()))
        return found

    def record_imports(self, sheet: str, rows: Sequence[tuple[str, str, str]], *,
                       now: datetime) -> None:  # fmt: skip
        """Remember imported rows: (fingerprint, record ID, where it came from)."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(imports), [{"fingerprint": f, "sheet": sheet, "record_id": r,
                                                "source": src, "at": now} for f, r, src in rows])  # fmt: skip

    def last_run(self, job: str) -> dict[str, Any] | None:
        """The job's latest run (by its time), or None if it never ran."""
        query = select(runs).where(runs.c.job == job).order_by(runs.c.started.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            return dict(row._mapping) if row else None

    def plan_applied(self, plan_key: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(runs.c.id).where(runs.c.plan_key == plan_key)).first()
                is not None
            )

    def acquire(self, job: str, *, now: datetime, ttl: timedelta = LOCK_TTL) -> bool:
        """Take the job's lock; False when another runner holds it and is alive.

        The insert of the lock row is atomic on every database (primary key). A lock is taken over,
        with an update only one runner can win, when it expired (its holder stopped renewing it) or
        when its holder ran on this machine and its process is gone (kill -9, a power cut). Runs of
        the job that never finished are then recorded as interrupted."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(locks).values(job=job, owner=self.owner, acquired=now,
                                                  expires=now + ttl))  # fmt: skip
            self._close_interrupted(job, None, now)
            return True
        except IntegrityError:
            pass
        held = self.holder(job)
        if held is None:  # released between our insert and our look
            return self.acquire(job, now=now, ttl=ttl)
        stale = held["expires"] < now or holder_gone(held["owner"])
        if not stale:
            return False
        with self.engine.begin() as conn:
            taken = conn.execute(update(locks).where(  # as we saw it: not renewed meanwhile
                (locks.c.job == job) & (locks.c.owner == held["owner"])
                & (locks.c.expires == held["expires"]))
                .values(owner=self.owner, acquired=now, expires=now + ttl))  # fmt: skip
        if taken.rowcount != 1:
            return False
        self._close_interrupted(job, held, now)
        return True

    def _close_interrupted(self, job: str, held: dict[str, Any] | None, now: datetime) -> None:
        """Runs of `job` left without an end hold no lock now (we do): their process was stopped
        (killed, the machine went down). Record them as interrupted, with the step they were in."""
        who = f" ({held['owner'].rsplit(':', 2)[0]})" if held else ""
        with self.engine.begin() as conn:
            for run_id, counts in conn.execute(select(runs.c.id, runs.c.counts).where(
                    (runs.c.job == job) & runs.c.finished.is_(None))).all():  # fmt: skip
                done = json.loads(counts or "{}")
                step = done.get("step")
                finished = [k for k in done.get("steps", {}) if k != step]
                why = (f"interrupted: the run's process{who} stopped"
                       + (f" during the step {step!r}" if step else "")
                       + (f" after finishing {', '.join(finished)}" if finished else ""))  # fmt: skip
                _finish(conn, run_id, now, "interrupted", done, [why], None)

    def release(self, job: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(locks).where((locks.c.job == job) & (locks.c.owner == self.owner)))

    def renew(self, job: str, *, now: datetime, ttl: timedelta = LOCK_TTL) -> bool:
        """Push the lock's expiry on (the heartbeat); False if it is no longer ours."""
        with self.engine.begin() as conn:
            done = conn.execute(update(locks).where((locks.c.job == job) & (locks.c.owner == self.owner))
                                .values(expires=now + ttl))  # fmt: skip
        return done.rowcount == 1

    def active_locks(self, now: datetime) -> list[dict[str, Any]]:
        """Locks held now (not expired, holder alive): which jobs are running, and where."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(locks).where(locks.c.expires > now)).all()
        return [dict(r._mapping) for r in rows if not holder_gone(r.owner)]

    def holder(self, job: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(locks).where(locks.c.job == job)).first()
            return dict(row._mapping) if row else None

    @contextmanager
    def locked(self, job: str, *, now: datetime, ttl: timedelta = LOCK_TTL,
               clock: Callable[[], datetime] = datetime.now) -> Iterator[None]:  # fmt: skip
        """Hold the job's lock for the block, renewed every ttl/5 by a heartbeat thread (`clock` is
        the wall clock); RunLocked (naming the holder) if someone else has it."""
        if not self.acquire(job, now=now, ttl=ttl):
            h = self.holder(job) or {}
            raise RunLocked(f"job {job!r} is already running ({h.get('owner', '?')}, since "
                            f"{h.get('acquired', '?')}); this run was skipped")  # fmt: skip
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(ttl.total_seconds() / 5):
                try:
                    self.renew(job, now=clock(), ttl=ttl)
                except Exception:  # a busy database: the next beat tries again
                    continue

        heart = threading.Thread(target=beat, name=f"lock-{job}", daemon=True)
        heart.start()
        try:
            yield
        finally:
            stop.set()
            heart.join()
            self.release(job)

    def record_progress(self, run_id: int, counts: dict[str, Any]) -> None:
        """Keep a running job's counts (the step it is in, the steps done) with its run, so a run
        that is killed is recorded with what it had finished."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                counts=json.dumps(counts, ensure_ascii=False, default=str)))  # fmt: skip

    # -- the journal of a run between its workbook swap and its commit ---------------------------
    def save_pending(self, run_id: int, job: str, commit: RunCommit, *, expected: str,
                     before: str | None, source: str, proof: dict[str, Any],
                     now: datetime) -> None:  # fmt: skip
        """Journal a run's commit just before its workbook is swapped in (see RunCommit)."""
        with self.engine.begin() as conn:
            conn.execute(delete(pending_commits).where(pending_commits.c.run_id == run_id))
            conn.execute(insert(pending_commits).values(
                run_id=run_id, job=job, expected=expected, before=before, source=source,
                proof=json.dumps(proof, ensure_ascii=False), payload=commit.encode(),
                created=now))  # fmt: skip

    def pending(self) -> list[dict[str, Any]]:
        """Journalled commits of runs that stopped between their workbook swap and their commit."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(pending_commits).order_by(pending_commits.c.run_id)).all()
        return [dict(r._mapping) for r in rows]

    def finish_pending(self, pending: dict[str, Any], *, now: datetime, warning: str) -> str | None:
        """Commit a journalled run whose workbook swap happened, recording it as interrupted; None,
        or why it could not be (the journal is then dropped: it must never block later runs)."""
        try:  # its events at its own time: they are what that run saw
            self.commit(pending["run_id"], RunCommit.decode(pending["payload"]),
                        now=pending["created"] or now, outcome="interrupted",
                        warnings=[warning])  # fmt: skip
        except IntegrityError as e:  # recorded already after all
            self.drop_pending(pending["run_id"])
            return str(e.orig)
        return None

    def drop_pending(self, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(pending_commits).where(pending_commits.c.run_id == run_id))

    # -- snapshots and events ------------------------------------------------------------------
    def snapshot(self, sheet: str) -> Snapshot:
        """The last snapshot of a sheet: hashes and flags now, row text loaded on demand."""
        with self.engine.connect() as conn:
            layout = conn.execute(select(snapshot_layouts.c.fields)
                                  .where(snapshot_layouts.c.sheet == sheet)).scalar()  # fmt: skip
            rows = conn.execute(select(snapshots.c.record_id, snapshots.c.row_hash, snapshots.c.missing)
                                .where(snapshots.c.sheet == sheet)).all()  # fmt: skip
        if not rows:
            return Snapshot.empty()
        ids, hashes, missing = zip(*rows, strict=True)
        index = pd.Index(ids, dtype=object)

        def load(wanted: list[str]) -> dict[str, str]:
            out: dict[str, str] = {}
            with self.engine.connect() as conn:
                for i in range(0, len(wanted), CHUNK):
                    part = wanted[i : i + CHUNK]
                    q = select(snapshots.c.record_id, snapshots.c.data).where(
                        (snapshots.c.sheet == sheet) & snapshots.c.record_id.in_(part)
                    )
                    out.update(dict(conn.execute(q).all()))  # fmt: skip
            return out

        return Snapshot(pd.Series(np.asarray(hashes, dtype=np.int64), index=index),
                        pd.Series(np.asarray(missing, dtype=bool), index=index),
                        json.loads(layout) if layout else [], load)  # fmt: skip

    def has_records(self, sheet: str) -> bool:
        """Whether a run has seen records of this sheet that are still there (not missing)."""
        with self.engine.connect() as conn:
            return conn.execute(select(snapshots.c.record_id).where(
                (snapshots.c.sheet == sheet) & ~snapshots.c.missing).limit(1)).first() is not None  # fmt: skip

    def stage_since(
        self, sheet: str, kinds: Sequence[str] = ("stage", "created")
    ) -> dict[str, datetime]:
        """When each record last moved stage (or, with "created", was first seen)."""
        query = (select(events.c.record_id, func.max(events.c.at))
                 .where((events.c.sheet == sheet) & events.c.kind.in_(list(kinds)))
                 .group_by(events.c.record_id))  # fmt: skip
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    def last_reminders(self, sheet: str) -> dict[str, dict[str, datetime]]:
        """{rule: {record ID: when it last reminded about the record}} for `sheet`, escalations
        under "<rule>#escalation": what reminder timings count from (kept as reminders are
        queued, one row per rule and record, so this does not grow with the history)."""
        r = reminded.c
        out: dict[str, dict[str, datetime]] = {}
        with self.engine.connect() as conn:
            for rule, rid, at in conn.execute(
                select(r.rule, r.record_id, r.at).where(r.sheet == sheet)
            ):
                out.setdefault(rule, {})[rid] = at
        return out

    def events_at(self, sheet: str, at: datetime) -> tuple[list[Event], bool]:
        """People's changes an earlier run at exactly `at` recorded for `sheet` (a night run again),
        and whether that run was the sheet's first night (no events before it)."""
        e = events.c
        kinds = ["created", "changed", "stage", "returned"]
        with self.engine.connect() as conn:
            same_time = runs.c.started.between(at - HALF_SECOND, at + HALF_SECOND) \
                & runs.c.finished.is_not(None)  # an earlier run, not this one  # fmt: skip
            if conn.execute(select(runs.c.id).where(same_time).limit(1)).first() is None:
                return [], False  # most nights: no run at this time before (a small table)
            rows = conn.execute(select(e.record_id, e.kind, e.field, e.old, e.new)
                                .where((e.sheet == sheet) & e.kind.in_(kinds)
                                       & e.at.between(at - HALF_SECOND, at + HALF_SECOND))
                                .order_by(e.id)).all()  # fmt: skip
            if not rows:
                return [], False
            before = conn.execute(select(e.id).where((e.sheet == sheet) & (e.at < at - HALF_SECOND))
                                  .limit(1)).first()  # fmt: skip
        return [Event(sheet, *r) for r in rows], before is None

    def history(self, record_id: str, sheet: str | None = None) -> list[dict[str, Any]]:
        """Every event of a record, oldest first, with the job of the run that saw it."""
        query = (select(events, runs.c.job).join(runs, runs.c.id == events.c.run_id)
                 .where(events.c.record_id == record_id).order_by(events.c.id))  # fmt: skip
        if sheet:
            query = query.where(events.c.sheet == sheet)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def events_frame(self, sheet: str, kinds: Sequence[str], *, field: str | None = None,
                     records_with: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Events of these kinds in a sheet, oldest first: record_id, kind, field, old, new, at.
        `field`: only events of that field (or none, like "created"); `records_with`: only records
        that have an event of that kind (the report's stage durations need few of 2M records)."""
        e = events.c
        cols = [e.record_id, e.kind, e.field, e.old, e.new, e.at]
        where = (e.sheet == sheet) & e.kind.in_(list(kinds))
        if field is not None:
            where &= (e.field == field) | e.field.is_(None)
        if records_with is not None:
            where &= e.record_id.in_(select(e.record_id).where((e.sheet == sheet)
                                                               & (e.kind == records_with)))  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(where).order_by(e.id)).all()
        return pd.DataFrame([tuple(r) for r in rows],
                            columns=["record_id", "kind", "field", "old", "new", "at"])  # fmt: skip

    def notifications_frame(
        self, kinds: Sequence[str], *, since: date, until: date
    ) -> pd.DataFrame:
        """Notifications of these kinds queued in [since, until): kind, recipient, record_id,
        status, created."""
        n = notifications.c
        start, end = (datetime.combine(d, datetime.min.time()) for d in (since, until))
        query = select(n.kind, n.recipient, n.record_id, n.status, n.created).where(
            n.kind.in_(list(kinds)) & (n.created >= start) & (n.created < end))  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows],
                            columns=["kind", "recipient", "record_id", "status", "created"])  # fmt: skip

    def events(self, run_id: int | None = None) -> list[dict[str, Any]]:
        query = select(events).order_by(events.c.id)
        if run_id is not None:
            query = query.where(events.c.run_id == run_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- one run's writes, in one transaction --------------------------------------------------
    def commit_run(self, run_id: int, *, now: datetime, changes: Sequence[ChangeSet] = (),
                   decisions_made: Sequence[Decision] = (), outcome: str = "ok",
                   counts: dict[str, Any] | None = None, warnings: Sequence[str] = (),
                   plan_key: str | None = None, notes: Sequence[Any] = (),
                   state: dict[str, str] | None = None) -> None:  # fmt: skip
        """`commit` with its parts as arguments."""
        self.commit(run_id, RunCommit(list(changes), list(decisions_made), list(notes), state or {},
                                      counts or {}, plan_key), now=now, outcome=outcome,
                    warnings=warnings)  # fmt: skip

    def commit(self, run_id: int, commit: RunCommit, *, now: datetime, outcome: str = "ok",
               warnings: Sequence[str] = ()) -> None:  # fmt: skip
        """Record everything a run learned: snapshots, events, decisions, notifications, state, and
        the run's outcome; its journal (if any) goes in the same transaction. All or nothing: a
        crash halfway leaves the store as it was, and the next run sees the same changes again."""
        with self.engine.begin() as conn:
            for change in commit.changes:
                _write_changes(conn, run_id, change, now)
            for decision in commit.decisions:
                _record_decision(conn, decision, now)
            _add_notifications(conn, run_id, commit.notes, now)
            for key, value in commit.state.items():
                conn.execute(delete(meta).where(meta.c.key == key))
                conn.execute(insert(meta).values(key=key, value=value))
            conn.execute(delete(pending_commits).where(pending_commits.c.run_id == run_id))
            _finish(conn, run_id, now, outcome, commit.counts, warnings, commit.plan_key)


def _finish(conn: Connection, run_id: int, now: datetime, outcome: str, counts: dict[str, Any],
            warnings: Sequence[str], plan_key: str | None) -> None:  # fmt: skip
    values = {"finished": now, "outcome": outcome,
              "counts": json.dumps(counts, ensure_ascii=False, default=str),
              "warnings": json.dumps(list(warnings), ensure_ascii=False)}  # fmt: skip
    if plan_key is not None:  # a job finishing a run keeps the key its apply step recorded
        values["plan_key"] = plan_key
    conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def _record_decision(conn: Connection, decision: Decision, now: datetime) -> None:
    if decision.kind == "flag":  # a_id the record, b_id the flag's kind, data_hash its text
        f = rule_flags.c
        conn.execute(delete(rule_flags).where((f.sheet == decision.sheet) & (f.record_id == decision.a_id)
                                              & (f.kind == decision.b_id)))  # fmt: skip
        conn.execute(insert(rule_flags).values(sheet=decision.sheet, record_id=decision.a_id,
                                               kind=decision.b_id, text=decision.data_hash, at=now))  # fmt: skip
        return
    a, b = (decision.a_id, decision.b_id)
    if decision.kind in PAIR_VERDICTS:
        a, b = sorted((a, b))
        # the latest verdict on a pair stands: 是重复 replaces an earlier 不是重复, and back
        conn.execute(delete(decisions).where(
            (decisions.c.sheet == decision.sheet) & (decisions.c.a_id == a) & (decisions.c.b_id == b)
            & decisions.c.kind.in_(PAIR_VERDICTS - {decision.kind})))  # fmt: skip
    key = (decisions.c.sheet == decision.sheet) & (decisions.c.kind == decision.kind) \
        & (decisions.c.a_id == a) & (decisions.c.b_id == b)  # fmt: skip
    values = {
        "data_hash": decision.data_hash,
        "decided_by": decision.decided_by,
        "recorded_at": now,
    }
    if conn.execute(select(decisions.c.id).where(key)).first():
        conn.execute(update(decisions).where(key).values(**values))
    else:
        conn.execute(insert(decisions).values(sheet=decision.sheet, kind=decision.kind,
                                              a_id=a, b_id=b, **values))  # fmt: skip


def _write_changes(conn: Connection, run_id: int, change: ChangeSet, now: datetime) -> None:
    sheet = change.sheet
    layout = json.dumps(change.fields, ensure_ascii=False)
    if conn.execute(
        select(snapshot_layouts.c.sheet).where(snapshot_layouts.c.sheet == sheet)
    ).first():
        conn.execute(
            update(snapshot_layouts).where(snapshot_layouts.c.sheet == sheet).values(fields=layout)
        )
    else:
        conn.execute(insert(snapshot_layouts).values(sheet=sheet, fields=layout))
    ids = list(change.upserts)
    if not change.first_run:
        for i in range(0, len(ids), CHUNK):
            conn.execute(delete(snapshots).where((snapshots.c.sheet == sheet)
                                                 & snapshots.c.record_id.in_(ids[i : i + CHUNK])))  # fmt: skip
    if ids:
        _insert_in_batches(conn, snapshots, (
            {"sheet": sheet, "record_id": rid, "row_hash": h, "data": data, "missing": False,
             "updated": now} for rid, (h, data) in change.upserts.items()))  # fmt: skip
    for i in range(0, len(change.missing), CHUNK):
        conn.execute(update(snapshots).where((snapshots.c.sheet == sheet)
                                             & snapshots.c.record_id.in_(change.missing[i : i + CHUNK]))
                     .values(missing=True, updated=now))  # fmt: skip
    if change.events:
        _insert_in_batches(conn, events, (_event_row(e, run_id, now) for e in change.events))


def _insert_in_batches(conn: Connection, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    """Insert rows made on the fly, a batch at a time: the first night of a million customers
    inserts two million snapshots, and a list of them all would be gigabytes of dicts.

    The statement is compiled once and the rows go to the driver's executemany with their values
    already converted by each column type's own bind processor: SQLAlchemy's per-row parameter
    handling was most of the time (100k customers: 13.6 of 16.1 s)."""
    first = next(rows, None)
    if first is None:
        return
    keys = list(first)
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=keys)
    order = [compiled.binds[name].key for name in compiled.positiontup or ()] or keys
    convert = [_bind_converter(table.c[k].type.bind_processor(conn.dialect)) for k in order]
    positional = bool(compiled.positiontup)
    sql = str(compiled)
    pairs = list(zip(order, convert, strict=True))
    for batch in _batched(itertools.chain([first], rows), INSERT_BATCH):
        if positional:
            conn.exec_driver_sql(sql, [tuple([f(row[k]) for k, f in pairs]) for row in batch])
        else:
            conn.exec_driver_sql(sql, [{k: f(row[k]) for k, f in pairs} for row in batch])


def _batched(rows: Iterator[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    while batch := list(itertools.islice(rows, n)):
        yield batch


def _bind_converter(processor: Any) -> Any:
    """The column type's bind processor, remembering its last answer: a bulk insert repeats the
    same run time and sheet name in every row."""
    if processor is None:
        return lambda value: value
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, processor(value)
        return last[1]

    return convert


def _event_row(e: Event, run_id: int, now: datetime) -> dict[str, Any]:
    return {"run_id": run_id, "sheet": e.sheet, "record_id": e.record_id, "kind": e.kind,
            "field": e.field, "old": e.old, "new": e.new, "at": now}  # fmt: skip


def _add_notifications(conn: Connection, run_id: int, notes: Sequence[Any], now: datetime) -> None:
    """Queue notifications as pending; one already known by its key is not queued again."""
    keys = [n.key for n in notes]
    known: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        known.update(conn.execute(select(notifications.c.key)
                                  .where(notifications.c.key.in_(keys[i : i + CHUNK]))).scalars())  # fmt: skip
    first: dict[str, Any] = {}  # a key twice in one batch is queued once
    for n in notes:
        if n.key not in known:
            first.setdefault(n.key, n)
    rows = [{"key": n.key, "run_id": run_id, "kind": n.kind, "recipient": n.recipient, "sheet": n.sheet,
             "record_id": n.record_id, "subject": n.subject, "status": "pending", "created": now,
             "payload": json.dumps({"text": n.text, "cc": list(n.cc), "template": n.template,
                                    "facts": n.facts}, ensure_ascii=False, default=str)}
            for n in first.values()]  # fmt: skip
    if rows:
        _insert_in_batches(conn, notifications, iter(rows))
        _note_reminders(conn, [(n.key, n.kind, n.sheet, n.record_id, now) for n in first.values()
                               if n.kind in REMINDER_KINDS])  # fmt: skip


REMINDER_KINDS = ("reminder", "escalation", "catch_up")


def _note_reminders(conn: Connection, rows: Sequence[tuple[str, str, str, str, datetime]]) -> None:
    """Keep the latest reminder per sheet, rule and record (rows: key, kind, sheet, ID, when)."""
    latest: dict[tuple[str, str, str], datetime] = {}
    for key, kind, sheet, rid, at in rows:
        # <kind>:<rule>:<sheet>:<record>:<occasion>:<to>; a rule's name may hold ":"
        rule = ":".join(key.split(":")[1:-4]) + ("#escalation" if kind == "escalation" else "")
        k = (sheet, rule, rid)
        if k not in latest or at > latest[k]:
            latest[k] = at
    by_rule: dict[tuple[str, str], list[str]] = {}
    for sheet, rule, rid in latest:
        by_rule.setdefault((sheet, rule), []).append(rid)
    r = reminded.c
    for (sheet, rule), rids in by_rule.items():
        for i in range(0, len(rids), CHUNK):
            conn.execute(delete(reminded).where((r.sheet == sheet) & (r.rule == rule)
                                                & r.record_id.in_(rids[i : i + CHUNK])))  # fmt: skip
    _insert_in_batches(conn, reminded, iter({"sheet": s, "rule": u, "record_id": rid, "at": at}
                                            for (s, u, rid), at in latest.items()))  # fmt: skip


def _mark(conn: Connection, keys: Sequence[str], values: dict[str, Any]) -> None:
    for i in range(0, len(keys), CHUNK):
        conn.execute(
            update(notifications)
            .where(notifications.c.key.in_(list(keys[i : i + CHUNK])))
            .values(**values)
        )


def _state_folder(folder: Path) -> None:
    """Make the SQLite store's folder; one sentence when it cannot be written (read-only on
    purpose, which an administrator's account would otherwise write through)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SheetCRMError(
            f"the state folder {folder} cannot be made ({e.strerror or e})"
        ) from None
    if read_only(folder):
        raise SheetCRMError(f"the state folder {folder} is read-only; sheetcrm keeps its memory "
                            "there (make it writable, or point [store] url elsewhere)")  # fmt: skip


def open_for_reading(url: str) -> Store:
    """The store, for reading only; an empty one in memory when its SQLite file does not exist yet
    (so a dry run creates nothing and still sees every record as new)."""
    db = sqlite_file(url)
    if db is not None and not db.exists():
        return Store("sqlite://")
    return Store(url)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None
