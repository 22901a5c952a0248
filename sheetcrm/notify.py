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

# kinds of notification, most urgent first: an entry (one customer) is as urgent as its most
# urgent reason; reasons are named by their section title (messages.py: section.<kind>)
SECTIONS = (
    "escalation",
    "approval",
    "reminder",
    "catch_up",
    "assignment",
    "trigger",
    "permission",
    "duplicate",
    "derive",
)


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
    sender_name: str | None = (
        None  # From's name when not [mail] sender_name (a customer's: the company)
    )

    def message(self, sender: str, message_id: str, now: datetime, zone: str, *,
                sender_name: str = "sheetcrm") -> EmailMessage:  # fmt: skip
        """The mail as sent. `now` is the team's wall time in `zone` (config.toml's timezone): the
        Date header carries that zone's offset, so a mail client shows the true time. A digest's
        To names the person."""
        msg = EmailMessage()
        msg["From"] = formataddr((self.sender_name or sender_name, sender))
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
    """One digest per person, one mail per customer notification. A digest has one line per
    customer (all reasons together), most urgent first: escalations, reminders about urgent
    records (the sheet's `urgent_when`), approvals waiting, today's reminders, the catch-up list, then the rest; at most
    [mail] digest_cap lines, the rest counted by kind. What a person is copied on (a manager) is a
    summary per rep. `only` limits the digests to one person's name."""
    env = template_env(config)
    people = {p.name: p for p in config.people}
    entries: dict[str, dict[tuple[str, str], Entry]] = {}
    copies: dict[str, dict[str, list[str]]] = {}  # copied person → rep → kinds
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
        rid = str(n["record_id"] or "")
        mine = entries.setdefault(n["recipient"], {})
        entry = mine.setdefault(
            (str(n.get("sheet") or ""), rid), Entry(rid, payload.get("facts") or {})
        )
        entry.add(n["kind"], str(n["subject"] or ""), str(payload.get("text", "")))
        keys.setdefault(n["recipient"], []).append(n["key"])
        for cc in payload.get("cc", []):
            copies.setdefault(cc, {}).setdefault(n["recipient"], []).append(n["kind"])
    loc, cap = config.locale, config.mail.digest_cap
    for name in sorted(set(entries) | set(copies),
                       key=lambda x: list(people).index(x) if x in people else 10**6):  # fmt: skip
        if only is not None and name != only or name not in people or not people[name].active:
            continue
        todo = sorted(entries.get(name, {}).values(), key=lambda e: (e.rank, e.record_id))
        sections: list[dict[str, Any]] = []
        if todo:
            sections.append({"title": text(loc, "digest.todo"), "count": len(todo),
                             "headers": text(loc, "digest.todo_headers").split("|"),
                             "widths": ["14%", "36%", "50%"],
                             "rows": [e.row(loc) for e in todo[:cap]],
                             "links": [str(e.facts.get("link") or "") for e in todo[:cap]]})  # fmt: skip
            rest = todo[cap:]
            if rest:
                by_kind: dict[str, int] = {}
                for e in rest:
                    by_kind[e.first_kind] = by_kind.get(e.first_kind, 0) + 1
                rows = [
                    [text(loc, f"section.{k}"), str(by_kind[k])] for k in SECTIONS if k in by_kind
                ]
                rows.append(
                    [text(loc, "digest.more", count=len(rest)), text(loc, "digest.more_hint")]
                )
                sections.append({"title": text(loc, "digest.rest", count=len(rest)), "count": len(rest),
                                 "headers": text(loc, "digest.rest_headers").split("|"),
                                 "widths": ["45%", "55%"], "rows": rows})  # fmt: skip
        if name in copies:
            reps = copies[name]
            rows = [
                [rep, str(len(kinds)), str(kinds.count("escalation"))]
                for rep, kinds in reps.items()
            ]
            sections.append({"title": text(loc, "section.cc"), "count": sum(len(k) for k in reps.values()),
                             "headers": text(loc, "digest.cc_headers").split("|"),
                             "widths": ["40%", "30%", "30%"], "rows": rows})  # fmt: skip
        context: dict[str, Any] = {
            "subject": text(loc, "digest.subject", day=f"{now:%Y-%m-%d}", count=len(todo)),
            "greeting": text(loc, "digest.greeting", name=name),
            "sections": sections,
            "footer": text(loc, "digest.footer"),
        }
        mails.append(Mail([people[name].email], context["subject"], env.get_template("digest.txt").render(context),
                          env.get_template("digest.html").render(context), keys.get(name, []), name))  # fmt: skip
    return mails


@dataclass
class Entry:
    """One customer in a person's digest: every reason to act on it, and what the sheet says."""

    record_id: str
    facts: dict[str, Any]
    reasons: list[tuple[str, str, str]] = field(default_factory=list)  # kind, subject, text

    def add(self, kind: str, subject: str, body: str) -> None:
        self.reasons.append((kind, subject, body))

    @property
    def rank(self) -> int:
        """Escalations, then reminders about urgent records (the sheet's `urgent_when`: 高意向
        customers), approvals waiting, today's reminders, the catch-up list, the rest."""
        best = 99
        for kind, _, _ in self.reasons:
            r = SECTIONS.index(kind) + 2 if kind in SECTIONS else 50
            if kind in ("reminder", "catch_up") and self.facts.get("urgent"):
                r = 1
            best = min(best, 0 if kind == "escalation" else r)
        return best

    @property
    def first_kind(self) -> str:
        return min((k for k, _, _ in self.reasons), key=_order)

    def row(self, locale: Any) -> list[str]:
        f = self.facts
        where = self.record_id + (text(locale, "digest.row", row=f["row"]) if f.get("row") else "")
        subject = self.reasons[0][1] if self.reasons else ""
        parts = [str(f.get("name") or subject)]
        parts += [str(v) for v in (f.get("stage"), f.get("intent"), f.get("phone")) if v]
        if f.get("since") not in (None, ""):
            parts.append(text(locale, "digest.since", days=f["since"]))
        what = "；".join(f"【{text(locale, f'reason.{k}')}】{b or s}" if k in SECTIONS else (b or s)
                        for k, s, b in sorted(self.reasons, key=lambda r: _order(r[0])))  # fmt: skip
        return [where, " · ".join(parts), what]  # three columns, as digest templates have


def _order(kind: str) -> int:
    return SECTIONS.index(kind) if kind in SECTIONS else 99


def _customer_mail(
    env: Environment, n: dict[str, Any], payload: dict[str, Any], config: Config
) -> Mail:
    template = payload.get("template") or "welcome"
    context = customer_mail_context(config, (payload.get("facts") or {}).get("owner"))
    context.update(subject=str(payload.get("text") or n["subject"]), record_id=n["record_id"])
    return Mail([n["recipient"]], context["subject"], env.get_template(f"{template}.txt").render(context),
                env.get_template(f"{template}.html").render(context), [n["key"]], n["recipient"],
                sender_name=config.mail.company or None)  # fmt: skip


def customer_mail_context(config: Config, owner: str | None) -> dict[str, Any]:
    """What a customer's mail may say of the company and of the customer's own rep (from
    [[people]]); a value not configured is "" and the templates leave its line out."""
    rep = next((p for p in config.people if p.name == owner and p.active), None)
    return {"company": config.mail.company, "brochure": config.mail.brochure_url,
            "rep_name": rep.name if rep else "", "rep_phone": (rep.phone or "") if rep else "",
            "rep_email": rep.email if rep else ""}  # fmt: skip


def customer_mail_gaps(config: Config) -> list[str]:
    """Warnings for `config check`: values a customer mail template shows that are not
    configured (the line is left out of every such mail until they are)."""
    from jinja2 import meta

    env = template_env(config)
    used: set[str] = set()
    for name in ("welcome", "satisfaction"):
        for ext in ("txt", "html"):
            source = env.loader.get_source(env, f"{name}.{ext}")[0] if env.loader else ""
            used |= meta.find_undeclared_variables(env.parse(source))
    gaps = []
    if "company" in used and not config.mail.company:
        gaps.append("[mail] company is not set: customers' mails carry no company name")
    if "brochure" in used and not config.mail.brochure_url:
        gaps.append("[mail] brochure_url is not set: the welcome mail has no brochure link")
    reps = [
        p.name
        for p in config.people
        if p.active and str(p.role) in ("sales", "service") and not p.phone
    ]
    if "rep_phone" in used and reps:
        gaps.append(
            f"[[people]] phone is not set for {'、'.join(reps)}: their customers' mails show no phone"
        )
    return gaps
