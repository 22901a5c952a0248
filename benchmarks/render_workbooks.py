"""Render what staff and managers open, to look at it: the team's workbook after a night (its first
page), the 填写说明 sheet of the template, the error list and the duplicate review workbook.

    .venv/bin/python benchmarks/render_workbooks.py [ROWS]

Builds a demo instance in benchmarks/out/workbooks-demo/, runs the nightly job and `sheetcrm
dedupe`, then LibreOffice headless → PDF → pdftoppm (first page of each) → docs/pictures/*.png.
The report's pages are benchmarks/render_report.py. Needs LibreOffice and poppler-utils.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.demo import generate_demo  # noqa: E402
from sheetcrm.job import StepOptions, run_job, run_steps  # noqa: E402
from sheetcrm.templates import build_template  # noqa: E402

WORK = HERE / "out" / "workbooks-demo" / "render"


def first_page(xlsx: Path, png: Path, sheet_only: str | None = None,
               crop: tuple[int, int, int, int] | None = None) -> Path:  # fmt: skip
    """The first printed page of `xlsx` (of one sheet: the others removed first) as `png`; with
    `crop` (x, y, width, height at 300 dpi) only that part, enlarged: a sheet printed one page
    wide is too small to read whole."""
    work = WORK
    work.mkdir(parents=True, exist_ok=True)
    source = xlsx
    if sheet_only is not None:
        import openpyxl

        wb = openpyxl.load_workbook(xlsx)
        for ws in list(wb):
            if ws.title != sheet_only:
                wb.remove(ws)
        source = work / f"{xlsx.stem}-{sheet_only}.xlsx"
        wb.save(source)
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(work),
                    str(source)], check=True, capture_output=True, timeout=300)  # fmt: skip
    pdf = work / (source.stem + ".pdf")
    area = ["-r", "300", "-x", str(crop[0]), "-y", str(crop[1]), "-W", str(crop[2]), "-H",
            str(crop[3])] if crop else ["-r", "80"]  # fmt: skip
    subprocess.run(["pdftoppm", "-png", *area, "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(png.with_suffix(""))], check=True)  # fmt: skip
    return png


def main(rows: int) -> list[Path]:
    folder = HERE / "out" / "workbooks-demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    shutil.copytree(ROOT / "templates" / "email", folder / "templates" / "email")
    config = load_config(folder / "config.toml")
    generate_demo(config, config.workbook_path, rows=rows, seed=11, today=date(2026, 11, 22))
    assert run_job("nightly", config, now=datetime(2026, 11, 23, 2, 0)).ok
    review = folder / "reports" / "review.xlsx"
    done = run_steps("dedupe", lambda job: job.review_duplicates(job.read()), config,
                     now=datetime(2026, 11, 23, 9, 0), options=StepOptions(out=review))  # fmt: skip
    assert done.ok, done.error
    out = ROOT / "docs" / "pictures"
    out.mkdir(parents=True, exist_ok=True)
    template = build_template(config, folder / "template.xlsx")
    (errors,) = (folder / "reports").glob("校验错误清单-*.xlsx")
    return [
        first_page(config.workbook_path, out / "workbook.png", "客户信息"),
        first_page(
            config.workbook_path, out / "workbook-ids.png", "客户信息", (180, 170, 900, 420)
        ),
        first_page(
            config.workbook_path, out / "workbook-status.png", "客户信息", (2200, 170, 1300, 420)
        ),  # fmt: skip
        first_page(template, out / "instructions.png", "填写说明"),
        first_page(errors, out / "error-list.png"),
        first_page(review, out / "review.png", None, (150, 150, 1500, 300)),
    ]


if __name__ == "__main__":
    for page in main(int(sys.argv[1]) if len(sys.argv) > 1 else 200):
        print(page)
