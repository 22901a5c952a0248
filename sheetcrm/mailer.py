"""Delivery: the outbox folder (default, nothing leaves the machine) or SMTP through yagmail.

A mail's notifications are marked `sending` with its Message-ID before it goes out and `sent` only
after the server accepted it; a refusal puts them back to `pending` for the next run. A run that
died between the two is reconciled at the start of the next one: in the outbox the .eml file says
whether it went; over SMTP it cannot be known, so such mails are marked `unknown` and reported,
never sent twice.

A connection lost after the server received the whole message (the final "." of DATA went out,
its answer never came) leaves the mail *in doubt*: it may have been delivered. It is sent once
more over a new connection with the same Message-ID and Date, so mail clients that see both keep
one; if that fails too it is marked `unknown` and never sent again. Runs count them.

yagmail is used to connect and log in (SSL, STARTTLS, or no login on a trusted relay). The message
itself is built with the standard library and handed to the connection as bytes: yagmail's own
`send` would attach any content string that happens to be a file path, does not escape text put in
HTML, and on a dropped connection sleeps, retries and returns False instead of raising.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import json
import os
import re
import smtplib
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Protocol

import yagmail

from .config import Config
from .errors import SheetCRMError
from .notify import Mail
from .store import Store

# the server refused this one mail (a mailbox, its content, the sender): the others may go on
REFUSED_ONE = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused)


class DeliveryError(SheetCRMError):
    """The mail server cannot be reached or refuses everything: the rest waits for the next run."""


class PartlyDelivered(SheetCRMError):
    """Some mails went, the server refused others: those wait for the next run."""


class MailInDoubt(smtplib.SMTPServerDisconnected):
    """The server had the whole message but its answer never came: it may have been delivered."""


class Mailer(Protocol):
    """A transport: `send` raises OSError or smtplib.SMTPException when a mail is not accepted;
    `delivered` says whether a message ID went out (None: cannot know)."""

    def send(self, message: EmailMessage, recipients: list[str]) -> None: ...
    def delivered(self, message_id: str) -> bool | None: ...
    def reconnect(self) -> None: ...
    def __enter__(self) -> Mailer: ...
    def __exit__(self, *exc: object) -> None: ...


class OutboxMailer:
    """Writes each mail as an .eml file (exactly what would be sent), atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> OutboxMailer:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def _tag(message_id: str) -> str:
        """A short, stable tag of the Message-ID: the end of each file name."""
        return hashlib.sha1(message_id.strip().encode()).hexdigest()[:10]

    def _path(self, message: EmailMessage) -> Path:
        """Named so a person sees when and for whom: 20261202-0800-王明-<tag>.eml."""
        when = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
        stamp = f"{when:%Y%m%d-%H%M}-" if when is not None else ""
        names = getaddresses([str(message["To"] or "")])
        who = (names[0][0] or names[0][1]) if names else ""
        who = "".join(ch if ch.isalnum() or ch in "-._@" else "_" for ch in who)[:60]
        return self.folder / f"{stamp}{who}-{self._tag(str(message['Message-ID']))}.eml"

    def send(self, message: EmailMessage, recipients: list[str]) -> None:
        path = self._path(message)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        os.replace(tmp, path)

    def delivered(self, message_id: str) -> bool | None:
        return any(self.folder.glob(f"*-{self._tag(message_id)}.eml"))

    def reconnect(self) -> None:
        return None


KEYRING_SERVICE = "sheetcrm"


def smtp_password(config: Config) -> str:
    """The SMTP password: the environment variable named by mail.password_env, else the system
    keyring (service "sheetcrm", the SMTP user), e.g. `keyring set sheetcrm crm@example.com`."""
    mail = config.mail
    password = os.environ.get(mail.password_env)
    if not password:
        import keyring
        from keyring.errors import KeyringError

        try:
            password = keyring.get_password(KEYRING_SERVICE, mail.user or "")
        except KeyringError:
            password = None
    if not password:
        raise DeliveryError(f"no SMTP password for {mail.user}: set the environment variable {mail.password_env} "
                            f"or store it with `keyring set {KEYRING_SERVICE} {mail.user}`")  # fmt: skip
    return password


class SmtpMailer:
    """One connection for the whole batch, at most `per_minute` mails a minute."""

    def __init__(self, config: Config, *, per_minute: int | None = None) -> None:
        mail = config.mail
        per_minute = mail.per_minute if per_minute is None else per_minute
        password = smtp_password(config) if mail.user else None
        self.sender = mail.sender
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._last = 0.0
        self.client = yagmail.SMTP(
            user=mail.user or mail.sender, password=password, host=mail.host, port=mail.port,
            smtp_ssl=mail.security == "ssl", smtp_starttls=mail.security == "starttls",
            smtp_skip_login=not mail.user, timeout=30,
        )  # fmt: skip

    def __enter__(self) -> SmtpMailer:
        self._connect()
        return self

    def _connect(self) -> None:
        where = f"{self.client.host}:{self.client.port}"
        try:
            self.client.login()
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(
                f"the mail server {where} refused the login for {self.client.user} "
                f"({e.smtp_code} {_text(e.smtp_error)}); check the SMTP password"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(f"the mail server {where} offers no login (AUTH); leave [mail] user "
                                "empty for a relay that needs none, or use security = "
                                "\"starttls\" or \"ssl\"") from None  # fmt: skip
        except (OSError, smtplib.SMTPException) as e:
            raise DeliveryError(f"cannot reach the mail server {where}: {e}") from e

    def reconnect(self) -> None:
        try:
            self.client.close()
        except (OSError, smtplib.SMTPException):
            pass
        self._connect()

    def __exit__(self, *exc: object) -> None:
        try:
            self.client.close()
        except (OSError, smtplib.SMTPException):
            pass  # the connection is gone already

    def send(self, message: EmailMessage, recipients: list[str]) -> None:
        """smtplib's sendmail in its steps, so that a connection lost after the final "." of DATA
        (MailInDoubt: the server may have the mail) is told apart from one lost before it."""
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        smtp = self.client.smtp
        data = message.as_bytes(policy=email.policy.SMTP)
        smtp.ehlo_or_helo_if_needed()
        code, resp = smtp.mail(self.sender)
        if code != 250:
            _reset(smtp, code)
            raise smtplib.SMTPSenderRefused(code, resp, self.sender)
        refused = {}
        for rcpt in recipients:
            code, resp = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, resp)
        if len(refused) == len(recipients):
            _reset(smtp, max(c for c, _ in refused.values()))
            raise smtplib.SMTPRecipientsRefused(refused)
        smtp.putcmd("data")
        code, resp = smtp.getreply()
        if code != 354:
            _reset(smtp, code)
            raise smtplib.SMTPDataError(code, resp)
        body = DOT_AT_LINE_START.sub(b"..", data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        try:
            code, resp = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            raise MailInDoubt(f"the connection was lost after the mail was handed over: {e}") from e
        self._last = time.monotonic()
        if code != 250:
            _reset(smtp, code)
            raise smtplib.SMTPDataError(code, resp)

    def delivered(self, message_id: str) -> bool | None:
        return None  # a server does not say what it accepted earlier


DOT_AT_LINE_START = re.compile(rb"(?m)^\.")  # SMTP's dot-stuffing (RFC 5321 4.5.2)


def _reset(smtp: smtplib.SMTP, code: int = 0) -> None:
    """After a refusal: RSET for the next mail, or (421, the server is closing the channel) close,
    as smtplib's sendmail does."""
    try:
        smtp.close() if code == 421 else smtp.rset()
    except (OSError, smtplib.SMTPException):
        pass


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class WebhookRefused(OSError):
    """The robot answered with an error (bad key, rate limit): the batch stops, nothing is lost."""


class WebhookMailer:
    """Posts each digest to a group robot (企业微信, 钉钉 or 飞书 JSON formats): to the robot of the
    person's team when `teams` has one (a team's digests to its own group), else to `url`. With a
    `secret` each post is signed as the platform documents it (DingTalk: timestamp and sign in the
    URL, HMAC-SHA256 of "timestamp\\nsecret" keyed by the secret; Feishu: timestamp and sign in the
    body, HMAC-SHA256 keyed by "timestamp\\nsecret" over nothing). A DingTalk `keyword` is put in
    every message that lacks it."""

    def __init__(self, url: str, fmt: str, *, timeout: float = 15, secret: str | None = None,
                 keyword: str | None = None, teams: dict[str, str] | None = None,
                 team_of: dict[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.url, self.format, self.timeout = url, fmt, timeout
        self.secret, self.keyword, self.clock = secret, keyword, clock
        self.teams, self.team_of = teams or {}, team_of or {}  # team → URL; address → team

    def __enter__(self) -> WebhookMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def payload(self, message: EmailMessage, recipients: list[str]) -> dict[str, object]:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        title = str(message["Subject"])
        markdown = f"### {title}\n" + "\n".join(
            f"**{line[1:-1]}**" if line.startswith("【") and line.endswith("】") else line
            for line in text.splitlines()[1:])  # fmt: skip
        if self.format == "dingtalk":
            if self.keyword and self.keyword not in markdown:
                markdown = f"{self.keyword} {markdown}"
            return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
        if self.format == "feishu":
            return {"msg_type": "text", "content": {"text": text}}  # its first line is the title
        return {"msgtype": "markdown", "markdown": {"content": markdown}}

    def target(self, recipients: list[str]) -> str:
        """The robot for this digest: the recipient's team's, else the default one."""
        team = next((self.team_of[r] for r in recipients if r in self.team_of), None)
        return self.teams.get(team or "", self.url)

    def signed(self, url: str, payload: dict[str, object]) -> tuple[str, dict[str, object]]:
        if not self.secret:
            return url, payload
        if self.format == "dingtalk":
            stamp = str(round(self.clock() * 1000))
            digest = hmac.new(
                self.secret.encode(), f"{stamp}\n{self.secret}".encode(), hashlib.sha256
            )
            sign = urllib.parse.quote_plus(base64.b64encode(digest.digest()))
            return f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}", payload
        if self.format == "feishu":
            stamp = str(int(self.clock()))
            digest = hmac.new(f"{stamp}\n{self.secret}".encode(), b"", hashlib.sha256)
            return url, {
                "timestamp": stamp,
                "sign": base64.b64encode(digest.digest()).decode(),
                **payload,
            }
        return url, payload  # 企业微信 robots are not signed

    def send(self, message: EmailMessage, recipients: list[str]) -> None:
        url, payload = self.signed(self.target(recipients), self.payload(message, recipients))
        data = json.dumps(payload, ensure_ascii=False).encode()
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
            answer = json.loads(response.read() or b"{}")
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
        if code not in (0, None):
            raise WebhookRefused(f"the robot refused the message: {answer}")

    def delivered(self, message_id: str) -> bool | None:
        return None

    def reconnect(self) -> None:
        return None


def mailer_for(config: Config) -> Mailer:
    if config.mail.transport == "smtp":
        return SmtpMailer(config)
    if config.mail.transport == "webhook":
        mail = config.mail
        assert mail.webhook_url is not None
        secret = os.environ.get(mail.webhook_secret_env) if mail.webhook_secret_env else None
        if mail.webhook_secret_env and not secret:
            raise DeliveryError(f"[mail] webhook_secret_env: the environment variable "
                                f"{mail.webhook_secret_env} is not set; the robot's posts "
                                "cannot be signed")  # fmt: skip
        team_of = {p.email: p.team for p in config.people if p.team}
        return WebhookMailer(mail.webhook_url, mail.webhook_format, secret=secret,
                             keyword=mail.webhook_keyword, teams=mail.team_webhooks, team_of=team_of)  # fmt: skip
    return OutboxMailer(config.path(config.mail.outbox_dir))


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)  # recipients
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient, why): pending again
    unknown: list[str] = field(default_factory=list)  # message IDs that may or may not have gone
    in_doubt: list[str] = field(default_factory=list)  # recipients whose mail was sent once more
    stopped: str | None = None  # why the batch stopped early (server gone)

    def warnings(self) -> list[str]:
        """What a person must know about the mails that did not go (the sent ones are counted)."""
        out = [f"not sent to {who} (will retry next run): {why}" for who, why in self.failed]
        if self.in_doubt:
            out.append(f"{len(self.in_doubt)} mail(s) were in doubt (the connection was lost after "
                       "the server had them) and were sent once more with the same Message-ID: "
                       + ", ".join(self.in_doubt))  # fmt: skip
        if self.unknown:
            out.append(f"{len(self.unknown)} mail(s) may or may not have been sent (a run was "
                       "interrupted, or the connection was lost twice); they are not sent again")  # fmt: skip
        return out

    def problem(self) -> SheetCRMError | None:
        """How the delivery failed as a whole (server gone, every mail refused), or partly."""
        if self.stopped:
            return DeliveryError(self.stopped)
        if self.failed and not self.sent:
            return DeliveryError(f"the mail server refused every mail ({len(self.failed)}): "
                                 f"{self.failed[0][1]}; they wait for the next run")  # fmt: skip
        if self.failed:
            return PartlyDelivered(f"{len(self.sent)} mail(s) sent, {len(self.failed)} refused by the "
                                   "mail server; those wait for the next run")  # fmt: skip
        return None


def destination(config: Config) -> str:
    """Where mail goes, in words: the outbox folder, the SMTP host or the group robot."""
    mail = config.mail
    return {"outbox": str(config.path(mail.outbox_dir)), "smtp": mail.host or "",
            "webhook": "the group robot"}[mail.transport]  # fmt: skip


def deliver(mails: list[Mail], store: Store, mailer: Mailer, config: Config,
            *, now: datetime) -> DeliveryReport:  # fmt: skip
    """Send the mails over one connection, recording each in the store around the send."""
    report = DeliveryReport()
    _reconcile(store, mailer, report)
    domain = config.mail.sender.split("@", 1)[1]
    try:
        with mailer:
            for mail in mails:
                message_id = make_msgid(domain=domain)
                store.mark_notifications(mail.keys, "sending", message_id=message_id)
                message = mail.message(config.mail.sender, message_id, now, config.timezone,
                                       sender_name=config.mail.sender_name)  # fmt: skip
                doubt = False
                try:
                    try:
                        mailer.send(message, mail.to)
                    except MailInDoubt:
                        doubt = True
                        mailer.reconnect()
                        mailer.send(message, mail.to)  # the same Message-ID and Date: once more
                except (OSError, smtplib.SMTPException, DeliveryError) as e:
                    if doubt:  # it may have gone the first time: never a third try
                        store.mark_notifications(mail.keys, "unknown", message_id=message_id)
                        report.unknown.append(message_id)
                    else:
                        store.mark_notifications(mail.keys, "pending")  # tried again next run
                        report.failed.append((mail.recipient, str(e)))
                    if isinstance(e, REFUSED_ONE):
                        continue  # this mail was refused; the connection still serves the others
                    report.stopped = f"the mail server went away: {e}"
                    break
                store.mark_notifications(mail.keys, "sent", message_id=message_id, sent_at=now)
                report.sent.append(mail.recipient)
                if doubt:
                    report.in_doubt.append(mail.recipient)
    except DeliveryError as e:
        report.stopped = str(e)
    return report


def _reconcile(store: Store, mailer: Mailer, report: DeliveryReport) -> None:
    """Mails a crashed run left `sending`: sent if the outbox has them, else pending; over SMTP
    unknown (reported, not resent)."""
    for row in store.notifications("sending"):
        known = mailer.delivered(row["message_id"] or "")
        if known is None:
            store.mark_notifications([row["key"]], "unknown", message_id=row["message_id"])
            report.unknown.append(row["message_id"] or "")
        else:
            store.mark_notifications([row["key"]], "sent" if known else "pending",
                                     message_id=row["message_id"] if known else None)  # fmt: skip


__all__ = [
    "DeliveryError",
    "DeliveryReport",
    "MailInDoubt",
    "PartlyDelivered",
    "Mailer",
    "OutboxMailer",
    "SmtpMailer",
    "deliver",
    "destination",
    "mailer_for",
]
