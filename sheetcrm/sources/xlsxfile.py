"""What an .xlsx file really is, before anything reads or writes it.

Files arrive renamed (.xls, CSV, ODS or HTML called .xlsx), encrypted (an OLE2 container, not a zip),
damaged, or hostile (an XML entity bomb, a huge shared string). Each gets one clear WorkbookFormatError
here, so the reader and the writer only ever see a well-formed package. Office lock files tell us
someone has the workbook open.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from ..errors import WorkbookError, WorkbookFormatError

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_DOC = "/officeDocument"
# A real sheet XML compresses 5-30x; an entity or zip bomb compresses thousands of times.
MAX_RATIO = 200
RATIO_FLOOR = 50 * 2**20  # small members may compress well; only large ones are judged by ratio
MAX_MEMBER = 6 * 2**30  # a full 1,048,576-row sheet with 40 columns inflates to ~2-3 GiB
EXCEL_MAX_TEXT = 32_767


@dataclass(frozen=True)
class XlsxPackage:
    """The parts of a workbook package sheetcrm needs to know about."""

    path: Path
    sheets: dict[str, str]  # sheet name → zip member of its XML
    sheet_index: dict[str, int]  # sheet name → 0-based position (calcChain's i is 1-based)
    date1904: bool
    strict: bool
    workbook_part: str
    shared_strings: str | None
    calc_chain: str | None


def describe(path: Path) -> str:
    """Return a short name for the file in messages."""
    return f"workbook {path.name!r}"


def sniff(path: Path) -> None:
    """Refuse anything that is not a zip package, saying what it is instead."""
    name = describe(path)
    if path.name.startswith("~$") or (path.name.startswith(".~lock.") and path.name.endswith("#")):
        raise WorkbookFormatError(f"{name} is an Office lock file, not a workbook")
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise WorkbookError(f"{name}: no such file ({path})") from None
    except IsADirectoryError:
        raise WorkbookError(f"{name}: {path} is a folder, not a file") from None
    if head.startswith(ZIP_MAGIC):
        return
    if head.startswith(OLE2_MAGIC):
        if _ole_has_stream(path, "EncryptedPackage"):
            raise WorkbookFormatError(
                f"{name} is an encrypted (password-protected) workbook; sheetcrm cannot read it. "
                "Remove the password in Excel (File > Info > Protect Workbook) and save again"
            )
        raise WorkbookFormatError(
            f"{name} is an old Excel 97-2003 (.xls) file with an .xlsx name; open it in Excel or "
            "WPS and save it as .xlsx (Excel Workbook)"
        )
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if not head.strip():
        raise WorkbookFormatError(f"{name} is empty (0 bytes of data)")
    if text.startswith((b"<html", b"<!doctype html", b"<table", b"<meta")):
        raise WorkbookFormatError(
            f"{name} is a web page (HTML) with an .xlsx name, as some systems export; "
            "open it in Excel and save it as .xlsx"
        )
    if text.startswith(b"<?xml"):
        raise WorkbookFormatError(
            f"{name} is an XML spreadsheet with an .xlsx name; save it as .xlsx (Excel Workbook)"
        )
    if _looks_like_text(head):
        raise WorkbookFormatError(
            f"{name} is a text (CSV) file with an .xlsx name; import it with `sheetcrm import` "
            "or save it from Excel as .xlsx"
        )
    raise WorkbookFormatError(f"{name} is not an Excel workbook (.xlsx)")


def _looks_like_text(head: bytes) -> bool:
    for enc in ("utf-8", "gb18030", "utf-16"):
        try:
            head.decode(enc)
            return b"\x00" not in head or enc == "utf-16"
        except UnicodeDecodeError:
            continue
    return False


def _ole_has_stream(path: Path, stream: str) -> bool:
    """Whether an OLE2 compound file names `stream` in its directory (UTF-16 names)."""
    needle = stream.encode("utf-16-le")
    with path.open("rb") as fh:
        tail = b""
        while chunk := fh.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def open_package(path: Path) -> XlsxPackage:
    """Return the package's layout after the safety checks; WorkbookFormatError if unusable."""
    sniff(path)
    name = describe(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise WorkbookFormatError(f"{name} is damaged (not a readable zip archive)") from None
    with zf:
        names = set(zf.namelist())
        if "mimetype" in names and b"opendocument" in zf.read("mimetype"):
            raise WorkbookFormatError(
                f"{name} is an OpenDocument (.ods) spreadsheet with an .xlsx name; save it as .xlsx"
            )
        check_members(zf, name)
        workbook_part = _workbook_part(zf, names, name)
        root = _parse(zf, workbook_part, name)
        strict = root.tag.startswith("{" + STRICT_NS)
        ns = STRICT_NS if strict else MAIN_NS
        rels = _relationships(zf, workbook_part, name)
        sheets: dict[str, str] = {}
        order: dict[str, int] = {}
        for i, el in enumerate(_first(root, ns, "sheets")):
            rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), "")
            target = rels.get(rid, ("", ""))[1]
            sheets[el.get("name", "")] = target
            order[el.get("name", "")] = i
        pr = root.find(f"{{{ns}}}workbookPr")
        date1904 = pr is not None and pr.get("date1904", "false").lower() in ("1", "true")
        shared = next((t for typ, t in rels.values() if typ.endswith("/sharedStrings")), None)
        calc = next((t for typ, t in rels.values() if typ.endswith("/calcChain")), None)
        if shared:
            _check_shared_strings(zf, shared, name)
    return XlsxPackage(path, sheets, order, date1904, strict, workbook_part, shared, calc)


def check_members(zf: zipfile.ZipFile, name: str) -> None:
    """Refuse zip bombs, XML with a DTD (entity expansion) and encrypted members."""
    for info in zf.infolist():
        if info.flag_bits & 0x1:
            raise WorkbookFormatError(f"{name}: part {info.filename} is encrypted")
        if info.file_size > MAX_MEMBER or (
            info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        ):
            raise WorkbookFormatError(
                f"{name}: part {info.filename} would inflate to {info.file_size:,} bytes from "
                f"{info.compress_size:,}; refused as a possible zip bomb"
            )
        if info.filename.endswith((".xml", ".rels", ".vml")) and info.file_size:
            try:
                with zf.open(info) as fh:
                    head = fh.read(2048)
            except Exception as e:  # BadZipFile, zlib.error, EOFError, OSError
                raise WorkbookFormatError(f"{name} is damaged ({info.filename}: {e})") from None
            if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                raise WorkbookFormatError(
                    f"{name}: part {info.filename} declares XML entities (a DTD), which no Excel "
                    "file needs; refused as unsafe (a possible XML bomb)"
                )


def verify_crc(zf: zipfile.ZipFile, members: list[str], name: str) -> None:
    """Inflate `members` completely, so a bad CRC or a truncated part is found before we rely on it."""
    for member in members:
        try:
            with zf.open(member) as fh:
                while fh.read(1 << 22):
                    pass
        except Exception as e:  # BadZipFile (CRC), zlib.error, EOFError
            raise WorkbookFormatError(f"{name} is damaged ({member}: {e})") from None


def _workbook_part(zf: zipfile.ZipFile, names: set[str], name: str) -> str:
    if "_rels/.rels" in names:
        root = _parse(zf, "_rels/.rels", name)
        for rel in root:
            if rel.get("Type", "").endswith(OFFICE_DOC):
                target = rel.get("Target", "").lstrip("/")
                if target in names:
                    return target
    if "xl/workbook.xml" in names:
        return "xl/workbook.xml"
    raise WorkbookFormatError(f"{name} is a zip file but not an Excel workbook (no workbook part)")


def _relationships(zf: zipfile.ZipFile, part: str, name: str) -> dict[str, tuple[str, str]]:
    """Return Id → (Type, target member path) for `part`'s relationships."""
    p = PurePosixPath(part)
    rels_name = str(p.parent / "_rels" / (p.name + ".rels"))
    if rels_name not in zf.namelist():
        return {}
    out: dict[str, tuple[str, str]] = {}
    for rel in _parse(zf, rels_name, name):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        if target.startswith("/"):
            resolved = target.lstrip("/")
        else:
            resolved = _normalise(str(p.parent / target))
        out[rel.get("Id", "")] = (rel.get("Type", ""), resolved)
    return out


def _normalise(path: str) -> str:
    parts: list[str] = []
    for piece in path.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _parse(zf: zipfile.ZipFile, member: str, name: str) -> Element:
    try:
        return SafeET.fromstring(zf.read(member))
    except KeyError:
        raise WorkbookFormatError(f"{name} is damaged (part {member} is missing)") from None
    except Exception as e:
        raise WorkbookFormatError(f"{name} is damaged ({member} cannot be parsed: {e})") from None


def _first(root: Element, ns: str, tag: str) -> Element:
    el = root.find(f"{{{ns}}}{tag}")
    if el is None:
        raise WorkbookFormatError("the workbook lists no sheets")
    return el


_LONG_TEXT = re.compile(rb">([^<]{%d,})<" % (EXCEL_MAX_TEXT + 1))


def _check_shared_strings(zf: zipfile.ZipFile, member: str, name: str) -> None:
    """Refuse a shared string longer than a cell may hold: thousands of cells sharing one huge
    string would each become a copy of it in memory."""
    with zf.open(member) as fh:
        tail = b""
        while chunk := fh.read(1 << 22):
            block = tail + chunk
            for m in _LONG_TEXT.finditer(block):
                if len(m.group(1).decode("utf-8", "replace")) > EXCEL_MAX_TEXT:
                    raise WorkbookFormatError(
                        f"{name}: a shared text is longer than the {EXCEL_MAX_TEXT:,} characters "
                        "Excel allows in a cell; refused (a damaged or hostile file)"
                    )
            tail = block[-(EXCEL_MAX_TEXT * 4) :]


def lock_owner(path: Path) -> str | None:
    """Return who holds `path` open, if an Excel/WPS or LibreOffice lock file says someone does."""
    folder, name = path.parent, path.name
    candidates = [folder / f"~${name}", folder / f"~${name[2:]}", folder / f".~lock.{name}#"]
    for lock in candidates:
        if not lock.is_file():
            continue
        try:
            data = lock.read_bytes()[:512]
        except OSError:
            return "someone"
        if lock.name.startswith(".~lock."):
            who = data.decode("utf-8", "replace").split(",")[0].strip()
        else:
            who = _office_owner(data)
        return who or "someone"
    return None


def _office_owner(data: bytes) -> str:
    """Excel and WPS owner files: a length byte and the user name, then the name in UTF-16 at 54."""
    if len(data) >= 56:
        n = int.from_bytes(data[54:56], "little")
        if 0 < n < 100 and len(data) >= 56 + 2 * n:
            return data[56 : 56 + 2 * n].decode("utf-16-le", "replace").strip("\x00 ")
    if data and 0 < data[0] < 54:
        return data[1 : 1 + data[0]].decode("gb18030", "replace").strip("\x00 ")
    return ""


def fingerprint(path: Path) -> str:
    """Return the SHA-256 of the file's bytes: what a later write compares against."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()
