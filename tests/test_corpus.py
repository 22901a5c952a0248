"""Write-back into real-world workbooks made by Excel, WPS, LibreOffice, gnumeric and others.

For each file in ../shared/corpus a one-sheet config is made from the first sheet with a text header
row; sheetcrm reads it, writes three status columns for every row, and then every other zip part must
be byte-identical, every other cell's XML identical, and LibreOffice must open the result. Files that
are encrypted, damaged or hostile must be refused with the original untouched.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from sheetcrm.config import parse_config
from sheetcrm.errors import WorkbookError
from sheetcrm.sources.cells import column_index
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.sources.xlsxfile import open_package
from sheetcrm.table import StatusPatch

from .conftest import SHARED

CORPUS = SHARED / "corpus"
FILES = sorted(p.name for p in CORPUS.glob("*.xls*")) if CORPUS.is_dir() else []
NOW = datetime(2026, 11, 23, 2, 0)
REFUSED = {  # file: why it must be refused
    "cal__pass_protected.xlsx": "encrypted",
    "poi__clusterfuzz-testcase-minimized-POIXSSFFu.xlsx": "damaged",
    "poi__poc-xmlbomb.xlsx": "XML entities",
    "poi__poc-shared-strings.xlsx": "longer than",
    "cal__strict_iso_paths.xlsx": "Strict Open XML",
}
STATUS_LABELS = {
    "validation": "sheetcrm校验",
    "problems": "sheetcrm问题",
    "last_checked": "sheetcrm检查",
}
_CELL = re.compile(rb'<(?:\w+:)?c r="([A-Z]+)(\d+)"[^>]*?(?:/>|>.*?</(?:\w+:)?c>)', re.S)


def _first_header(path: Path) -> tuple[str, int, str] | None:
    """Return (sheet name, header row, ID column label) of the first sheet with a text header."""
    with CalamineWorkbook.from_path(str(path)) as wb:
        for name in wb.sheet_names:
            try:
                ws = wb.get_sheet_by_name(name)
                rows = ws.to_python(skip_empty_area=False, nrows=60)
            except Exception:
                continue
            for r, row in enumerate(rows, start=1):
                texts = [str(v).strip() for v in row if isinstance(v, str) and v.strip()]
                unique = [t for t in texts if texts.count(t) == 1 and len(t) < 80]
                if not unique:
                    continue
                col = next(
                    i for i, v in enumerate(row) if isinstance(v, str) and v.strip() == unique[0]
                )
                below = [x for x in rows[r:] if col < len(x) and x[col] not in ("", None)]
                if below:  # a header with data under it
                    return name, r, unique[0]
    return None


def _config(tmp: Path, sheet: str, header_row: int, label: str):
    raw = {
        "source": "book.xlsx",
        "sheets": [{
            "key": "s", "name": sheet, "id_field": "rid", "id_prefix": "X", "header_row": header_row,
            "fields": [{"key": "rid", "label": label}],
            "status": [{"key": k, "label": v} for k, v in STATUS_LABELS.items()],
        }],
    }  # fmt: skip
    return parse_config(raw, base_dir=tmp)


def _cells(xml: bytes) -> dict[tuple[int, int], bytes]:
    return {
        (int(m.group(2)), column_index(m.group(1).decode())): m.group(0)
        for m in _CELL.finditer(xml)
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """Copy every corpus file, write status into it (or see it refused); return the written ones."""
    out: dict[str, Path] = {}
    tmp = tmp_path_factory.mktemp("corpus")
    for name in FILES:
        if name in REFUSED:
            continue
        path = tmp / name
        shutil.copyfile(CORPUS / name, path)
        out[name] = path
    return out


@pytest.mark.skipif(not FILES, reason="../shared/corpus is not present")
@pytest.mark.parametrize("name", [n for n in FILES if n not in REFUSED])
def test_status_written_into_real_workbooks_changes_nothing_else(name, written, tmp_path):
    path = written[name]
    found = _first_header(path)
    if found is None:
        pytest.skip(f"{name}: no sheet has a text header row with data below it")
    sheet, header_row, label = found
    config = _config(tmp_path, sheet, header_row, label)
    before = path.read_bytes()
    pkg = open_package(path)
    target = pkg.sheets[sheet]
    with zipfile.ZipFile(path) as zf:
        parts_before = {n: zf.read(n) for n in zf.namelist()}
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    table = src.read("s")
    patch = StatusPatch(values={i: {"validation": "✓", "problems": f"检查 {i}"[:100], "last_checked": NOW}
                                for i in table.ids if i})  # fmt: skip
    try:
        result = src.write_status("s", patch, fingerprint=table.fingerprint, now=NOW)
    except WorkbookError as e:  # a refusal is acceptable only if it is clear and harmless
        assert path.read_bytes() == before
        pytest.fail(f"{name}: refused: {e}")
    assert result.rows_written == len(patch.values) or result.not_found == []
    with zipfile.ZipFile(path) as zf:
        parts_after = {n: zf.read(n) for n in zf.namelist()}
    assert set(parts_after) == set(parts_before)
    for part, data in parts_before.items():
        if part != target:
            assert parts_after[part] == data, f"{name}: {part} changed"
    status_cols = set(ExcelSource(path, config).read("s").status_columns.values())
    old, new = _cells(parts_before[target]), _cells(parts_after[target])
    for (r, c), xml in old.items():
        if c not in status_cols:
            assert new.get((r, c)) == xml, f"{name}: cell {(r, c)} changed"
    again = src.read("s")
    assert len(status_cols) == 3
    for row, rid in again.ids.items():
        if rid in patch.values:
            assert again.status.loc[row, "validation"] == "✓"


@pytest.mark.skipif(not FILES, reason="../shared/corpus is not present")
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_broken_and_hostile_real_workbooks_are_refused_untouched(name, tmp_path):
    path = tmp_path / name
    shutil.copyfile(CORPUS / name, path)
    before = path.read_bytes()
    found = _first_header(path) if name == "cal__strict_iso_paths.xlsx" else None
    sheet, row, label = found or ("Sheet1", 1, "ID")
    src = ExcelSource(path, _config(tmp_path, sheet, row, label), backup_dir=tmp_path / "bk")
    with pytest.raises(WorkbookError, match=REFUSED[name]):
        src.write_status(
            "s", StatusPatch(values={"1": {"validation": "✓"}}), fingerprint=None, now=NOW
        )
    assert path.read_bytes() == before


@pytest.mark.libreoffice
@pytest.mark.skipif(not FILES, reason="../shared/corpus is not present")
def test_libreoffice_opens_every_written_corpus_workbook(written, tmp_path, libreoffice):
    # runs after the write tests above (pytest keeps file order); all in one LibreOffice start
    paths = sorted(written.values())
    pdfs = libreoffice(paths, "pdf", tmp_path / "pdf")
    assert len(pdfs) == len(paths) and all(p.stat().st_size > 0 for p in pdfs)
