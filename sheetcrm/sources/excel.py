"""The local .xlsx source: fast reading with python-calamine, loss-free write-back of status cells.

Reading: calamine (Rust) reads the sheet; a byte scan of the same sheet XML adds what calamine reads
as empty but is not (#N/A and other error cells, formulas never calculated).

Writing: refuses while Excel, WPS or LibreOffice holds the file (their lock files) or when the file
changed since it was read; makes a timestamped backup; rewrites only the status cells through
xlsxpatch into a temporary file in the same folder; replaces the original atomically.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import urllib.parse
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from python_calamine import CalamineError, CalamineWorkbook

from ..config import Config, SheetConfig
from ..errors import (
    SheetLayoutError,
    WorkbookChanged,
    WorkbookError,
    WorkbookFormatError,
    WorkbookLocked,
)
from ..faults import crash_point
from ..output import read_only, write_failure
from ..processes import machine, pid_alive
from ..table import StatusPatch, Table, WriteResult
from .base import build_table, map_headers
from .cells import quote_sheet
from .xlsxfile import (
    XlsxPackage,
    describe,
    lock_owner,
    open_package,
    verify_crc,
)
from .xlsxfile import fingerprint as file_fingerprint
from .xlsxpatch import (
    SharedStrings,
    SheetEdit,
    copy_member_raw,
    grammar_of,
    open_for_write,
    rewrite_sheet,
    scan_special_cells,
)

# zlib level for the rewritten sheet. Recompressing it dominates a write; on the 138 MB customers
# sheet of the 100,000-row demo, level 1 took 0.91 s (21 MB) and the default 6 took 2.41 s (17 MB).
DEFAULT_COMPRESS_LEVEL = 1
EXCEL_MAX_COLS = 16_384


class ExcelSource:
    """A workbook on disk, read and written as DESIGN.md's "Writing back safely" describes."""

    def __init__(
        self,
        path: str | Path,
        config: Config,
        *,
        backup_dir: str | Path | None = None,
        keep_days: int | None = None,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
    ) -> None:
        self.path = Path(path)
        self.config = config
        self._open_base: str | None = None
        self.backup_dir = Path(backup_dir) if backup_dir else config.path(config.backup.dir)
        self.keep_days = config.backup.keep_days if keep_days is None else keep_days
        self.compress_level = compress_level
        # merged ranges seen by the last read of each sheet, valid while the file is unchanged
        self._layout: dict[str, tuple[str, list[Any], int]] = {}  # fingerprint, merges, last column
        self._link_bases: dict[Path | None, str] = {}  # per folder links are made from

    @classmethod
    def from_config(cls, config: Config) -> ExcelSource:
        return cls(config.workbook_path, config)

    @property
    def where(self) -> str:
        return str(self.path)

    def cell_link(self, sheet_name: str, a1: str, from_dir: Path | None = None) -> str:
        """A link that opens this workbook at a cell (the error list's 定位 column). With
        `from_dir` (the folder of the file the link is in) it is relative, so it works wherever
        the share is mounted on a staff PC, not only on the server that wrote it."""
        base = self._link_bases.get(from_dir)
        if base is None:  # once per folder: resolving paths is a file system call
            target = self.path.resolve()
            if from_dir is not None:
                try:
                    target = Path(os.path.relpath(target, from_dir.resolve()))
                except ValueError:  # another drive (Windows): only an absolute link reaches it
                    pass
            base = self._link_bases[from_dir] = f"external:{target.as_posix()}#"
        return f"{base}'{sheet_name}'!{a1}"

    def open_link(self, sheet_name: str, a1: str) -> str:
        """A link a mail client can open: the workbook where people open it ([mail]
        workbook_link, e.g. a share \\\\server\\crm\\customers.xlsx) at a cell."""
        if self._open_base is None:  # once: resolving the path is a file system call
            self._open_base = file_url(self.config.mail.workbook_link or str(self.path.resolve()))
        return f"{self._open_base}#{urllib.parse.quote(quote_sheet(sheet_name))}!{a1}"

    # -- reading ---------------------------------------------------------------------------------
    def read(self, sheet_key: str) -> Table:
        """Return the sheet's rows; see `sources.base` for the contract."""
        return self.read_sheets([sheet_key])[sheet_key]

    def read_sheets(self, sheet_keys: Sequence[str]) -> dict[str, Table]:
        """Return several sheets. calamine parses a sheet without holding the GIL, so two sheets
        are parsed at once while one more thread scans the sheets' XML for error cells, biggest
        sheet first (1M customers: the customers sheet's parse alone is 40 s; its scan, 10 s, runs
        beside it instead of before it). The file is fingerprinted once before and once after."""
        pkg = open_package(self.path)  # first: it names a missing, damaged or mislabelled file
        before = file_fingerprint(self.path)
        sheets = [self.config.sheet(key) for key in sheet_keys]
        with zipfile.ZipFile(self.path) as zf:  # the other parts once, not once a sheet
            self._verify(zf, pkg, sheets)  # first: damage is named before a missing sheet
            members = {sheet.key: self._member(pkg, sheet) for sheet in sheets}
            for member in members.values():
                if member not in zf.NameToInfo:
                    raise WorkbookFormatError(
                        f"{describe(self.path)} is damaged (part {member} is missing)"
                    )
            order = sorted(sheets, key=lambda s: -zf.getinfo(members[s.key]).file_size)
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan") as scans,
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="read") as reads,
        ):
            scanned = {s.key: scans.submit(self._scan, members[s.key]) for s in order}
            futures = {s.key: reads.submit(self._read_cells, s, scanned[s.key].result)
                       for s in order}  # fmt: skip
            results = {key: futures[key].result() for key in sheet_keys}
        if file_fingerprint(self.path) != before:
            raise WorkbookChanged(
                f"{describe(self.path)} changed while it was being read; sheetcrm will try again"
            )
        tables = {}
        for key, (table, merges, last_col) in results.items():
            self._layout[key] = (before, merges, last_col)
            table.fingerprint = before
            tables[key] = table
        return tables

    def _scan(self, member: str) -> dict[tuple[int, int], Any]:
        """The sheet's error cells and uncalculated formulas (calamine reads them as empty); the
        scan inflates the whole part, so it also proves the part undamaged."""
        with zipfile.ZipFile(self.path) as zf:
            try:
                with zf.open(member) as fh:
                    return scan_special_cells(fh)
            except zipfile.BadZipFile as e:
                raise WorkbookFormatError(
                    f"{describe(self.path)} is damaged ({member}: {e})"
                ) from None

    def _verify(self, zf: zipfile.ZipFile, pkg: XlsxPackage, sheets: list[SheetConfig]) -> None:
        """Check every part for damage (CRC) except the target sheets, which are checked as they
        are streamed, and other big sheets, checked when they are read or copied."""
        targets = {pkg.sheets.get(sheet.name) for sheet in sheets}
        big = {m for m in pkg.sheets.values() if zf.getinfo(m).file_size > 50 * 2**20} \
            if all(m in zf.NameToInfo for m in pkg.sheets.values()) else set()  # fmt: skip
        parts = [i.filename for i in zf.infolist() if i.filename not in targets | big]
        verify_crc(zf, parts, describe(self.path))

    def _member(self, pkg: XlsxPackage, sheet: SheetConfig) -> str:
        if sheet.name not in pkg.sheets:
            names = "、".join(pkg.sheets) or "(none)"
            raise SheetLayoutError(
                f"{describe(self.path)} has no sheet named {sheet.name!r}; its sheets are: {names}"
            )
        return pkg.sheets[sheet.name]

    def _read_cells(
        self, sheet: SheetConfig, special: Callable[[], dict[tuple[int, int], Any]]
    ) -> tuple[Table, Any, int]:
        """The sheet parsed by calamine, with `special()` (the scan's error cells, waited for
        only once the parse is done) put in place."""
        try:
            with CalamineWorkbook.from_path(str(self.path)) as wb:
                ws = wb.get_sheet_by_name(sheet.name)
                start = ws.start or (0, 0)
                merges = list(ws.merged_cell_ranges or [])
                last_col = ws.end[1] if ws.end else -1
                table = build_table(sheet, ws.iter_rows(), start, special())
                return table, merges, last_col
        except CalamineError as e:
            special()  # the scan checks the part's CRC: a damaged sheet is named as damaged
            raise WorkbookFormatError(f"{describe(self.path)} cannot be read: {e}") from None

    # -- writing ---------------------------------------------------------------------------------
    def write_status(
        self,
        sheet_key: str,
        patch: StatusPatch,
        *,
        fingerprint: str | None,
        now: datetime,
        dry_run: bool = False,
    ) -> WriteResult:
        """Write `patch` into one sheet's status cells; see `write_statuses`."""
        return self.write_statuses({sheet_key: patch}, fingerprint=fingerprint, now=now,
                                   dry_run=dry_run)[sheet_key]  # fmt: skip

    def sheet_names(self) -> list[str]:
        return list(open_package(self.path).sheets)

    def current_fingerprint(self) -> str | None:
        """The SHA-256 of the workbook file as it is now."""
        return file_fingerprint(self.path) if self.path.is_file() else None

    def write_statuses(
        self,
        patches: dict[str, StatusPatch],
        *,
        fingerprint: str | None,
        now: datetime,
        dry_run: bool = False,
        on_ready: Callable[[str], None] | None = None,
    ) -> dict[str, WriteResult]:
        """Write the patches of several sheets in one rewrite of the file: all or nothing, one
        backup. See `sources.base` for the contract.

        `fingerprint` is the tables': the write is refused if the file changed since that read
        (pass None to skip the check; new IDs are then not written, as their rows cannot be found).
        `on_ready(fingerprint of the new file)` is called when it is complete and checked, just
        before the backup and the swap: after it, the swap may happen at any moment.
        """
        results = {key: WriteResult(unchanged=not patch) for key, patch in patches.items()}
        todo = {key: patch for key, patch in patches.items() if patch}
        if not todo:
            return results
        name = describe(self.path)
        self._refuse_if_locked()
        self._refuse_if_read_only()
        pkg = open_package(self.path)
        if pkg.strict:
            raise WorkbookFormatError(
                f"{name} is saved as Strict Open XML; sheetcrm reads it but does not write into it. "
                "Save it as a normal Excel Workbook (.xlsx)"
            )
        sheets = {key: self.config.sheet(key) for key in todo}
        with zipfile.ZipFile(self.path) as zf:
            self._verify(zf, pkg, list(sheets.values()))
        members = {self._member(pkg, sheet): key for key, sheet in sheets.items()}
        current = file_fingerprint(self.path)
        if fingerprint is not None and current != fingerprint:
            raise WorkbookChanged(
                f"{name} was changed after sheetcrm read it; nothing was written, the next run will "
                "read it again"
            )
        edits = {member: self._edit(sheets[key], todo[key], current, fingerprint is not None)
                 for member, key in members.items()}  # fmt: skip
        if dry_run:
            reports = self._rewrite(pkg, edits, io.BytesIO(), dry_run=True)
        else:
            folder = self.path.parent
            self._remove_leftovers()
            tmp = folder / f".{self.path.name}.sheetcrm-{_me()}.tmp"
            try:
                try:
                    with tmp.open("wb") as out:
                        reports = self._rewrite(pkg, edits, out, dry_run=False)
                        out.flush()
                        os.fsync(out.fileno())
                except OSError as e:
                    raise _write_error(e, f"the new {name} in {folder}") from None
                shutil.copymode(self.path, tmp)
                if on_ready is not None:
                    on_ready(file_fingerprint(tmp))
                crash_point("before-backup")
                # the backup is a copy of the file as read, checked by its fingerprint: that is also
                # the last look for a save by someone while we wrote; then the last look for Excel
                backup = str(self._backup(now, current))
                self._refuse_if_locked()
                crash_point("before-swap")
                os.replace(tmp, self.path)
                for key in todo:
                    results[key].backup = backup
            finally:
                tmp.unlink(missing_ok=True)
        for member, key in members.items():
            report, result = reports[member], results[key]
            result.rows_written = report.rows_written
            result.ids_written = report.ids_written
            result.not_found = sorted(set(todo[key].values) - report.found_ids)
            result.columns_added = list(report.columns_added.values())
            result.cells_skipped = report.cells_skipped
            result.rows_appended = len(report.rows_appended)
        return results

    def _edit(
        self, sheet: SheetConfig, patch: StatusPatch, current: str, checked: bool
    ) -> SheetEdit:
        status_keys = {str(st.key) for st in sheet.status}
        seen = self._layout.get(sheet.key)
        merges_known = seen is not None and seen[0] == current
        merges, last_col = (seen[1], seen[2]) if seen is not None and merges_known else ([], -1)
        edit = SheetEdit(
            id_col=-1,
            header_row=sheet.header_row,
            on_header=lambda headers: self._place_status(sheet, headers, edit, merges, last_col),
            values=_merge_cells(patch),
            new_ids=patch.new_ids if checked else {},
            merges_known=merges_known,
            append=[
                {(k if k in status_keys else FIELD_PREFIX + k): v for k, v in row.items()}
                for row in patch.append
            ],  # fmt: skip
        )
        return edit

    def _refuse_if_locked(self) -> None:
        who = lock_owner(self.path)
        if who:
            raise WorkbookLocked(
                f"{describe(self.path)} is open by {who}; nothing was written, sheetcrm will try "
                "again next run (close the workbook to let it write)"
            )

    def _refuse_if_read_only(self) -> None:
        """A workbook (or its folder) made read-only on purpose is left alone, also by an
        administrator's account, which the file system would let replace it."""
        if read_only(self.path):
            raise WorkbookError(f"{describe(self.path)} is read-only; nothing was written (make it "
                                "writable to let sheetcrm write the status columns)")  # fmt: skip
        check_writable_folder(self.path.parent, "the workbook's folder")

    def _remove_leftovers(self) -> None:
        """Temporary files of a write that was killed (kill -9, a power cut) are removed: those of
        this machine whose process is gone (a folder on a share may hold another machine's write
        in progress, and a Windows file in use cannot be removed: both are left)."""
        leftovers = list(self.path.parent.glob(f".{self.path.name}.sheetcrm-*.tmp"))
        if self.backup_dir.is_dir():
            leftovers += self.backup_dir.glob(f".{self.path.stem}.*.partial")
        host = machine()
        for old in leftovers:
            m = LEFTOVER.search(old.name)
            if m is None or m["host"] != host or pid_alive(int(m["pid"])) is not False:
                continue
            try:
                old.unlink(missing_ok=True)
            except OSError:
                pass  # in use after all: the next run tries again

    def _place_status(self, sheet: SheetConfig, headers: dict[int, str], edit: SheetEdit,
                      merges: list[Any], last_col: int) -> tuple[dict[str, int], dict[int, str]]:  # fmt: skip
        """Find the status columns in the header row; add the missing ones right of everything
        the sheet uses (never over a person's cell) and clear of merged header cells. Cells a
        merge covers are left alone (BAD_INPUTS #1)."""
        width = max(headers) + 1 if headers else 0
        row = [headers.get(c, "") for c in range(width)]
        hmap = map_headers(sheet, row)
        edit.id_col = hmap.fields[sheet.id_field]
        placed = dict(hmap.status)
        # people's cells a rule owns are written in their own column (never a new one)
        placed.update({FIELD_PREFIX + key: col for key, col in hmap.fields.items()})
        new: dict[int, str] = {}
        hr = sheet.header_row - 1  # calamine's merges are 0-based
        merged_in_header = {c for (r1, c1), (r2, c2) in merges if r1 <= hr <= r2
                            for c in range(c1, c2 + 1)}  # fmt: skip
        # the used range from our read is the truth; a <dimension> is only a hint, often wrong
        # (gnumeric writes A1:XFD1048576), so it is used only without a read and if there is room
        n_new = sum(1 for st in sheet.status if str(st.key) not in placed)
        if last_col >= 0:
            next_col = max(width, last_col + 1)
        elif edit.dimension_max_col + 1 + n_new <= EXCEL_MAX_COLS:
            next_col = max(width, edit.dimension_max_col + 1)
        else:
            next_col = width
        if next_col + n_new > EXCEL_MAX_COLS:
            raise SheetLayoutError(f"sheet {sheet.name!r} has no free columns left for sheetcrm's "
                                   "status columns")  # fmt: skip
        for st in sheet.status:
            if str(st.key) not in placed:
                while next_col in merged_in_header:
                    next_col += 1
                placed[str(st.key)] = next_col
                new[next_col] = st.label
                next_col += 1
        wanted = set(placed.values())
        for (r1, c1), (r2, c2) in merges:
            for c in set(range(c1, c2 + 1)) & wanted:
                for r in range(r1, r2 + 1):
                    if (r, c) != (r1, c1):
                        edit.covered.setdefault(r + 1, set()).add(c)
        return placed, new

    def _rewrite(self, pkg: XlsxPackage, edits: dict[str, SheetEdit], out: IO[bytes],
                 *, dry_run: bool) -> dict[str, Any]:  # fmt: skip
        """Rewrite the members in `edits` into `out`, copying every other member unchanged."""
        name = describe(self.path)
        with zipfile.ZipFile(self.path) as src:
            sst_cache: list[SharedStrings] = []

            def sst() -> SharedStrings:
                if not sst_cache:
                    if not pkg.shared_strings:
                        raise WorkbookFormatError(
                            f"{name} refers to shared strings it does not have"
                        )
                    data = src.read(pkg.shared_strings)
                    sst_cache.append(SharedStrings(data, grammar_of(data[:4096])))
                return sst_cache[0]

            reports: dict[str, Any] = {}
            try:
                if dry_run:
                    for member, edit in edits.items():
                        with src.open(member) as fh:
                            reports[member] = rewrite_sheet(fh, _Discard(), edit, sst)
                    return reports
                deferred = {"[Content_Types].xml", pkg.calc_chain, _rels_of(pkg.workbook_part)} \
                    if pkg.calc_chain else set()  # fmt: skip
                with zipfile.ZipFile(out, "w", allowZip64=True) as dst:
                    for info in src.infolist():
                        if info.filename in edits:
                            with (
                                src.open(info) as fh,
                                open_for_write(
                                    dst, info.filename, info, self.compress_level
                                ) as wfh,
                            ):
                                reports[info.filename] = rewrite_sheet(
                                    fh, wfh, edits[info.filename], sst
                                )
                        elif info.filename in deferred:
                            continue
                        else:
                            if info.file_size > 50 * 2**20:  # big sheets were not checked yet
                                verify_crc(src, [info.filename], name)
                            copy_member_raw(src, info, dst)
                    formulas = any(r.formula_overwritten for r in reports.values())
                    for filename in sorted(d for d in deferred if d):
                        info = src.getinfo(filename)
                        if formulas:
                            _write_without_calc_chain(src, dst, info, pkg)
                        else:
                            copy_member_raw(src, info, dst)
                return reports
            except zipfile.BadZipFile as e:
                raise WorkbookFormatError(f"{name} is damaged ({e}); nothing was written") from None

    def _backup(self, now: datetime, expected: str) -> Path:
        """Copy the workbook to the backup folder with the run's time in its name; prune old ones.

        The copy is written under a temporary name, checked against `expected` (the fingerprint of
        the workbook as read) and only then given its name: a backup that exists is a whole copy of
        what sheetcrm read. A copy that differs means someone saved the workbook meanwhile
        (WorkbookChanged), or a copy that did not read back. A full disk leaves nothing behind."""
        try:
            self.backup_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _write_error(e, f"the backup folder {self.backup_dir}") from None
        check_writable_folder(self.backup_dir, "the backup folder")
        stem, suffix = self.path.stem, self.path.suffix
        target = self.backup_dir / f"{stem}.{now:%Y%m%d-%H%M%S}{suffix}"
        n = 1
        while target.exists():
            target = self.backup_dir / f"{stem}.{now:%Y%m%d-%H%M%S}-{n}{suffix}"
            n += 1
        partial = self.backup_dir / f".{target.name}.sheetcrm-{_me()}.partial"
        try:
            shutil.copy2(self.path, partial)
            if file_fingerprint(partial) != expected:
                if file_fingerprint(self.path) != expected:
                    raise WorkbookChanged(f"{describe(self.path)} was saved by someone while "
                                          "sheetcrm was writing; nothing was written, the next run "
                                          "will try again")  # fmt: skip
                raise WorkbookError(f"the backup {target} did not read back as the workbook it "
                                    "copies; nothing was written")  # fmt: skip
            os.replace(partial, target)
        except OSError as e:
            raise _write_error(e, f"the backup to {self.backup_dir}") from None
        finally:
            partial.unlink(missing_ok=True)
        if self.keep_days:
            limit = now - timedelta(days=self.keep_days)
            pattern = re.compile(
                rf"^{re.escape(stem)}\.(\d{{8}}-\d{{6}})(?:-\d+)?{re.escape(suffix)}$"
            )
            for old in self.backup_dir.iterdir():
                m = pattern.match(old.name)
                if m and datetime.strptime(m.group(1), "%Y%m%d-%H%M%S") < limit.replace(
                    tzinfo=None
                ):
                    old.unlink()
        return target


LEFTOVER = re.compile(r"\.sheetcrm-(?P<host>.+)-(?P<pid>\d+)\.(?:tmp|partial)$")


def _me() -> str:
    """This machine and process, in the names of temporary files (which one may remove them)."""
    return f"{machine()}-{os.getpid()}"


def check_writable_folder(folder: Path, what: str) -> None:
    """Refuse a folder made read-only on purpose, naming it."""
    if read_only(folder):
        raise WorkbookError(f"{what} {folder} is read-only; nothing was written")


def _write_error(e: OSError, what: str) -> WorkbookError:
    return WorkbookError(write_failure(e, what))


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return len(b)


def _rels_of(part: str) -> str:
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _write_without_calc_chain(src: zipfile.ZipFile, dst: zipfile.ZipFile, info: zipfile.ZipInfo,
                              pkg: XlsxPackage) -> None:  # fmt: skip
    """calcChain lists formula cells; a status cell that held a formula no longer does, and Excel
    "repairs" a workbook whose calcChain is stale. Dropping it is safe: Excel rebuilds it."""
    assert pkg.calc_chain is not None  # called only for a workbook that has one
    if info.filename == pkg.calc_chain:
        return
    data = src.read(info)
    calc_name = pkg.calc_chain.rsplit("/", 1)[-1] if pkg.calc_chain else ""
    if info.filename == "[Content_Types].xml":
        data = re.sub(rb'<Override[^>]*PartName="/' + re.escape(pkg.calc_chain.encode()) + rb'"[^>]*/>',
                      b"", data)  # fmt: skip
    else:
        data = re.sub(rb'<Relationship[^>]*Target="[^"]*' + re.escape(calc_name.encode()) + rb'"[^>]*/>',
                      b"", data)  # fmt: skip
    dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)


__all__ = ["ExcelSource"]


FIELD_PREFIX = "field:"  # a key in SheetEdit.values naming a field column, not a status column


def _merge_cells(patch: StatusPatch) -> dict[str, dict[str, Any]]:
    if not patch.cells:
        return patch.values
    merged = {rid: dict(v) for rid, v in patch.values.items()}
    for rid, cells in patch.cells.items():
        merged.setdefault(rid, {}).update({FIELD_PREFIX + k: v for k, v in cells.items()})
    return merged


def file_url(where: str) -> str:
    """A file: URL for a path or a Windows share (\\\\server\\share\\file.xlsx → file://server/share/file.xlsx)."""
    if where.startswith(("\\\\", "//")):
        return "file:" + urllib.parse.quote("//" + where.lstrip("\\/").replace("\\", "/"))
    return Path(where).resolve().as_uri()
