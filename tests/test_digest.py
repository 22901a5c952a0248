"""Digests and delivery: one mail per person, to the outbox or through yagmail to a real SMTP server
(aiosmtpd on loopback); refusals and a missing server lose nothing and send nothing twice."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.config import Config, load_config
from sheetcrm.mailer import OutboxMailer, SmtpMailer, deliver
from sheetcrm.notify import build_mails
from sheetcrm.store import Store
from sheetcrm.table import Notification

from .conftest import ROOT

NOW = datetime(2026, 11, 23, 8, 0)


def queue(store: Store) -> None:
    """What a night's rules queue: assignments, an approval with a copy, a customer mail."""
    notes = [
        Notification("a1", "assignment", "王明", "customers", "C000001", "新分配给你：<script>alert(1)</script>有限公司",
                     "负责人：王明"),
        Notification("a2", "assignment", "李明", "customers", "C000002", "新分配给你：乙公司", "负责人：李明"),
        Notification("t1", "trigger", "王明", "customers", "C000003", "丙公司：客户进入商务谈判阶段",
                     "客户进入商务谈判阶段", cc=("刘洋",)),
        Notification("r1", "escalation", "王明", "customers", "C000005", "丁公司 意向/需求确认 3 天无跟进",
                     "仍未跟进（已抄送主管）：5 天", cc=("刘洋",)),
        Notification("c1", "customer", "buyer@example.com", "customers", "C000004", "欢迎",
                     "欢迎了解我们的产品", template="welcome"),
    ]  # fmt: skip
    run = store.start_run("check", now=datetime(2026, 11, 23, 2, 0))
    store.commit_run(run, now=datetime(2026, 11, 23, 2, 0), notes=notes)


def with_mail(tmp_path: Path, mail: str) -> Config:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    start = text.index("[mail]")
    end = text.index("[jobs]")
    (tmp_path / "config.toml").write_text(text[:start] + mail + "\n" + text[end:], encoding="utf-8")
    return load_config(tmp_path / "config.toml")


OUTBOX = '[mail]\ntransport = "outbox"\nsender = "crm@example.com"\noutbox_dir = "outbox"\n'


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def test_digests_go_to_the_outbox_once(tmp_path):
    config = with_mail(tmp_path, OUTBOX)
    store = Store(config.store_url)
    queue(store)
    mails = build_mails(store.notifications("pending"), config, now=NOW)
    assert sorted(m.recipient for m in mails) == ["buyer@example.com", "刘洋", "李明", "王明"]
    report = deliver(mails, store, OutboxMailer(tmp_path / "outbox"), config, now=NOW)
    assert sorted(report.sent) == ["buyer@example.com", "刘洋", "李明", "王明"]
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 4
    by_to = {parseaddr(str(parse(f.read_bytes())["To"]))[1]: parse(f.read_bytes()) for f in files}
    wang = by_to["wangming@example.com"]
    assert str(wang["Subject"]) == "sheetcrm 每日摘要 2026-11-23：3 项"
    text = wang.get_body(("plain",)).get_content()
    assert "【今天要处理的客户（最要紧的在前）（3）】" in text  # one line per customer
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert [line.split(" | ")[0] for line in lines] == ["- C000005", "- C000001", "- C000003"]
    assert "【逾期升级】仍未跟进（已抄送主管）：5 天" in lines[0]  # most urgent first
    assert "【新分配】负责人：王明" in lines[1] and "【客户动态】客户进入商务谈判阶段" in lines[2]
    html = wang.get_body(("html",)).get_content()
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;有限公司" in html and "<script>" not in html
    )  # escaped
    assert "<script>alert(1)</script>有限公司" in text  # plain text is plain
    copied = by_to["liuyang@example.com"].get_body(("plain",)).get_content()
    assert "【抄送给你（按负责人汇总）（2）】" in copied and "- 王明 | 2 | 1" in copied  # a summary
    welcome = by_to["buyer@example.com"]
    assert "感谢您对我们产品的关注" in welcome.get_body(("plain",)).get_content()
    assert {n["status"] for n in store.notifications()} == {"sent"}
    # a second run finds nothing to send
    assert build_mails(store.notifications("pending"), config, now=NOW) == []


def test_an_interrupted_run_is_reconciled_from_the_outbox(tmp_path):
    config = with_mail(tmp_path, OUTBOX)
    store = Store(config.store_url)
    queue(store)
    mails = build_mails(store.notifications("pending"), config, now=NOW)
    outbox = OutboxMailer(tmp_path / "outbox")
    # a run died after writing 王明's mail but before recording it, and before 李明's
    wang = next(m for m in mails if m.recipient == "王明")
    li = next(m for m in mails if m.recipient == "李明")
    store.mark_notifications(wang.keys, "sending", message_id="<1@example.com>")
    store.mark_notifications(li.keys, "sending", message_id="<2@example.com>")
    with outbox:
        outbox.send(
            wang.message("crm@example.com", "<1@example.com>", NOW, config.timezone), wang.to
        )
    report = deliver([], store, outbox, config, now=NOW)
    status = {n["key"]: n["status"] for n in store.notifications()}
    assert status["a1"] == "sent" and status["t1"] == "sent"  # it was in the outbox
    assert status["a2"] == "pending" and report.unknown == []  # it was not: sent next time
    again = build_mails(store.notifications("pending"), config, now=NOW)
    assert sorted(m.recipient for m in again) == ["buyer@example.com", "李明"]


class Recorder:
    """An aiosmtpd handler that keeps what it receives and can refuse some recipients."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.refuse = set(refuse)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(handler: Recorder, port: int) -> Iterator[Recorder]:
    """aiosmtpd on loopback for the block."""
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def send_pending(store: Store, config: Config, per_minute: int = 0):
    """What `sheetcrm digest` does over SMTP: everything pending, as digests, one connection."""
    mails = build_mails(store.notifications("pending"), config, now=NOW)
    return deliver(mails, store, SmtpMailer(config, per_minute=per_minute), config, now=NOW)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_config(tmp_path):
    port = free_port()
    config = with_mail(tmp_path, f'[mail]\ntransport = "smtp"\nsender = "crm@example.com"\nhost = "127.0.0.1"\n'
                                 f'port = {port}\nsecurity = "none"\n')  # fmt: skip
    return config, port


def test_yagmail_delivers_to_a_real_smtp_server(smtp_config):
    config, port = smtp_config
    store = Store(config.store_url)
    queue(store)
    handler = Recorder()
    with smtp_server(handler, port):
        report = send_pending(store, config)
    assert report.stopped is None and len(report.sent) == 4
    got = {tuple(rcpts): parse(data) for rcpts, data in handler.received}
    wang = got[("wangming@example.com",)]
    assert str(wang["From"]) == "sheetcrm <crm@example.com>"
    assert str(wang["Subject"]) == "sheetcrm 每日摘要 2026-11-23：3 项"
    assert "王明，你好" in wang.get_body(("plain",)).get_content()
    assert "<table" in wang.get_body(("html",)).get_content()
    assert ("liuyang@example.com",) in got and ("buyer@example.com",) in got


def test_refusals_and_a_missing_server_lose_nothing_and_send_nothing_twice(smtp_config):
    config, port = smtp_config
    store = Store(config.store_url)
    queue(store)
    # no server at all: nothing is sent, everything stays pending, the run says why
    report = send_pending(store, config)
    assert report.sent == [] and "cannot reach the mail server" in (report.stopped or "")
    assert {n["status"] for n in store.notifications()} == {"pending"}

    # the server refuses 李明's mailbox: the others go, his waits
    handler = Recorder(refuse={"liming@example.com"})
    with smtp_server(handler, port):
        report = send_pending(store, config)
        assert sorted(report.sent) == ["buyer@example.com", "刘洋", "王明"]
        assert [who for who, _ in report.failed] == ["李明"]
        handler.refuse.clear()  # the mailbox is fixed; the next run sends only what is left
        report = send_pending(store, config)
    assert report.sent == ["李明"]
    delivered = [tuple(r) for r, _ in handler.received]
    assert sorted(delivered) == sorted(set(delivered))  # nobody got a mail twice
    assert len(delivered) == 4
    assert {n["status"] for n in store.notifications()} == {"sent"}


def test_cli_digest_dry_run_and_send(tmp_path):
    config = with_mail(tmp_path, OUTBOX)
    queue(Store(config.store_url))
    cfg = str(tmp_path / "config.toml")
    out = CliRunner().invoke(cli, ["--config", cfg, "digest", "--dry-run", "--to", "王明"])
    assert out.exit_code == 0, out.output
    assert (
        "--- 将发给 wangming@example.com：sheetcrm 每日摘要" in out.output
        and "试运行，未发送" in out.output
    )
    assert not (tmp_path / "outbox").exists()
    out = CliRunner().invoke(cli, ["--config", cfg, "digest", "--now", "2026-11-23T08:00"])
    assert (
        out.exit_code == 0 and "已通过发件箱文件夹" in out.output and "发送 4 封邮件" in out.output
    )
    again = CliRunner().invoke(cli, ["--config", cfg, "digest"])
    assert "0 封邮件；没有要发送的" in again.output
    bad = CliRunner().invoke(cli, ["--config", cfg, "digest", "--to", "马云"])
    assert bad.exit_code == 1 and "not a person" in bad.output


class Robot:
    """A group-robot webhook on loopback: keeps what is posted, answers like 企业微信."""

    def __init__(self, answer: dict) -> None:
        import http.server
        import json
        import threading

        self.posts: list[dict] = []
        self.paths: list[str] = []  # each post's path and query (a signed DingTalk URL)
        self.answer = answer
        robot = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                robot.posts.append(json.loads(body))
                robot.paths.append(self.path)
                data = json.dumps(robot.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/cgi-bin/webhook/send?key=test"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_digests_posted_to_a_group_robot(tmp_path):
    robot = Robot({"errcode": 0, "errmsg": "ok"})
    try:
        config = with_mail(tmp_path, f'[mail]\ntransport = "webhook"\nsender = "crm@example.com"\n'
                                     f'webhook_url = "{robot.url}"\nwebhook_format = "wecom"\n')  # fmt: skip
        store = Store(config.store_url)
        queue(store)
        out = CliRunner().invoke(
            cli, ["--config", str(tmp_path / "config.toml"), "digest", "--now", "2026-11-23T08:00"]
        )
        assert out.exit_code == 0, out.output
        assert (
            "已通过群机器人" in out.output and "发送 3 封邮件" in out.output
        )  # 王明, 李明, 刘洋; not the customer's mail
        first = next(p for p in robot.posts if "王明，你好" in p["markdown"]["content"])
        assert first["msgtype"] == "markdown"
        assert first["markdown"]["content"].startswith("### sheetcrm 每日摘要 2026-11-23")
        assert "**今天要处理的客户（最要紧的在前）（3）**" in first["markdown"]["content"]
        status = {n["key"]: n["status"] for n in store.notifications()}
        assert status["c1"] == "pending"  # a customer's mail never goes to the team's chat
        # the robot refuses (e.g. a wrong key): the run says so, nothing is marked sent
        robot.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
        queue_more = Notification(
            "a9", "assignment", "王明", "customers", "C000009", "新分配给你：戊公司", ""
        )
        run = store.start_run("check", now=NOW)
        store.commit_run(run, now=NOW, notes=[queue_more])
        out = CliRunner().invoke(cli, ["--config", str(tmp_path / "config.toml"), "digest"])
        assert out.exit_code == 1 and "93000" in out.output
        assert {n["key"]: n["status"] for n in store.notifications()}["a9"] == "pending"
    finally:
        robot.close()


def test_english_digest_and_a_long_one_is_capped(tmp_path):
    config = with_mail(tmp_path, OUTBOX)
    raw = (
        (tmp_path / "config.toml")
        .read_text(encoding="utf-8")
        .replace('locale = "zh_CN"', 'locale = "en"', 1)
    )
    (tmp_path / "config.toml").write_text(raw, encoding="utf-8")
    config = load_config(tmp_path / "config.toml")
    pending = [{"key": f"k{i}", "kind": "reminder", "recipient": "王明", "record_id": f"C{i:06d}",
                "subject": f"客户{i} 高意向：每 2 天跟进", "payload": "{}"} for i in range(150)]  # fmt: skip
    (mail,) = build_mails(pending, config, now=NOW)
    assert mail.subject == "sheetcrm daily digest 2026-11-23: 150 items"
    assert "Hello 王明, here is what needs you" in mail.text
    assert "【Customers to act on today (most urgent first)（150）】" in mail.text
    assert mail.text.count("\n- C") == 30  # [mail] digest_cap customers, then the rest counted
    assert "【120 more customers (by kind)（120）】" in mail.text
    assert "- Follow up today | 120" in mail.text and "120 more customers to act on" in mail.text
    assert len(mail.keys) == 150  # every reminder counts as delivered with the digest


def test_smtp_sends_are_paced(smtp_config):
    import time

    config, port = smtp_config
    store = Store(config.store_url)
    queue(store)
    handler = Recorder()
    with smtp_server(handler, port):
        started = time.monotonic()
        report = send_pending(store, config, per_minute=600)
        elapsed = time.monotonic() - started
    assert len(report.sent) == 4 and elapsed >= 0.3  # 4 mails at 600 a minute: 3 gaps of 0.1 s


def test_the_smtp_password_comes_from_the_environment_or_the_keyring(tmp_path, monkeypatch):
    import keyring
    from keyring.backend import KeyringBackend

    from sheetcrm.mailer import DeliveryError, smtp_password

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    config = with_mail(tmp_path, '[mail]\ntransport = "smtp"\nsender = "crm@example.com"\nhost = "127.0.0.1"\n'
                                 'user = "crm@example.com"\n')  # fmt: skip
    before = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        monkeypatch.delenv("SHEETCRM_SMTP_PASSWORD", raising=False)
        with pytest.raises(DeliveryError, match="keyring set sheetcrm crm@example.com"):
            smtp_password(config)
        keyring.set_password("sheetcrm", "crm@example.com", "from-keyring")
        assert smtp_password(config) == "from-keyring"
        monkeypatch.setenv("SHEETCRM_SMTP_PASSWORD", "from-env")
        assert smtp_password(config) == "from-env"  # the environment wins
    finally:
        keyring.set_keyring(before)


def test_a_server_that_gives_up_mid_batch_loses_nothing(smtp_config):
    config, port = smtp_config
    store = Store(config.store_url)
    queue(store)

    class GivesUp(Recorder):
        gave_up = False

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
            if len(self.received) == 1 and not self.gave_up:  # the second message: shutting down
                self.gave_up = True
                return "421 4.3.0 Service shutting down, closing transmission channel"
            return await super().handle_DATA(server, session, envelope)

    handler = GivesUp()
    with smtp_server(handler, port):
        first = send_pending(store, config)
        assert len(first.failed) >= 1 and len(first.sent) + len(first.failed) <= 4
        pending = {n["recipient"] for n in store.notifications("pending")}
        assert pending  # what was not accepted waits
        second = send_pending(store, config)
    delivered = [tuple(r) for r, _ in handler.received if r]
    assert len(delivered) == 4 and len(set(delivered)) == 4  # everyone once, nobody twice
    assert sorted(first.sent + second.sent) == ["buyer@example.com", "刘洋", "李明", "王明"]
    assert {n["status"] for n in store.notifications()} == {"sent"}


def test_outbox_files_say_for_whom_and_when_and_the_sender_has_its_name(tmp_path):
    """#23 item 7: 20261123-0800-王明-<tag>.eml; From the configured name, To the person's."""
    config = with_mail(tmp_path, OUTBOX + 'sender_name = "星辰科技 客户服务"\n')
    store = Store(config.store_url)
    queue(store)
    mails = build_mails(store.notifications("pending"), config, now=NOW)
    deliver(mails, store, OutboxMailer(tmp_path / "outbox"), config, now=NOW)
    names = sorted(f.name for f in (tmp_path / "outbox").glob("*.eml"))
    assert [n.rsplit("-", 1)[0] for n in names] == [
        "20261123-0800-buyer@example.com", "20261123-0800-刘洋", "20261123-0800-李明", "20261123-0800-王明"]  # fmt: skip
    wang = parse((tmp_path / "outbox" / names[-1]).read_bytes())
    assert str(wang["From"]) == "星辰科技 客户服务 <crm@example.com>"
    assert str(wang["To"]) == "王明 <wangming@example.com>"
    assert build_mails(store.notifications("pending"), config, now=NOW) == []  # sent, once


def test_the_first_morning_on_the_demo_is_short_sorted_and_adds_up(tmp_path):
    """#23: on the bundled 1,000-customer demo every person's first digest has at most
    [mail] digest_cap customers, most urgent first, and what it shows plus what it counts is
    every customer queued for that person."""
    from datetime import date

    from sheetcrm.job import run_job

    from .workbooks import demo_instance

    config = demo_instance(tmp_path / "team", rows=1000, seed=1, today=date(2026, 11, 23))
    assert run_job("nightly", config, now=datetime(2026, 11, 24, 2, 0)).ok
    pending = Store(config.store_url).notifications("pending")
    mails = [m for m in build_mails(pending, config, now=NOW) if m.recipient in
             {p.name for p in config.people}]  # fmt: skip
    cap = config.mail.digest_cap
    assert mails and all(m.subject for m in mails)
    for mail in mails:
        mine = {(n["sheet"], n["record_id"]) for n in pending
                if n["recipient"] == mail.recipient and n["kind"] not in ("customer", "report")}  # fmt: skip
        lines = [line for line in mail.text.splitlines() if line.startswith(("- C", "- R"))]
        assert len(lines) <= cap, mail.recipient
        counted = re.search(r"【另有 (\d+) 位客户（按类别）", mail.text)
        assert len(lines) + (int(counted.group(1)) if counted else 0) == len(mine), mail.recipient
        order = [rank(line) for line in lines]
        assert order == sorted(order), (mail.recipient, order)  # most urgent first


def rank(line: str) -> int:
    """How urgent a digest line is, from its reasons, as a person reading it would sort them:
    escalations, 高意向 reminders, approvals, reminders, catch-ups, the rest."""
    marks = {"【逾期升级】": 0, "【待审批】": 2, "【跟进】": 3, "【补跟进】": 4}
    ranks = [r for m, r in marks.items() if m in line] or [5]
    if "高意向" in line and ("【跟进】" in line or "【补跟进】" in line):
        ranks.append(1)
    return min(ranks)


def test_customer_mails_look_like_the_company_sent_them(tmp_path):
    """#23 item 6: the welcome mail names the company and the customer's own rep (name, phone,
    e-mail from [[people]]); a value not configured leaves its line out; config check says so."""
    mail_cfg = OUTBOX + 'company = "星辰科技有限公司"\nbrochure_url = "https://example.com/b.pdf"\n'
    config = with_mail(tmp_path, mail_cfg)
    welcome = {"key": "w1", "kind": "customer", "recipient": "buyer@example.com", "record_id": "C000004",
               "subject": "欢迎", "payload": json.dumps({"text": "欢迎了解我们的产品", "template": "welcome",
                                                        "facts": {"owner": "王明"}})}  # fmt: skip
    (mail,) = build_mails([welcome], config, now=NOW)
    msg = mail.message("crm@example.com", "<m1@example.com>", NOW, config.timezone)
    body = msg.get_body(("plain",)).get_content()
    assert str(msg["From"]) == "星辰科技有限公司 <crm@example.com>"
    assert "感谢您对星辰科技有限公司产品的关注。您的专属顾问王明会尽快与您联系。" in body
    assert "王明  电话 13800000001  邮箱 wangming@example.com" in body
    assert "产品手册：https://example.com/b.pdf" in body and body.rstrip().endswith(
        "星辰科技有限公司"
    )
    # nothing configured: no empty "产品手册：", no bare address as a signature
    (tmp_path / "bare").mkdir()
    bare = with_mail(tmp_path / "bare", OUTBOX)
    (plain,) = build_mails(
        [{**welcome, "payload": json.dumps({"template": "welcome"})}], bare, now=NOW
    )
    assert "产品手册" not in plain.text and "crm@example.com" not in plain.text
    assert "我们的顾问会尽快与您联系" in plain.text
    from sheetcrm.notify import customer_mail_gaps

    gaps = customer_mail_gaps(bare)
    assert any("[mail] company" in g for g in gaps) and any("brochure_url" in g for g in gaps)
    assert customer_mail_gaps(config) == []  # the bundled [[people]] have phones


def test_each_digest_line_links_to_its_row_on_the_share(tmp_path):
    """#23 item 5: the line's ID opens the workbook where the team opens it (a share), at the
    record's row; the ID and row number are in the text too."""
    from sheetcrm.job import run_job

    from .workbooks import small_instance

    share = "\\\\\\\\fileserver\\\\crm\\\\客户.xlsx"
    config = small_instance(tmp_path, f"sqlite:///{tmp_path / 'state.sqlite'}", replace={
        'sender_name = "客户管理（sheetcrm）"': f'sender_name = "客户管理"\nworkbook_link = "{share}"'})  # fmt: skip
    assert config.mail.workbook_link == "\\\\fileserver\\crm\\客户.xlsx"
    assert run_job("nightly", config, now=datetime(2026, 11, 23, 2, 0)).ok
    pending = Store(config.store_url).notifications("pending")
    (wang,) = [m for m in build_mails(pending, config, now=NOW) if m.recipient == "王明"]
    sheet = urllib.parse.quote("'客户信息'")
    link = f'href="file://fileserver/crm/%E5%AE%A2%E6%88%B7.xlsx#{sheet}!A2"'
    assert link in wang.html, wang.html[:3000]
    assert "C000001（第 2 行）" in wang.text
