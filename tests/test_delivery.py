"""Mail exactly once, also when in doubt: a real SMTP server on loopback (aiosmtpd) that drops the
connection after it has the whole message, refuses every mail with 451, or refuses the login."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import datetime

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.job import run_job
from sheetcrm.store import Store

from .test_digest import Recorder, free_port, queue, smtp_server, with_mail

MORNING = "2026-11-23T08:00"


class DropsAfterData(Recorder):
    """Receives the whole message, then closes the connection without answering (`drops` times)."""

    def __init__(self, drops: int) -> None:
        super().__init__()
        self.drops = drops

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        if self.drops:
            self.drops -= 1
            server.transport.close()  # the "250" never reaches the client
            return "250 OK"
        return "250 Message accepted for delivery"


class Refuses451(Recorder):
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        return "451 4.3.0 Temporary local problem, try again later"


def smtp_instance(tmp_path, extra: str = ""):
    port = free_port()
    config = with_mail(tmp_path, f'[mail]\ntransport = "smtp"\nsender = "crm@example.com"\n'
                                 f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\n{extra}')  # fmt: skip
    queue(Store(config.store_url))
    return config, port


def message_ids(handler: Recorder) -> list[tuple[tuple[str, ...], str]]:
    out = []
    for rcpts, data in handler.received:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out.append((tuple(rcpts), str(msg["Message-ID"])))
    return out


def test_a_mail_in_doubt_is_sent_once_more_with_the_same_message_id(tmp_path):
    config, port = smtp_instance(tmp_path)
    handler = DropsAfterData(drops=1)
    with smtp_server(handler, port):
        report = run_job("digest", config, now=datetime.fromisoformat(MORNING))
    assert report.outcome == "ok", report.error
    got = message_ids(handler)
    assert len(got) == 5  # four people and a customer, the first one twice
    assert got[0] == got[1]  # the copy carries the same Message-ID, so a mail client keeps one
    assert len({rid for _, rid in got}) == 4
    assert report.counts["mails_sent"] == 4 and report.counts["mails_in_doubt"] == 1
    assert {n["status"] for n in Store(config.store_url).notifications()} == {"sent"}
    runs = CliRunner().invoke(cli, ["--config", str(tmp_path / "config.toml"), "runs"])
    assert "1 封不确定是否送达" in runs.output and "same Message-ID" in runs.output


def test_a_mail_in_doubt_twice_is_never_sent_a_third_time(tmp_path):
    config, port = smtp_instance(tmp_path)
    handler = DropsAfterData(drops=2)
    with smtp_server(handler, port):
        report = run_job("digest", config, now=datetime.fromisoformat(MORNING))
        again = run_job("digest", config, now=datetime(2026, 11, 24, 8, 0))
    got = message_ids(handler)
    assert got[0] == got[1] and got.count(got[0]) == 2  # tried twice, then left alone
    # the connection was lost twice: the batch stops, the other mails wait for the next run
    assert report.outcome == "failed" and report.counts["mails_in_doubt"] == 1
    assert again.outcome == "ok" and again.counts["mails_sent"] == 3
    assert len(got) == 5 and len({rid for _, rid in got}) == 4  # nobody got a third copy
    statuses = [n["status"] for n in Store(config.store_url).notifications()]
    assert "unknown" in statuses and "pending" not in statuses


def test_every_mail_refused_fails_the_run_and_keeps_them_pending(tmp_path):
    config, port = smtp_instance(tmp_path)
    with smtp_server(Refuses451(), port):
        report = run_job("digest", config, now=datetime.fromisoformat(MORNING))
        cli_run = CliRunner().invoke(cli, ["--config", str(tmp_path / "config.toml"), "run",
                                           "digest", "--now", MORNING])  # fmt: skip
    assert report.outcome == "failed"
    assert report.error.startswith("the mail server refused every mail (4): (451")
    assert {n["status"] for n in Store(config.store_url).notifications()} == {"pending"}
    run = Store(config.store_url).runs("digest")[-1]
    assert run["outcome"] == "failed" and json.loads(run["counts"])["mails_refused"] == 4
    assert cli_run.exit_code == 1


def test_some_mails_refused_is_a_partly_failed_run(tmp_path):
    config, port = smtp_instance(tmp_path)
    with smtp_server(Recorder(refuse={"liming@example.com"}), port):
        report = run_job("digest", config, now=datetime.fromisoformat(MORNING))
    assert report.outcome == "partly failed" and not report.ok
    assert report.counts["mails_sent"] == 3 and report.counts["mails_refused"] == 1
    assert "3 mail(s) sent, 1 refused" in (report.error or "")


def test_a_wrong_password_says_the_login_was_refused(tmp_path, monkeypatch):
    config, port = smtp_instance(tmp_path, 'user = "crm@example.com"\n')
    monkeypatch.setenv(config.mail.password_env, "wrong")

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        return AuthResult(success=False, handled=False)

    controller = Controller(Recorder(), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        report = run_job("digest", config, now=datetime.fromisoformat(MORNING))
    finally:
        controller.stop()
    assert report.outcome == "failed"
    assert f"the mail server 127.0.0.1:{port} refused the login for crm@example.com (535" in (
        report.error or ""
    )
    assert "cannot reach" not in (report.error or "")


def test_the_date_header_is_the_true_instant_of_the_run(tmp_path):
    """A run at 08:00 in Asia/Shanghai is 00:00 UTC: the Date header says +0800 (it said +0000 with
    the local hour, so a Beijing mail client showed 16:00)."""
    from email.utils import parsedate_to_datetime
    from zoneinfo import ZoneInfo

    from .test_digest import OUTBOX

    config = with_mail(tmp_path, OUTBOX)
    queue(Store(config.store_url))
    assert run_job("digest", config, now=datetime.fromisoformat(MORNING)).outcome == "ok"
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert files
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        when = parsedate_to_datetime(str(msg["Date"]))
        assert when == datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert str(msg["Date"]).endswith("+0800")
