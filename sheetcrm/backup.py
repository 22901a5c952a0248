"""Archives of the team's workbook, the state store and config.toml: made by the backup job, brought
back by `sheetcrm restore`.

An archive is a zip with a manifest (what each file is, its size and SHA-256, where it came from).
With a key configured ([backup] key_env names the environment variable holding a Fernet key) the zip
is encrypted in 8 MiB chunks, each a Fernet token (AES-128-CBC + HMAC-SHA256) that also carries its
index and whether it is the last, so a reordered or cut-off archive is refused like a wrong key.
Chunks keep memory flat for a state store of gigabytes; Fernet itself has no streaming mode.

The SQLite store is copied with SQLite's online backup API, so a copy taken while a job writes is a
consistent database, never a torn file. A store on a server (PostgreSQL) is not copied: its own
tools (pg_dump) do that better, and the archive says so.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TypedDict

from cryptography.fernet import Fernet, InvalidToken

from . import __version__
from .config import Config
from .errors import SheetCRMError
from .faults import crash_point
from .output import write_failure
from .sources.xlsxfile import lock_owner
from .store import Store, sqlite_file

MAGIC = b"SHEETCRM-ARCHIVE-1\n"
CHUNK = 8 * 1024 * 1024
MANIFEST = "manifest.json"
PATTERN = "sheetcrm-*.zip*"


class BackupError(SheetCRMError):
    """An archive cannot be written, read or restored; nothing was changed."""


@dataclass(frozen=True)
class ArchivedFile:
    name: str  # inside the archive
    role: str  # workbook, store or config
    size: int
    sha256: str
    origin: str  # where it was taken from


@dataclass
class Archive:
    path: Path
    created: datetime
    encrypted: bool
    files: list[ArchivedFile]
    warnings: list[str] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)  # older archives removed by retention


def backup_key(config: Config) -> bytes | None:
    """The Fernet key from the environment variable [backup] key_env names; None when not configured.

    A configured but missing or malformed key is an error: an unencrypted copy is never made
    instead of an encrypted one."""
    name = config.backup.key_env
    if not name:
        return None
    value = os.environ.get(name, "").strip()
    if not value:
        raise BackupError(
            f"[backup] key_env is {name!r} but that environment variable is not set; no archive "
            "was written (set it to the key, or remove key_env to keep archives unencrypted)"
        )
    try:
        Fernet(value)
    except ValueError:
        raise BackupError(
            f"the environment variable {name} does not hold a Fernet key (44 characters of "
            'URL-safe base64); make one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        ) from None
    return value.encode()


def archives(config: Config) -> list[Path]:
    """The archives in [backup] archive_dir, newest first."""
    folder = config.path(config.backup.archive_dir)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(PATTERN), key=lambda p: p.name, reverse=True)


def make_archive(config: Config, *, now: datetime, key: bytes | None) -> Archive:
    """Archive the workbook, the state store and config.toml into [backup] archive_dir, then keep
    only the newest [backup] keep_archives. The archive is checked (every part's CRC) and appears
    under its final name only when complete: a full disk or a kill leaves nothing under an
    archive's name, and what a killed run left in the folder is removed by the next one."""
    folder = config.path(config.backup.archive_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(".backup-*"):  # a run killed mid-way (its lock is ours now)
            shutil.rmtree(old, ignore_errors=True)
        return _make_archive(config, folder, now=now, key=key)
    except (
        OSError,
        sqlite3.OperationalError,
    ) as e:  # SQLite's copy says "database or disk is full"
        what, then = f"the backup to {folder}", "no archive was made"
        if isinstance(e, OSError):
            raise BackupError(write_failure(e, what, then)) from None
        if "disk is full" in str(e):
            raise BackupError(write_failure(OSError(errno.ENOSPC, str(e)), what, then)) from None
        raise BackupError(
            f"the state store could not be copied into the backup ({e}); {then}"
        ) from None


def _make_archive(config: Config, folder: Path, *, now: datetime, key: bytes | None) -> Archive:
    target = folder / f"sheetcrm-{now:%Y%m%d-%H%M%S}.zip{'.enc' if key else ''}"
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(dir=folder, prefix=".backup-") as tmp:
        sources: list[tuple[str, str, Path, str]] = []  # name, role, file, origin
        if not config.is_gsheet:
            wb = config.workbook_path
            if wb.is_file():
                sources.append((f"workbook/{wb.name}", "workbook", wb, str(wb)))
            else:
                warnings.append(f"{wb} does not exist; the archive has no workbook")
        else:
            warnings.append("the workbook is a Google Sheet; Google keeps its version history")
        db = sqlite_file(config.store_url)
        if db is not None and db.is_file():
            copy = Path(tmp) / db.name
            _copy_sqlite(db, copy)
            sources.append((f"store/{db.name}", "store", copy, str(db)))
        elif db is None:
            warnings.append(
                "the state store is a server database; back it up with its own tools (pg_dump)"
            )
        config_file = config.base_dir / "config.toml"
        if config_file.is_file():
            sources.append(("config/config.toml", "config", config_file, str(config_file)))
        files = [ArchivedFile(name, role, p.stat().st_size, _sha256(p), origin)
                 for name, role, p, origin in sources]  # fmt: skip
        plain = Path(tmp) / "archive.zip"
        with zipfile.ZipFile(plain, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(MANIFEST, json.dumps(_manifest(now, files, key is not None),
                                             ensure_ascii=False, indent=1))  # fmt: skip
            for name, _role, p, _origin in sources:
                zf.write(p, name)
        with zipfile.ZipFile(plain) as zf:
            bad = zf.testzip()
        if bad is not None:
            raise BackupError(
                f"the archive did not read back ({bad} is damaged); no archive was made"
            )
        staged = Path(tmp) / "staged"
        if key:
            with plain.open("rb") as src, staged.open("wb") as dst:
                _encrypt(src, dst, key)
        else:
            plain.rename(staged)
        crash_point("archive-staged")
        os.replace(staged, target)
    pruned = archives(config)[config.backup.keep_archives :]
    for p in pruned:
        p.unlink(missing_ok=True)
    return Archive(target, now, key is not None, files, warnings, pruned)


def read_archive(path: Path, key: bytes | None) -> Archive:
    """What an archive holds, from its manifest (decrypting it if needed)."""
    with _opened(path, key) as zf:
        manifest = _read_manifest(zf, path)
    files = [ArchivedFile(**f) for f in manifest["files"]]
    return Archive(path, datetime.fromisoformat(manifest["created"]), manifest["encrypted"], files)


def restore(path: Path, config: Config, *, key: bytes | None, to: Path | None = None,
            now: datetime) -> list[tuple[ArchivedFile, Path]]:  # fmt: skip
    """Bring an archive back: into folder `to`, or (without it) over the instance's workbook and
    state store, after moving the current ones aside into [backup] dir/before-restore-<time>/.
    config.toml is restored only into a folder; in place it stays as it is. Every file is checked
    against its SHA-256 before anything is replaced."""
    with _opened(path, key) as zf, tempfile.TemporaryDirectory() as tmp:
        manifest = _read_manifest(zf, path)
        files = [ArchivedFile(**f) for f in manifest["files"]]
        staged: list[tuple[ArchivedFile, Path, Path]] = []  # file, extracted, destination
        for f in files:
            dest = _destination(f, config, to)
            if dest is None:
                continue
            out = Path(tmp) / f.name.replace("/", "_")
            with zf.open(f.name) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            if _sha256(out) != f.sha256:
                raise BackupError(f"{path}: {f.name} does not match its checksum; nothing restored")
            staged.append((f, out, dest))
        if to is None:
            _refuse_if_in_use(config)
            aside = config.path(config.backup.dir) / f"before-restore-{now:%Y%m%d-%H%M%S}"
            for _f, _out, dest in staged:
                if dest.exists():
                    aside.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(dest, aside / dest.name)
        done = []
        for f, out, dest in staged:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(out, dest.with_name(dest.name + ".restoring"))
            os.replace(dest.with_name(dest.name + ".restoring"), dest)
            done.append((f, dest))
    return done


def _destination(f: ArchivedFile, config: Config, to: Path | None) -> Path | None:
    base = f.name.split("/", 1)[1]
    if to is not None:
        return to / base
    if f.role == "workbook" and not config.is_gsheet:
        return config.workbook_path
    if f.role == "store":
        return sqlite_file(config.store_url)
    return None  # config.toml in place: the running config is the one in use


def _refuse_if_in_use(config: Config) -> None:
    if not config.is_gsheet:
        who = lock_owner(config.workbook_path)
        if who:
            raise BackupError(
                f"{config.workbook_path} is open by {who}; close it before restoring over it "
                "(or restore into a folder with --to)"
            )
    db = sqlite_file(config.store_url)
    if db is not None and db.is_file():
        store = Store(config.store_url)
        held = store.active_locks(datetime.now())  # the locks expire in wall-clock time
        store.engine.dispose()  # the file is about to be replaced
        if held:
            jobs = ", ".join(f"{h['job']} ({h['owner']})" for h in held)
            raise BackupError(f"a job is running ({jobs}); restore when it has finished")


def _manifest(now: datetime, files: list[ArchivedFile], encrypted: bool) -> dict[str, object]:
    return {"created": now.isoformat(), "sheetcrm": __version__, "encrypted": encrypted,
            "files": [f.__dict__ for f in files]}  # fmt: skip


class _ManifestFile(TypedDict):  # an ArchivedFile's fields
    name: str
    role: str
    size: int
    sha256: str
    origin: str


class _Manifest(TypedDict):  # what _manifest writes
    created: str
    sheetcrm: str
    encrypted: bool
    files: list[_ManifestFile]


def _read_manifest(zf: zipfile.ZipFile, path: Path) -> _Manifest:
    try:
        return json.loads(zf.read(MANIFEST))
    except (KeyError, ValueError):
        raise BackupError(f"{path} is not a sheetcrm archive (it has no manifest)") from None


@contextmanager
def _opened(path: Path, key: bytes | None) -> Iterator[zipfile.ZipFile]:
    """The archive's zip, decrypted into a temporary file first when it is encrypted."""
    if not path.is_file():
        raise BackupError(f"{path}: no such archive")
    with path.open("rb") as fh:
        encrypted = fh.read(len(MAGIC)) == MAGIC
    try:
        if not encrypted:
            with zipfile.ZipFile(path) as zf:
                yield zf
            return
        if key is None:
            raise BackupError(
                f"{path} is encrypted; set the key in the environment variable [backup] key_env names"
            )
        with tempfile.TemporaryFile() as plain:
            with path.open("rb") as src:
                src.read(len(MAGIC))
                _decrypt(src, plain, key, path)
            plain.seek(0)
            with zipfile.ZipFile(plain) as zf:
                yield zf
    except zipfile.BadZipFile:
        raise BackupError(f"{path} is damaged (not a readable zip)") from None


def _encrypt(src: IO[bytes], dst: IO[bytes], key: bytes) -> None:
    fernet = Fernet(key)
    dst.write(MAGIC)
    index = 0
    chunk = src.read(CHUNK)
    while True:
        following = src.read(CHUNK)
        last = not following
        token = fernet.encrypt(struct.pack(">?Q", last, index) + chunk)
        dst.write(struct.pack(">I", len(token)) + token)
        if last:
            return
        chunk, index = following, index + 1


def _decrypt(src: IO[bytes], dst: IO[bytes], key: bytes, path: Path) -> None:
    fernet = Fernet(key)
    index = 0
    while True:
        head = src.read(4)
        if len(head) < 4:
            raise BackupError(f"{path} is cut short (its last part is missing)")
        token = src.read(struct.unpack(">I", head)[0])
        try:
            plain = fernet.decrypt(token)
        except InvalidToken:
            raise BackupError(f"{path}: wrong key, or the archive is damaged") from None
        last, n = struct.unpack(">?Q", plain[:9])
        if n != index:
            raise BackupError(f"{path} is damaged (its parts are out of order)")
        dst.write(plain[9:])
        if last:
            return
        index += 1


def _copy_sqlite(db: Path, copy: Path) -> None:
    """A consistent copy of the store, without what only means something while a job runs: its
    locks (the backup job holds its own) and the runs not finished yet are recorded as archived
    mid-run, so a restore never brings back a lock or a run that shows "running" forever."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    try:
        with dst:
            src.backup(dst)
        with dst:
            tables = {
                r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "locks" in tables:
                dst.execute("DELETE FROM locks")
            if "runs" in tables:
                dst.execute("UPDATE runs SET outcome = 'interrupted', finished = started, warnings = ? "
                            "WHERE finished IS NULL",
                            (json.dumps(["was running when this archive was made"]),))  # fmt: skip
    finally:
        src.close()
        dst.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()
