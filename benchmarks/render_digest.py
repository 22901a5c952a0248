"""Render a sample digest (HTML) to PNG with headless Chromium, to look at it as a mail client would.

    apt-get install chromium fonts-wqy-zenhei   # once (a CJK font, or the page shows boxes)
    .venv/bin/python benchmarks/render_digest.py docs/digest-sample.png

The sample is 王明's first-morning digest on the bundled 1,000-customer demo (nightly at 02:00 on
2026-11-24), built by the same code and templates as real digests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sheetcrm.config import load_config  # noqa: E402
from sheetcrm.notify import build_mails  # noqa: E402

NOW = datetime(2026, 11, 24, 8, 0)


def main(out: Path) -> None:
    """王明's first-morning digest on the bundled 1,000-customer demo: a real-length one."""
    from datetime import date

    from sheetcrm.demo import generate_demo
    from sheetcrm.job import run_job
    from sheetcrm.store import Store

    work = Path(tempfile.mkdtemp())
    shutil.copyfile(ROOT / "config.toml", work / "config.toml")
    config = load_config(work / "config.toml")
    generate_demo(config, config.workbook_path, rows=1000, seed=1, today=date(2026, 11, 23))
    assert run_job("nightly", config, now=NOW.replace(hour=2)).ok
    pending = Store(config.store_url).notifications("pending")
    mail = next(m for m in build_mails(pending, config, now=NOW) if m.recipient == "王明")
    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "digest.html"
        page.write_text(mail.html, encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={out.resolve()}", "--window-size=800,2300", page.as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "digest-sample.png")
