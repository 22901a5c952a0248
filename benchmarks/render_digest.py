"""Render a sample digest (HTML) to PNG with headless Chromium, to look at it as a mail client would.

    apt-get install chromium   # once
    .venv/bin/python benchmarks/render_digest.py docs/digest-sample.png

The sample is built from the same templates and code as real digests, with queued notifications of
every kind (and a customer name with markup in it, which must show as text).
"""

from __future__ import annotations

import json
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

NOW = datetime(2026, 11, 23, 8, 0)
SAMPLE = [
    (
        "escalation",
        "C000105",
        "上海明远科技有限公司 意向/需求确认 3 天无跟进",
        "仍未跟进（已抄送主管）：5 天",
        ["刘洋"],
    ),
    (
        "reminder",
        "C000231",
        "杭州云启信息有限公司 高意向：每 2 天跟进",
        "该跟进了：距上次联系 4 天",
        [],
    ),
    (
        "reminder",
        "C000318",
        "苏州恒通机械有限公司 到了计划跟进日",
        "到了计划跟进日：2026-11-23",
        [],
    ),
    (
        "approval",
        "C000412",
        "待你审批：南京博雅教育",
        "large contract（需销售经理审批，请在「审批人」填写你的名字）",
        [],
    ),
    (
        "assignment",
        "C000520",
        "新分配给你：<b>宁波</b>海润贸易有限公司",
        "负责人：王明（规则：IT leads to 王明）",
        [],
    ),
    ("trigger", "C000601", "无锡华信软件：客户进入商务谈判阶段", "客户进入商务谈判阶段", ["刘洋"]),
    ("duplicate", "C000777", "疑似重复客户：合肥新源科技", "C000777 与 C000120 同手机号", []),
]


def main(out: Path) -> None:
    config = load_config(ROOT / "config.toml")
    pending = [{"key": f"k{i}", "kind": kind, "recipient": "王明", "record_id": rid, "subject": subject,
                "payload": json.dumps({"text": text, "cc": cc}, ensure_ascii=False)}
               for i, (kind, rid, subject, text, cc) in enumerate(SAMPLE)]  # fmt: skip
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
                        f"--screenshot={out.resolve()}", "--window-size=800,1100", page.as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "digest-sample.png")
