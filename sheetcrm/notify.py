"""Digests: everything queued for one person becomes one mail; a customer mail is its own mail.

Notifications are queued in the store by the rules (assignments, approvals, triggers, ...). Here
they are grouped per recipient into sections, rendered from Jinja2 templates in templates/email/
(the instance's own folder first, then the bundled one) as HTML (inline styles, a table per section,
autoescaped: cell values are text, never markup) and plain text.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .config import Config
from .instance import instance_files
from .messages import text

# kinds of notification, in the order their sections appear (titles in messages.py: section.<kind>)
SECTIONS = (
    "escalation",
    "reminder",
    "catch_up",
    "approval",
    "assignment",
    "trigger",
    "permission",
    "duplicate",
    "derive",
    "cc",
)
MAX_ROWS = 100  # per section: a digest is read, not searched; the sheet has the rest


@dataclass
class Mail:
    """One mail to send: who, what, and which queued notifications it carries."""

    to: list[str]
    subject: str
    text: str
    html: str
    keys: list[str]
    recipient: str  # a person's name, or the customer's address (copies go in the copied person's own digest)
    attachments: list[Path] = field(default_factory=list)

    def message(self, sender: str, message_id: str, now: datetime, zone: str, *,
                sender_name: str = "sheetcrm") -> EmailMessage:  # fmt: skip
        """The mail as sent. `now` is the team's wall time in `zone` (config.toml's timezone): the
        Date header carries that zone's offset, so a mail client shows the true time. A digest's
        To names the person."""
        msg = EmailMessage()
        msg["From"] = formataddr((sender_name, sender))
        named = self.recipient not in self.to and len(self.to) == 1
        msg["To"] = formataddr((self.recipient, self.to[0])) if named else ", ".join(self.to)
        msg["Subject"] = self.subject
        when = now if now.tzinfo is not None else now.replace(tzinfo=ZoneInfo(zone))
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = message_id
        # quoted-printable: lines stay under SMTP's 1000-octet limit whatever the HTML looks like
        msg.set_content(self.text, cte="quoted-printable")
        msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        for path in self.attachments:
            maintype, subtype = (
                mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            ).split("/")
            msg.add_attachment(
                path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
            )
        return msg


def template_env(config: Config) -> Environment:
    folders = [config.path("templates/email"), instance_files().templates / "email"]
    return Environment(
        loader=FileSystemLoader([str(f) for f in folders if Path(f).is_dir()]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


OWN_MAIL = {"report"}  # kinds a job mails itself (with an attachment), never in a digest


def build_mails(pending: list[dict[str, Any]], config: Config, *, now: datetime,
                only: str | None = None, customers: bool = True) -> list[Mail]:  # fmt: skip
    """One digest per person (their notifications, and those they are copied on), one mail per
    customer notification. `only` limits the digests to one person's name."""
    env = template_env(config)
    people = {p.name: p for p in config.people}
    per_person: dict[str, dict[str, list[list[str]]]] = {}
    keys: dict[str, list[str]] = {}
    mails: list[Mail] = []
    for n in pending:
        if n["kind"] in OWN_MAIL:
            continue  # the job that queued it sends it itself
        payload = json.loads(n.get("payload") or "{}")
        if n["kind"] == "customer":
            if only is None and customers:
                mails.append(_customer_mail(env, n, payload, config))
            continue
        row = [str(n["record_id"] or ""), str(n["subject"] or ""), str(payload.get("text", ""))]
        per_person.setdefault(n["recipient"], {}).setdefault(n["kind"], []).append(row)
        keys.setdefault(n["recipient"], []).append(n["key"])
        for cc in payload.get("cc", []):
            per_person.setdefault(cc, {}).setdefault("cc", []).append(row)
    for name in sorted(per_person, key=lambda x: list(people).index(x) if x in people else 10**6):
        if only is not None and name != only or name not in people or not people[name].active:
            continue
        kinds = per_person[name]
        count = sum(len(v) for v in kinds.values())
        loc = config.locale
        headers = text(loc, "digest.headers").split("|")
        sections = [{"title": text(loc, f"section.{kind}"), "headers": headers, "count": len(kinds[kind]),
                     "rows": _cap(kinds[kind], loc)} for kind in SECTIONS if kind in kinds]  # fmt: skip
        context: dict[str, Any] = {
            "subject": text(loc, "digest.subject", day=f"{now:%Y-%m-%d}", count=count),
            "greeting": text(loc, "digest.greeting", name=name),
            "sections": sections,
            "footer": text(loc, "digest.footer"),
        }
        mails.append(Mail([people[name].email], context["subject"], env.get_template("digest.txt").render(context),
                          env.get_template("digest.html").render(context), keys.get(name, []), name))  # fmt: skip
    return mails


def _cap(rows: list[list[str]], locale: Any) -> list[list[str]]:
    if len(rows) <= MAX_ROWS:
        return rows
    more = text(locale, "digest.more", count=len(rows) - MAX_ROWS)
    return rows[:MAX_ROWS] + [["…", more, text(locale, "digest.more_hint")]]


def _customer_mail(
    env: Environment, n: dict[str, Any], payload: dict[str, Any], config: Config
) -> Mail:
    template = payload.get("template") or "welcome"
    context = {"subject": str(payload.get("text") or n["subject"]), "record_id": n["record_id"],
               "company": config.mail.sender, "brochure": config.mail.brochure_url}  # fmt: skip
    return Mail([n["recipient"]], context["subject"], env.get_template(f"{template}.txt").render(context),
                env.get_template(f"{template}.html").render(context), [n["key"]], n["recipient"])  # fmt: skip
