"""A Google Sheet as the source, through gspread's client, with the Excel source's guarantees.

- `read`: the spreadsheet's metadata, then every configured sheet in one `values:batchGet` with
  unformatted values and dates as serial numbers; headers are mapped by label exactly as for Excel,
  and serial numbers in date fields become dates, so the check types them as it does Excel's.
- `write_statuses`: a fresh `values:batchGet` of each sheet's header row, ID column and the columns
  of rule-owned cells, just before writing; rows are found by their ID there, so sorting between
  the read and the write is safe. Then one `values:batchUpdate` with RAW input (text stays text, a
  value starting with = never becomes a formula). New IDs are written only if the ID column is
  exactly as read (a blank row can only be found by its position), and a rule-owned cell only if
  it still holds what was read. A write of up to `CELLS_PER_CALL` cells is one request, applied by
  Google as a whole; a bigger first-night write is split into several.
- Quotas and faults: Google allows about 60 requests a minute per user. `RetryingHTTPClient` paces
  requests under that, retries 408, 429 and 5xx and dropped connections with exponential delay,
  jitter and a cap, sets a timeout, and never retries a 403 (gspread's own back-off client retries
  403 and has no timeout). What still fails becomes a SheetServiceError saying what to do, naming
  the service account to share the sheet with.

gspread imports its endpoint URLs by name, so an emulator is reached by handing gspread's Client a
requests.Session that rewrites Google's host (`EndpointSession`), never by patching constants.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gspread
import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from ..config import Config, SheetConfig
from ..errors import SheetLayoutError, SheetServiceError, WorkbookChanged
from ..fields import EXCEL_EPOCH_1900, excel_serial
from ..table import StatusPatch, Table, WriteResult
from .base import build_table, map_headers
from .cells import column_letter, id_text, quote_sheet

if TYPE_CHECKING:
    from gspread.http_client import ParamsType

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
GOOGLE = "https://sheets.googleapis.com"
CELLS_PER_CALL = 100_000
# values as stored, dates as serial numbers: what the check types the same way as Excel's cells
RAW_VALUES = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}
RETRY_CODES = {408, 429, 500, 502, 503, 504}


class RetryingHTTPClient(HTTPClient):
    """gspread's HTTP client with pacing, bounded retries with jitter, and a timeout."""

    retries = 5
    base_delay = 1.0
    max_delay = 32.0
    per_minute = 60

    def __init__(self, auth: Any, session: requests.Session | None = None) -> None:
        super().__init__(auth, session)
        self.timeout = (10.0, 60.0)
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic
        self.calls = 0  # requests sent, retries included
        self.delays: list[float] = []  # waits before retries (tests assert them)
        self._sent: deque[float] = deque()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(self.retries + 1):
            self._pace()
            self.calls += 1
            try:
                return super().request(*args, **kwargs)
            except APIError as e:
                if e.code not in RETRY_CODES or attempt == self.retries:
                    raise
                wait = _retry_after(e.response) or self._backoff(attempt)
            except (requests.ConnectionError, requests.Timeout):
                if attempt == self.retries:
                    raise
                wait = self._backoff(attempt)
            self.delays.append(wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(0.5, 1.0)

    def _pace(self) -> None:
        """At most `per_minute` requests in any minute: wait for the oldest to age out."""
        now = self.clock()
        while self._sent and now - self._sent[0] >= 60:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            self.sleep(60 - (now - self._sent[0]))
            self._sent.popleft()
        self._sent.append(self.clock())


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(float(value), 120.0) if value else None
    except ValueError:
        return None


class EndpointSession(requests.Session):
    """A session that sends gspread's Google requests to another host (a local emulator)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint.rstrip("/")

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        url = str(url)
        if url.startswith(GOOGLE):
            url = self.endpoint + url[len(GOOGLE) :]
        return super().request(method, url, *args, **kwargs)


def credentials_file(config: Config) -> Path | None:
    value = os.environ.get("SHEETCRM_GSHEET_CREDENTIALS") or config.gsheet.credentials
    return config.path(value) if value else None


def open_client(config: Config) -> tuple[gspread.Client, str | None]:
    """gspread's client for the configured credentials (or emulator), and the service account's
    e-mail to name in messages."""
    path = credentials_file(config)
    info: dict[str, Any] = {}
    if path is not None:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SheetServiceError(
                f"cannot read the Google credentials file {path}: {e}"
            ) from None
    account = info.get("client_email")
    if config.gsheet.endpoint:
        session: requests.Session = EndpointSession(config.gsheet.endpoint)
    elif not info:
        raise SheetServiceError(
            "no Google credentials: set [gsheet] credentials (or SHEETCRM_GSHEET_CREDENTIALS) to "
            "the path of a service-account JSON key; see the README, 'Google Sheets'"
        )
    else:
        from google.auth.transport.requests import AuthorizedSession

        if info.get("type") == "service_account":
            from google.oauth2.service_account import Credentials as ServiceAccount

            creds: Any = ServiceAccount.from_service_account_info(info, scopes=SCOPES)
        else:
            from google.oauth2.credentials import Credentials as UserCredentials

            creds = UserCredentials.from_authorized_user_info(info, SCOPES)
        session = AuthorizedSession(creds)
    client = gspread.Client(None, session=session, http_client=RetryingHTTPClient)  # type: ignore[arg-type]
    client.http_client.timeout = (10.0, config.gsheet.timeout)
    return client, account


class GSheetSource:
    """The configured sheets of one spreadsheet. Reads are batched and cached for the run."""

    path = None  # not a file: no lock files, backups or fingerprints on disk

    def __init__(self, key: str, config: Config, *, client: gspread.Client | None = None,
                 account: str | None = None) -> None:  # fmt: skip
        self.key, self.config = key, config
        if client is None:
            client, account = open_client(config)
        self.client, self.account = client, account
        self.http: RetryingHTTPClient = client.http_client  # type: ignore[assignment]
        self._tables: dict[str, Table] = {}
        self._raw_ids: dict[str, list[str]] = {}  # ID column as read, by sheet (for new IDs)
        self._widths: dict[str, int] = {}
        self._heights: dict[str, int] = {}
        self._grid: dict[str, dict[str, Any]] = {}  # title → sheet properties
        self._listed: dict[str, dict[str, Any]] | None = None  # metadata fetched by sheet_names

    @classmethod
    def from_config(cls, config: Config) -> GSheetSource:
        return cls(config.gsheet_key, config)

    @property
    def where(self) -> str:
        return f"Google Sheet {self.key}"

    def cell_link(self, sheet_name: str, a1: str, from_dir: Path | None = None) -> str:
        """A link that opens the spreadsheet at a cell, in the browser."""
        gid = self._grid.get(sheet_name, {}).get("sheetId", 0)
        return f"https://docs.google.com/spreadsheets/d/{self.key}/edit#gid={gid}&range={a1}"

    def open_link(self, sheet_name: str, a1: str) -> str:
        """For a mail: the same link as `cell_link` (a browser opens it)."""
        return self.cell_link(sheet_name, a1)

    # -- errors ---------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except APIError as e:
            raise self._explain(what, e.code, str(e.error.get("message", e))) from None
        except (requests.ConnectionError, requests.Timeout) as e:
            raise SheetServiceError(f"cannot reach Google Sheets to {what} ({type(e).__name__}); "
                                    "nothing was written, the next run tries again") from None  # fmt: skip

    def _explain(self, what: str, code: int, message: str) -> SheetServiceError:
        share = (f"share the spreadsheet with {self.account} (as Editor)" if self.account
                 else "share the spreadsheet with the account sheetcrm uses (as Editor)")  # fmt: skip
        if code == 403:
            return SheetServiceError(f"no permission to {what} Google Sheet {self.key}: {share}")
        if code == 404:
            return SheetServiceError(f"there is no Google Sheet with the key {self.key}: check "
                                     "source in config.toml (the part of the URL after /d/)")  # fmt: skip
        if code in RETRY_CODES:
            return SheetServiceError(f"Google Sheets is still refusing to {what} after "
                                     f"{self.http.retries} retries ({code}: {message}); nothing "
                                     "was written, the next run tries again")  # fmt: skip
        return SheetServiceError(f"Google Sheets refused to {what} ({code}: {message})")

    # -- reading --------------------------------------------------------------------------------
    def read(self, sheet_key: str) -> Table:
        """The sheet's rows; every configured sheet is fetched in the first call of a run."""
        if sheet_key not in self._tables:
            self._load()
        return self._tables[sheet_key]

    def read_sheets(self, sheet_keys: Sequence[str]) -> dict[str, Table]:
        """Several sheets: one fetch serves them all."""
        return {key: self.read(key) for key in sheet_keys}

    def _metadata(self) -> dict[str, dict[str, Any]]:
        meta = self._call("open", lambda: self.http.fetch_sheet_metadata(self.key))
        self._grid = {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}
        return self._grid

    # -- setting a spreadsheet up (templates.setup_gsheet builds the requests) -----------------
    def tabs(self) -> dict[str, dict[str, Any]]:
        """Each tab's properties (sheetId, gridProperties, ...) by its title."""
        return dict(self._metadata())

    def add_tabs(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Add empty tabs; returns the new tabs' properties by title."""
        body: dict[str, Any] = {
            "requests": [{"addSheet": {"properties": {"title": n}}} for n in names]
        }
        reply = self._call("add sheets to", lambda: self.http.batch_update(self.key, body))
        added = {r["addSheet"]["properties"]["title"]: r["addSheet"]["properties"]
                 for r in reply.get("replies", [])}  # fmt: skip
        self._grid.update(added)
        return added

    def read_ranges(self, ranges: Sequence[str]) -> list[list[list[Any]]]:
        """The values of A1 ranges (one list of rows per range), in one call."""
        got = self._call("read", lambda: self.http.values_batch_get(self.key, list(ranges)))
        return [vr.get("values") or [] for vr in got.get("valueRanges", [])]

    def update_layout(self, requests_: list[dict[str, Any]]) -> None:
        """Apply batchUpdate requests (formats, validations, protections) in one call."""
        body = {"requests": requests_}
        self._call("set up", lambda: self.http.batch_update(self.key, body))

    def write_ranges(self, data: list[dict[str, Any]]) -> None:
        """Write values as typed (RAW) into A1 ranges, in one call."""
        body = {"valueInputOption": "RAW", "data": data}
        self._call("write headers to", lambda: self.http.values_batch_update(self.key, body))

    def _load(self) -> None:
        grid, self._listed = (self._listed or self._metadata()), None  # one metadata call a read
        sheets = [s for s in self.config.sheets if s.name in grid or not s.optional]
        absent = [s.name for s in sheets if s.name not in grid]
        if absent:
            raise SheetLayoutError(
                f"Google Sheet {self.key} has no sheet named {'、'.join(map(repr, absent))}; its "
                f"sheets are: {'、'.join(grid) or '(none)'} (`sheetcrm templates --gsheet` adds them)"
            )
        params: ParamsType = {**RAW_VALUES, "majorDimension": "ROWS"}
        ranges = [quote_sheet(s.name) for s in sheets]
        got = self._call("read", lambda: self.http.values_batch_get(self.key, ranges, params))
        digest = hashlib.sha256()
        for sheet, vr in zip(sheets, got.get("valueRanges", []), strict=True):
            rows = vr.get("values", [])
            digest.update(json.dumps(rows, ensure_ascii=False, default=str).encode())
            table = build_table(sheet, iter(rows))
            _dates_from_serials(table, sheet)
            id_col = table.columns[sheet.id_field]
            self._raw_ids[sheet.key] = [id_text(r[id_col]) if len(r) > id_col else ""
                                        for r in rows[sheet.header_row:]]  # fmt: skip
            self._widths[sheet.key] = max((len(r) for r in rows), default=0)
            self._heights[sheet.key] = len(rows)
            self._tables[sheet.key] = table
        fingerprint = digest.hexdigest()
        for t in self._tables.values():
            t.fingerprint = fingerprint

    # -- writing --------------------------------------------------------------------------------
    def write_status(self, sheet_key: str, patch: StatusPatch, *, fingerprint: str | None,
                     now: datetime) -> WriteResult:  # fmt: skip
        return self.write_statuses({sheet_key: patch}, fingerprint=fingerprint, now=now)[sheet_key]

    def sheet_names(self) -> list[str]:
        self._listed = self._metadata()  # the read that follows uses it instead of asking again
        return list(self._listed)

    def current_fingerprint(self) -> str | None:
        return None  # it would take a fetch of every tab; the sheet has no file to swap either

    def write_statuses(self, patches: dict[str, StatusPatch], *, fingerprint: str | None,
                       now: datetime, on_ready: Callable[[str], None] | None = None,
                       ) -> dict[str, WriteResult]:  # fmt: skip
        """Write the patches' cells, finding rows by ID in a fresh read; see the module text.
        (`on_ready` is not called: cells are updated in place, there is no finished file to swap.)"""
        results = {key: WriteResult(unchanged=not p) for key, p in patches.items()}
        todo = {key: p for key, p in patches.items() if p}
        if not todo:
            return results
        if any(key not in self._tables for key in todo):
            self._load()
        sheets = {key: self.config.sheet(key) for key in todo}
        ranges, layout = [], {}
        for key, sheet in sheets.items():
            t = self._tables[key]
            hr = sheet.header_row
            cols = {"id": t.columns[sheet.id_field]}
            for rid_cells in todo[key].cells.values():
                for f in rid_cells:
                    cols[f] = t.columns[f]
            layout[key] = cols
            ranges.append(f"{quote_sheet(sheet.name)}!{hr}:{hr}")
            ranges += [
                f"{quote_sheet(sheet.name)}!{column_letter(c)}:{column_letter(c)}"
                for c in cols.values()
            ]
        params: ParamsType = {**RAW_VALUES, "majorDimension": "COLUMNS"}
        fresh = self._call("read", lambda: self.http.values_batch_get(self.key, ranges, params))
        columns = iter(fresh.get("valueRanges", []))
        data: list[dict[str, Any]] = []
        grow: dict[str, tuple[int, int]] = {}
        for key, sheet in sheets.items():
            header = [c[0] if c else "" for c in next(columns).get("values", [])]
            fetched = {name: _column(next(columns)) for name in layout[key]}
            cells, more = self._cells(key, sheet, todo[key], header, fetched, results[key])
            data += cells
            if any(more):
                grow[sheet.name] = more
        if grow:
            self._grow(grow)
        for chunk in _chunks(data, CELLS_PER_CALL):
            body = {"valueInputOption": "RAW", "data": chunk}
            self._call("write", partial(self.http.values_batch_update, self.key, body))
        self._tables.clear()  # the next read sees what was written
        return results

    def _cells(self, key: str, sheet: SheetConfig, patch: StatusPatch, header: list[Any],
               fetched: dict[str, list[Any]],
               result: WriteResult) -> tuple[list[dict[str, Any]], tuple[int, int]]:  # fmt: skip
        t = self._tables[key]
        hr = sheet.header_row
        hmap = map_headers(sheet, header)
        if hmap.fields.get(sheet.id_field) != t.columns[sheet.id_field]:
            raise WorkbookChanged(f"the columns of {sheet.name!r} in Google Sheet {self.key} moved "
                                  "since sheetcrm read them; nothing was written, the next run "
                                  "reads them again")  # fmt: skip
        ids = [id_text(v) for v in fetched["id"][hr:]]
        rows_of: dict[str, list[int]] = {}
        for i, rid in enumerate(ids):
            if rid:
                rows_of.setdefault(rid, []).append(hr + 1 + i)
        place = dict(hmap.status)
        next_col = max(len(header), self._widths.get(key, 0))
        added = []
        for st in sheet.status:
            if str(st.key) not in place:
                place[str(st.key)] = next_col
                added.append((next_col, st.label))
                next_col += 1
        by_col: dict[int, dict[int, Any]] = {}
        for c, label in added:
            by_col.setdefault(c, {})[hr] = label
        unmoved = bool(patch.new_ids) and _trimmed(ids) == _trimmed(self._raw_ids[key])
        if unmoved:  # rows that get their ID now get their statuses now too (as in a workbook)
            for row, new_id in patch.new_ids.items():
                i = row - hr - 1  # Google leaves trailing empty cells out: a new last row is past
                if i >= len(ids) or not ids[i]:
                    rows_of.setdefault(new_id, []).append(row)
        written: set[str] = set()
        for rid, values in patch.values.items():
            for row in rows_of.get(rid, []):
                for k, v in values.items():
                    by_col.setdefault(place[k], {})[row] = _raw(v)
                written.add(rid)
        read_row = {r: i for i, r in t.ids.items() if r}
        for rid, values in patch.cells.items():
            for row in rows_of.get(rid, []):
                for f, v in values.items():
                    now_value = _at(fetched[f], row - 1)
                    was = t.frame.at[read_row[rid], f] if rid in read_row else None
                    if _same(now_value, was):
                        by_col.setdefault(t.columns[f], {})[row] = _raw(v)
                        written.add(rid)
                    else:
                        result.cells_skipped += 1  # a person changed it since the read: theirs
        if unmoved:  # nobody moved rows: a row without an ID is found by its position
            for row, new_id in patch.new_ids.items():
                by_col.setdefault(t.columns[sheet.id_field], {})[row] = new_id
            result.ids_written = len(patch.new_ids)
        rows_needed = 0
        if patch.append:  # whole new rows (import) below everything the sheet holds
            start = max(self._heights.get(key, 0), hr + len(ids)) + 1
            for i, values in enumerate(patch.append):
                for k, v in values.items():
                    col = place.get(k, t.columns.get(k))
                    if col is not None:
                        by_col.setdefault(col, {})[start + i] = _raw(v)
            result.rows_appended = len(patch.append)
            rows_needed = start + len(patch.append) - 1
        result.rows_written = len(written | set(patch.new_ids.values() if unmoved else ()))
        result.not_found = sorted(set(patch.values) - set(rows_of))
        result.columns_added = [label for _, label in added]
        data = [{"range": f"{quote_sheet(sheet.name)}!{column_letter(c)}{start}:{column_letter(c)}{start + len(run) - 1}",
                 "values": [[v] for v in run]}
                for c, cells in sorted(by_col.items()) for start, run in _runs(cells)]  # fmt: skip
        grid = self._grid.get(sheet.name, {}).get("gridProperties", {})
        grow = (max(0, next_col - int(grid.get("columnCount", 0))),
                max(0, rows_needed - int(grid.get("rowCount", 0))))  # fmt: skip
        return data, grow

    def _grow(self, more: dict[str, tuple[int, int]]) -> None:
        """Add grid columns and rows so what is written fits (a new sheet has 26 × 1000)."""
        requests_ = []
        for name, (columns, rows) in more.items():
            sid = self._grid[name]["sheetId"]
            for dimension, length in (("COLUMNS", columns), ("ROWS", rows)):
                if length:
                    requests_.append({"appendDimension": {"sheetId": sid, "dimension": dimension,
                                                          "length": length}})  # fmt: skip
        self._call("add room to", lambda: self.http.batch_update(self.key, {"requests": requests_}))


# -- helpers ----------------------------------------------------------------------------------------
def _trimmed(values: list[str]) -> list[str]:
    end = len(values)
    while end and not values[end - 1]:
        end -= 1
    return values[:end]


def _column(value_range: dict[str, Any]) -> list[Any]:
    values = value_range.get("values", [])
    return values[0] if values else []


def _at(column: list[Any], i: int) -> Any:
    return column[i] if i < len(column) else ""


def _same(now: Any, was: Any) -> bool:
    def norm(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, datetime | date):
            return str(excel_serial(v))
        return str(v).strip()

    return norm(now) == norm(was)


def _raw(v: Any) -> Any:
    """A value for RAW input: text stays text; dates as ISO text (what people read)."""
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool | int | float | str):
        return v
    return str(v)


def _runs(cells: dict[int, Any]) -> Iterable[tuple[int, list[Any]]]:
    """Contiguous runs of rows: (first row, values)."""
    start, run, last = None, [], None
    for row in sorted(cells):
        if last is not None and row == last + 1:
            run.append(cells[row])
        else:
            if start is not None:
                yield start, run
            start, run = row, [cells[row]]
        last = row
    if start is not None:
        yield start, run


def _chunks(data: list[dict[str, Any]], limit: int) -> Iterable[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for vr in data:
        n = len(vr["values"])
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(vr)
        size += n
    if chunk:
        yield chunk


def _dates_from_serials(table: Table, sheet: SheetConfig) -> None:
    """Serial numbers in date fields become dates (whole days) or datetimes, as calamine gives them
    for Excel's date cells; text typed into a date field stays text for the check to parse."""
    for f in sheet.fields:
        if str(f.type) != "date" or f.key not in table.frame:
            continue
        col = table.frame[f.key]
        numeric = col.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        if numeric.any():
            table.frame.loc[numeric, f.key] = col[numeric].map(_from_serial)


def _from_serial(v: float) -> date | datetime:
    dt = datetime.combine(EXCEL_EPOCH_1900, datetime.min.time()) + timedelta(days=float(v))
    return dt.date() if float(v).is_integer() else dt
