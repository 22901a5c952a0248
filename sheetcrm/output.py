"""Files sheetcrm writes for people to open (reports, error lists, exports, review workbooks, import
reports): one way to make them, so each is safe in the same ways.

- `xlsx_book`: an xlsxwriter workbook written beside its target under a temporary name and moved
  into place only when complete (a crash never leaves half a file under a real name); text is never
  turned into a formula, a link or a number.
- `write_cell`: one cell by the value's type (text always as text, dates as dates, empty as blank).
- `write_csv_rows`, `csv_safe`: UTF-8 with a BOM (Excel reads Chinese right), text that a spreadsheet
  would run as a formula escaped with a leading ', written atomically.
- `print_setup`, `unused_path`: landscape pages with the header row repeated; a name no earlier
  file has (two exports in one minute both stay).
- `read_only`, `write_failure`: whether a place was made read-only on purpose, and one sentence for
  a write that failed (a full disk, no permission), for every file sheetcrm writes.
"""

from __future__ import annotations

import csv
import errno
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter

SAFE_TEXT = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@contextmanager
def xlsx_book(out: Path, *, streaming: bool = False, **options: Any) -> Iterator[Any]:
    """A workbook to fill in the block; it appears at `out` when the block ends without error.
    `streaming`: rows are written in order and flushed (xlsxwriter's constant_memory), for files of
    a million rows."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    book = xlsxwriter.Workbook(str(tmp), {**SAFE_TEXT, "constant_memory": streaming, **options})
    try:
        yield book
        book.close()
        os.replace(tmp, out)
    except BaseException:
        try:
            book.close()
        except Exception:  # half a workbook: it goes anyway
            pass
        raise
    finally:
        tmp.unlink(missing_ok=True)


def print_setup(ws: Any, *, repeat_rows: int | None = 0) -> None:
    """Print as people expect a list to: landscape, as wide as the page, the header row on every
    page (`repeat_rows`: its 0-based row)."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    if repeat_rows is not None:
        ws.repeat_rows(repeat_rows)


def unused_path(path: Path) -> Path:
    """`path`, or with -2, -3 ... before its suffix when a file of that name exists: two exports or
    error lists made within the same minute both stay."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def read_only(path: Path) -> bool:
    """Whether a file or folder was made read-only on purpose: its write bits are off (which an
    administrator's account would otherwise write through) or this account may not write it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    return not mode & 0o222 or not os.access(path, os.W_OK)


def write_failure(e: OSError, what: str, then: str = "nothing was written") -> str:
    """One sentence for a write that failed: a full disk, a read-only place, anything else."""
    if e.errno == errno.ENOSPC:
        return f"disk full while writing {what}; {then}"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {what}; {then}"
    return f"cannot write {what} ({e.strerror or e}); {then}"


def write_cell(ws: Any, r: int, c: int, v: Any, f: Any = None, *, day: Any = None) -> None:
    """One xlsxwriter cell by the value's type: text always as text (never a formula), dates as
    dates in format `f` (or `day`), empty as blank."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        ws.write_blank(r, c, None, f)
    elif isinstance(v, bool):
        ws.write_boolean(r, c, v, f)
    elif isinstance(v, int | float | np.integer | np.floating):
        ws.write_number(r, c, float(v), f)
    elif isinstance(v, datetime | date):
        ws.write_datetime(
            r,
            c,
            v if isinstance(v, datetime) else datetime.combine(v, datetime.min.time()),
            f or day,
        )
    else:
        ws.write_string(r, c, str(v), f)


def csv_safe(value: Any) -> Any:
    """A value for a CSV cell: text that a spreadsheet would run as a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv_rows(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    """UTF-8 with a BOM (Excel then reads Chinese right), formulas escaped, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([csv_safe(h) for h in header])
        for row in rows:
            w.writerow(["" if v is None else csv_safe(_csv_value(v)) for v in row])
    tmp.replace(path)


def _csv_value(v: Any) -> Any:
    if isinstance(v, float) and np.isnan(v):
        return ""
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="minutes")
    if isinstance(v, date):
        return v.isoformat()
    return v
