"""Copying zip members unchanged (what the workbook rewrite does with every part it does not edit):
the raw copy over zipfile's writer state, probed on this Python, and the public-API fallback used
where a Python keeps that state differently. Both give a zip that Python and LibreOffice read."""

from __future__ import annotations

import zipfile

import pytest

from sheetcrm.sources.xlsxpatch import copy_member_raw, raw_copy_works


def source_zip(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/styles.xml", "<styleSheet/>" * 500)
        z.writestr("docProps/app.xml", "应用程序" * 100)
        info = zipfile.ZipInfo("media/image1.png", date_time=(2024, 3, 15, 9, 30, 0))
        info.compress_type = zipfile.ZIP_STORED
        z.writestr(info, bytes(range(256)) * 40)
    return path


def test_this_python_keeps_the_writer_state_the_raw_copy_needs():
    assert raw_copy_works()  # CI's Python: the fast path is the one used


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "public-api"])
def test_members_copied_unchanged(tmp_path, raw):
    src_path = source_zip(tmp_path / "src.zip")
    dst_path = tmp_path / "dst.zip"
    with zipfile.ZipFile(src_path) as src, zipfile.ZipFile(dst_path, "w") as dst:
        for info in src.infolist():
            copy_member_raw(src, info, dst, raw=raw)
        dst.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")  # a member written after them
    with zipfile.ZipFile(src_path) as a, zipfile.ZipFile(dst_path) as b:
        assert b.testzip() is None
        assert b.namelist() == [*a.namelist(), "xl/worksheets/sheet1.xml"]
        for info in a.infolist():
            copied = b.getinfo(info.filename)
            assert b.read(info.filename) == a.read(info.filename)
            assert (copied.compress_type, copied.date_time) == (info.compress_type, info.date_time)
            if raw:  # the compressed bytes themselves, not re-deflated
                assert copied.compress_size == info.compress_size and copied.CRC == info.CRC
