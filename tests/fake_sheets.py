"""A small Google Sheets API v4 server on loopback, over an in-memory grid, for tests.

It speaks the calls sheetcrm makes, in Google's shapes: spreadsheets.get, values.get / batchGet /
update / batchUpdate, and spreadsheets.batchUpdate (addSheet, updateSheetProperties,
setDataValidation, addProtectedRange, appendDimension, repeatCell, updateDimensionProperties).
Errors come back as Google's JSON (`{"error": {"code", "message", "status"}}`). A test can make the
next calls fail (`fail_next(429, 3)`), take permission away (`forbid()`), sort a sheet between a read
and a write (`sort`), and count the calls (`calls`).

Values are kept as Google keeps them: numbers, text, booleans; dates as serial numbers. With RAW
input a text stays text; with USER_ENTERED a text starting with "=" becomes a formula (kept as
`Formula`), so a test can prove that nothing sheetcrm wrote became one. Writing outside a sheet's
grid (26 columns, 1000 rows unless grown) is refused as Google refuses it.

    server = FakeSheets.start()
    server.add_spreadsheet("KEY", {"Sheet1": [["a", "b"], [1, 2]]})
    gspread.Client(None, session=EndpointSession(server.url))
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Formula:
    text: str


@dataclass
class Sheet:
    sheet_id: int
    title: str
    rows: list[list[Any]]
    row_count: int = 1000
    column_count: int = 26
    frozen_rows: int = 0
    validations: list[dict[str, Any]] = field(default_factory=list)
    protected: list[dict[str, Any]] = field(default_factory=list)

    def cell(self, r: int, c: int) -> Any:
        return self.rows[r][c] if r < len(self.rows) and c < len(self.rows[r]) else ""

    def put(self, r: int, c: int, value: Any) -> None:
        while len(self.rows) <= r:
            self.rows.append([])
        row = self.rows[r]
        while len(row) <= c:
            row.append("")
        row[c] = value


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip
MESSAGES = {429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per "
                 "minute per user' of service 'sheets.googleapis.com'.",
            403: "The caller does not have permission", 500: "Internal error encountered.",
            503: "The service is currently unavailable."}  # fmt: skip


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def col_letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


A1 = re.compile(r"^(?:'((?:[^']|'')+)'|([^!]+?))(?:!(.+))?$")
CELL = re.compile(r"^([A-Z]*)(\d*)$")


class Spreadsheet:
    def __init__(self, key: str, sheets: dict[str, list[list[Any]]]) -> None:
        self.key = key
        self.sheets: dict[str, Sheet] = {}
        for i, (title, rows) in enumerate(sheets.items()):
            self.sheets[title] = Sheet(i * 1000 + 7, title, [list(r) for r in rows],
                                       row_count=max(1000, len(rows)),
                                       column_count=max([26, *(len(r) for r in rows)]))  # fmt: skip

    def by_id(self, sheet_id: int) -> Sheet:
        for s in self.sheets.values():
            if s.sheet_id == sheet_id:
                return s
        raise ApiError(400, f"No grid with id: {sheet_id}")

    def parse(self, a1: str) -> tuple[Sheet, int, int, int | None, int | None]:
        """Sheet, first row, first column, last row, last column (0-based, inclusive; None: open)."""
        m = A1.match(a1)
        if not m:
            raise ApiError(400, f"Unable to parse range: {a1}")
        title = (m[1] or "").replace("''", "'") if m[1] is not None else m[2]
        if title not in self.sheets:
            raise ApiError(400, f"Unable to parse range: {a1}")
        sheet = self.sheets[title]
        if not m[3]:
            return sheet, 0, 0, None, None
        parts = m[3].split(":")
        a = CELL.match(parts[0])
        b = CELL.match(parts[-1])
        if not a or not b:
            raise ApiError(400, f"Unable to parse range: {a1}")
        r1 = int(a[2]) - 1 if a[2] else 0
        c1 = col_index(a[1]) if a[1] else 0
        r2 = int(b[2]) - 1 if b[2] else None
        c2 = col_index(b[1]) if b[1] else None
        return sheet, r1, c1, r2, c2


class FakeSheets:
    """The server: spreadsheets by key, a call log, and switches for faults."""

    def __init__(self) -> None:
        self.books: dict[str, Spreadsheet] = {}
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self.forbidden = False
        self.lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None

    # -- control --------------------------------------------------------------------------------
    @classmethod
    def start(cls) -> FakeSheets:
        fake = cls()
        fake.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        threading.Thread(target=fake.httpd.serve_forever, daemon=True).start()
        return fake

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_spreadsheet(self, key: str, sheets: dict[str, list[list[Any]]]) -> Spreadsheet:
        self.books[key] = Spreadsheet(key, sheets)
        return self.books[key]

    def fail_next(self, code: int, times: int = 1) -> None:
        self._failures += [code] * times

    def forbid(self, forbidden: bool = True) -> None:
        self.forbidden = forbidden

    def sort(
        self, key: str, title: str, column: int, *, reverse: bool = False, header: int = 1
    ) -> None:
        """Sort a sheet's data rows by a column, as a person would in the browser."""
        sheet = self.books[key].sheets[title]
        head, body = sheet.rows[:header], sheet.rows[header:]
        body.sort(key=lambda r: str(r[column]) if column < len(r) else "", reverse=reverse)
        sheet.rows = head + body

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)

    # -- API ----------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        m = re.match(r"^/v4/spreadsheets/([^/:]+)(.*)$", path)
        if not m:
            raise ApiError(404, f"Unknown path {path}")
        key, rest = m[1], unquote(m[2])
        kind = self._kind(method, rest)
        with self.lock:
            self.calls.append((kind, rest))
            if body is not None:
                self.bodies.append(body)
            if self._failures:
                code = self._failures.pop(0)
                raise ApiError(code, MESSAGES.get(code, "error"))
            if key not in self.books:
                raise ApiError(404, "Requested entity was not found.")
            if self.forbidden:
                raise ApiError(403, MESSAGES[403])
            book = self.books[key]
            return getattr(self, "_" + kind)(book, rest, query, body)

    @staticmethod
    def _kind(method: str, rest: str) -> str:
        if rest == "" and method == "GET":
            return "get"
        if rest == ":batchUpdate" and method == "POST":
            return "batch_update"
        if rest == "/values:batchGet" and method == "GET":
            return "values_batch_get"
        if rest == "/values:batchUpdate" and method == "POST":
            return "values_batch_update"
        if rest.startswith("/values/") and method == "GET":
            return "values_get"
        if rest.startswith("/values/") and method == "PUT":
            return "values_update"
        raise ApiError(404, f"Method not found: {method} {rest}")

    def _get(self, book: Spreadsheet, rest: str, query: Any, body: Any) -> Any:
        sheets = []
        for i, s in enumerate(book.sheets.values()):
            grid = {"rowCount": s.row_count, "columnCount": s.column_count}
            if s.frozen_rows:
                grid["frozenRowCount"] = s.frozen_rows
            sheets.append({"properties": {"sheetId": s.sheet_id, "title": s.title, "index": i,
                                          "sheetType": "GRID", "gridProperties": grid},
                           "protectedRanges": s.protected})  # fmt: skip
        return {"spreadsheetId": book.key, "properties": {"title": "sheetcrm test"},
                "sheets": sheets}  # fmt: skip

    def _values(self, book: Spreadsheet, a1: str, query: dict[str, list[str]]) -> dict[str, Any]:
        sheet, r1, c1, r2, c2 = book.parse(a1)
        last_r = len(sheet.rows) - 1 if r2 is None else min(r2, len(sheet.rows) - 1)
        width = max((len(r) for r in sheet.rows), default=0)
        last_c = width - 1 if c2 is None else c2
        formatted = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0] == "FORMATTED_VALUE"
        rows = []
        for r in range(r1, last_r + 1):
            row = [sheet.cell(r, c) for c in range(c1, last_c + 1)]
            row = [(v.text if isinstance(v, Formula) else v) for v in row]
            if formatted:
                row = ["" if v == "" else str(v) for v in row]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        if query.get("majorDimension", ["ROWS"])[0] == "COLUMNS":
            n = max((len(r) for r in rows), default=0)
            cols = [[r[c] if c < len(r) else "" for r in rows] for c in range(n)]
            for col in cols:
                while col and col[-1] == "":
                    col.pop()
            rows = cols
        out: dict[str, Any] = {
            "range": a1,
            "majorDimension": query.get("majorDimension", ["ROWS"])[0],
        }
        if rows:
            out["values"] = rows
        return out

    def _values_get(self, book: Spreadsheet, rest: str, query: Any, body: Any) -> Any:
        return self._values(book, rest[len("/values/") :], query)

    def _values_batch_get(self, book: Spreadsheet, rest: str, query: Any, body: Any) -> Any:
        return {"spreadsheetId": book.key,
                "valueRanges": [self._values(book, a1, query) for a1 in query.get("ranges", [])]}  # fmt: skip

    def _write(self, book: Spreadsheet, a1: str, values: list[list[Any]], option: str) -> int:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption")
        sheet, r1, c1, _, _ = book.parse(a1)
        n = 0
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                r, c = r1 + i, c1 + j
                if r >= sheet.row_count or c >= sheet.column_count:
                    raise ApiError(400, f"Range ({sheet.title}!{col_letters(c)}{r + 1}) exceeds grid "
                                        f"limits. Max rows: {sheet.row_count}, max columns: "
                                        f"{sheet.column_count}")  # fmt: skip
                if option == "USER_ENTERED" and isinstance(v, str) and v.startswith("="):
                    v = Formula(v)
                sheet.put(r, c, v)
                n += 1
        return n

    def _values_update(self, book: Spreadsheet, rest: str, query: Any, body: Any) -> Any:
        a1 = rest[len("/values/") :]
        n = self._write(book, a1, body.get("values", []), query.get("valueInputOption", [""])[0])
        return {"spreadsheetId": book.key, "updatedRange": a1, "updatedCells": n}

    def _values_batch_update(self, book: Spreadsheet, rest: str, query: Any, body: Any) -> Any:
        option = body.get("valueInputOption", "")
        # all or nothing, as Google applies a batch: check every range before writing any
        for vr in body.get("data", []):
            sheet, r1, c1, _, _ = book.parse(vr["range"])
            rows = vr.get("values", [])
            if rows and (
                r1 + len(rows) > sheet.row_count or c1 + max(map(len, rows)) > sheet.column_count
            ):
                raise ApiError(400, f"Range ({vr['range']}) exceeds grid limits. Max rows: "
                                    f"{sheet.row_count}, max columns: {sheet.column_count}")  # fmt: skip
        total = sum(self._write(book, vr["range"], vr.get("values", []), option)
                    for vr in body.get("data", []))  # fmt: skip
        return {"spreadsheetId": book.key, "totalUpdatedCells": total}

    def _batch_update(self, book: Spreadsheet, rest: str, query: Any, body: Any) -> Any:
        replies = []
        for i, req in enumerate(body.get("requests", [])):
            ((name, spec),) = req.items()
            if name == "addSheet":
                title = spec["properties"]["title"]
                if title in book.sheets:
                    raise ApiError(400, f'Invalid requests[{i}].addSheet: A sheet with the name '
                                        f'"{title}" already exists.')  # fmt: skip
                sid = max([s.sheet_id for s in book.sheets.values()] + [0]) + 1
                book.sheets[title] = Sheet(sid, title, [])
                replies.append({"addSheet": {"properties": {"sheetId": sid, "title": title,
                                "gridProperties": {"rowCount": 1000, "columnCount": 26}}}})  # fmt: skip
                continue
            if name == "updateSheetProperties":
                sheet = book.by_id(spec["properties"]["sheetId"])
                grid = spec["properties"].get("gridProperties", {})
                sheet.frozen_rows = grid.get("frozenRowCount", sheet.frozen_rows)
            elif name == "setDataValidation":
                sheet = book.by_id(spec["range"]["sheetId"])
                sheet.validations.append(spec)
            elif name == "addProtectedRange":
                sheet = book.by_id(spec["protectedRange"]["range"]["sheetId"])
                sheet.protected.append(spec["protectedRange"])
            elif name == "appendDimension":
                sheet = book.by_id(spec["sheetId"])
                if spec["dimension"] == "COLUMNS":
                    sheet.column_count += spec["length"]
                else:
                    sheet.row_count += spec["length"]
            elif name in ("repeatCell", "updateDimensionProperties", "updateCells"):
                book.by_id(spec["range"]["sheetId"])
            else:
                raise ApiError(400, f"Invalid requests[{i}]: unknown request {name}")
            replies.append({})
        return {"spreadsheetId": book.key, "replies": replies}


def _handler(fake: FakeSheets) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                code, payload = 200, fake.handle(method, parts.path, query, body)
            except ApiError as e:
                code = e.code
                payload = {"error": {"code": e.code, "message": e.message,
                                     "status": STATUS.get(e.code, HTTPStatus(e.code).phrase)}}  # fmt: skip
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._serve("PUT")

    return Handler
