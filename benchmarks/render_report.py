"""Render the weekly report of a demo instance to PNG pages, to look at what managers get.

    .venv/bin/python benchmarks/render_report.py [ROWS]

Builds a demo instance in benchmarks/out/report-demo/, plays four weeks of work (the nightly job
each Monday, customers moving stages and followed up in between), runs the weekly_report job on
2026-11-23, then LibreOffice headless → PDF → pdftoppm → docs/report-pages/page-N.png.
Needs LibreOffice and poppler-utils (`apt-get install libreoffice-calc-nogui poppler-utils`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.demo import advance_demo, generate_demo  # noqa: E402
from sheetcrm.job import run_job  # noqa: E402

START = datetime(2026, 10, 26, 2, 0)  # a Monday; four weeks before the report's Monday


def build(folder: Path, rows: int) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml")
    generate_demo(config, config.workbook_path, rows=rows, seed=11, today=date(2026, 11, 22))
    for week in range(4):
        night = START + timedelta(days=7 * week)
        assert run_job("nightly", config, now=night).ok
        advance_demo(config.workbook_path, config, moves=max(rows // 15, 5),
                     today=(night + timedelta(days=3)).date(), seed=week)  # fmt: skip
    monday = START + timedelta(days=28)
    assert run_job("nightly", config, now=monday).ok
    report = run_job("weekly_report", config, now=monday.replace(hour=7))
    assert report.ok, report.error
    return Path(report.counts["report"])


def render(xlsx: Path, pages: Path) -> list[Path]:
    pdf_dir = xlsx.parent / "pdf"
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(pdf_dir),
                    str(xlsx)], check=True, capture_output=True, timeout=300)  # fmt: skip
    pdf = pdf_dir / (xlsx.stem + ".pdf")
    shutil.rmtree(pages, ignore_errors=True)
    pages.mkdir(parents=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(pages / "page")], check=True)
    return sorted(pages.glob("page-*.png"))


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    xlsx = build(HERE / "out" / "report-demo", rows)
    for page in render(xlsx, ROOT / "docs" / "report-pages"):
        print(page)
