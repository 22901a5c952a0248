"""config.toml, parsed into typed models and checked completely at load time.

A typo in config must fail when the admin runs `sheetcrm config check`, not at 2 a.m. halfway through a
run, so every error names the TOML key path and what was expected.

| config.toml                                   | model                          |
|-----------------------------------------------|--------------------------------|
| `source = "data/customers.xlsx"`              | `Config.source` (path or gsheet://) |
| `[[people]] name = "王明" role = "sales"`     | `Person`                       |
| `[[sheets]] key = "customers" name = "客户信息"` | `SheetConfig`               |
| `[[sheets.fields]] key = "mobile" type = "phone"` | `Field`                    |
| `[[sheets.status]] key = "problems" label = "问题说明"` | `StatusColumn`       |
| `[jobs] nightly = "every day at 02:00"`       | `Config.jobs` (`Schedule`)     |
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic import (
    Field as PydField,
)

from .errors import ConfigError
from .expr import (
    CHINESE_QUOTES,
    QUOTE_HINT,
    Compiled,
    Condition,
    ExprError,
    compile_condition,
    compile_expression,
    kind_of,
)
from .messages import Locale, text
from .phrasing import phrase
from .text import fold_label

Identifier = Annotated[str, PydField(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Strict(BaseModel):
    """Base for config models: unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldType(StrEnum):
    text = "text"
    long_text = "long_text"
    choice = "choice"
    multi_choice = "multi_choice"
    date = "date"
    number = "number"
    money = "money"
    phone = "phone"
    email = "email"
    credit_code = "credit_code"
    member = "member"
    rating = "rating"
    link = "link"


_TYPE_WIDTH = {
    FieldType.date: 13, FieldType.money: 14, FieldType.long_text: 30, FieldType.phone: 16,
    FieldType.email: 24, FieldType.credit_code: 22, FieldType.multi_choice: 18,
}  # fmt: skip
# status columns as wide as what they hold (审批状态 says 待审批（需销售经理：大额合同）)
_STATUS_WIDTH = {
    "validation": 10, "problems": 40, "duplicate_of": 12, "duplicate_reason": 30,
    "lead_score": 10, "lead_label": 12, "rule_notes": 32, "approval": 30, "next_reminder": 12,
    "last_followup": 12, "contact_count": 10, "last_checked": 18,
}  # fmt: skip
NUMERIC_TYPES = {FieldType.number, FieldType.money, FieldType.rating}
CHOICE_TYPES = {FieldType.choice, FieldType.multi_choice}
TEXT_TYPES = {FieldType.text, FieldType.long_text, FieldType.link}


class Role(StrEnum):
    sales = "sales"
    sales_manager = "sales_manager"
    sales_director = "sales_director"
    marketing = "marketing"
    service = "service"
    admin = "admin"


# what teams call the roles (the catalogue's Chinese names): 销售经理 in config.toml is sales_manager
ROLE_ALIASES = {text("zh_CN", f"role.{r}"): str(r) for r in Role}


def role_alias(value: Any) -> Any:
    return ROLE_ALIASES.get(value.strip(), value) if isinstance(value, str) else value


RoleName = Annotated[Role, BeforeValidator(role_alias)]


class StatusKey(StrEnum):
    """The status columns only sheetcrm writes."""

    validation = "validation"
    problems = "problems"
    duplicate_of = "duplicate_of"
    duplicate_reason = "duplicate_reason"
    lead_score = "lead_score"
    lead_label = "lead_label"
    rule_notes = "rule_notes"
    approval = "approval"
    next_reminder = "next_reminder"
    last_followup = "last_followup"
    contact_count = "contact_count"
    last_checked = "last_checked"


class Field(Strict):
    """One column people fill in.

    | key            | meaning                                          | example                   |
    |----------------|--------------------------------------------------|---------------------------|
    | key, label     | code name, and the header people see             | "mobile", "联系电话"       |
    | type           | one of FieldType                                 | "phone"                   |
    | required       | must not be empty                                | true                      |
    | required_if    | must not be empty when the condition holds       | 'customer_type == "企业客户"' |
    | choices        | allowed values (choice, multi_choice)            | ["高意向", "中意向"]        |
    | pattern        | regular expression the text must match           | '^C\\d{6}$'               |
    | min, max       | range (number, money, rating)                    | 0, 5                      |
    | max_length     | characters at most (text types)                  | 200                       |
    | not_before_today | a date may not lie in the past                 | true                      |
    | unique         | no two rows share a value                        | true                      |
    | default        | value a new row is given                         | "普通客户"                 |
    | references     | the value is an ID in another sheet              | "customers"               |
    | roles          | member fields: only people with these roles      | ["sales"]                 |
    | allow_landline | phone fields: fixed lines allowed, not only mobiles | true                   |
    | help           | the hint shown in the header comment             | "11位手机号"               |
    | width          | column width in the template                     | 16                        |
    """

    key: Identifier
    label: str = PydField(min_length=1)
    type: FieldType = FieldType.text
    required: bool = False
    required_if: str | None = None
    choices: list[str] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = PydField(default=None, gt=0, le=32767)
    not_before_today: bool = False
    unique: bool = False
    default: str | float | int | None = None
    references: str | None = None
    roles: list[RoleName] | None = None
    allow_landline: bool = False
    help: str | None = None
    width: float | None = PydField(default=None, gt=0, le=255)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _options_fit_type(self) -> Field:
        t = self.type
        if t in CHOICE_TYPES:
            if not self.choices:
                raise ValueError(f"a {t} field needs a non-empty 'choices' list")
            folded = [fold_label(c) for c in self.choices]
            if len(set(folded)) != len(folded):
                raise ValueError(f"'choices' has a repeated value: {self.choices}")
        elif self.choices is not None:
            raise ValueError(f"'choices' is only for choice and multi_choice fields, not {t}")
        if self.pattern is not None and t not in TEXT_TYPES | {FieldType.credit_code}:
            raise ValueError(f"'pattern' is only for text fields, not {t}")
        if (self.min is not None or self.max is not None) and t not in NUMERIC_TYPES:
            raise ValueError(f"'min'/'max' are only for number, money and rating fields, not {t}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        if self.max_length is not None and t not in TEXT_TYPES:
            raise ValueError(f"'max_length' is only for text fields, not {t}")
        if self.not_before_today and t is not FieldType.date:
            raise ValueError(f"'not_before_today' is only for date fields, not {t}")
        if self.roles is not None and t is not FieldType.member:
            raise ValueError(f"'roles' is only for member fields, not {t}")
        if self.allow_landline and t is not FieldType.phone:
            raise ValueError(f"'allow_landline' is only for phone fields, not {t}")
        if self.default is not None:
            if t is FieldType.choice and self.default not in (self.choices or []):
                raise ValueError(
                    f"default {self.default!r} is not among the choices {self.choices}"
                )
            if t in NUMERIC_TYPES and not isinstance(self.default, int | float):
                raise ValueError(f"default of a {t} field must be a number, not {self.default!r}")
        if self.required and self.required_if:
            raise ValueError("give either 'required' or 'required_if', not both")
        return self

    @property
    def header(self) -> str:
        """The header cell text: required fields carry a leading '*', as Chinese forms do."""
        return f"*{self.label}" if self.required else self.label

    def column_width(self) -> float:
        """How wide its column is shown (the template, the review workbook): `width`, else a
        width for its type, else one for its label."""
        if self.width:
            return self.width
        return _TYPE_WIDTH.get(self.type, max(10, min(2.2 * len(self.label) + 4, 30)))

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """Return (min, max); ratings default to 1..5."""
        if self.type is FieldType.rating:
            return (
                self.min if self.min is not None else 1,
                self.max if self.max is not None else 5,
            )
        return (self.min, self.max)


class StatusColumn(Strict):
    """A column only sheetcrm writes. The template puts it at the right, or right after the field
    `after` names (校验结果 beside the ID, seen without scrolling); in a workbook it is found by
    its label (or an `aliases` entry: a header an older template wrote) wherever people moved it."""

    key: StatusKey
    label: str = PydField(min_length=1)
    width: float | None = PydField(default=None, gt=0, le=255)
    after: Identifier | None = None
    aliases: list[str] = PydField(default_factory=list)

    def column_width(self) -> float:
        """How wide the template makes it: `width`, else one for what the column holds."""
        if self.width:
            return self.width
        return _STATUS_WIDTH.get(str(self.key), max(10, 2.2 * len(self.label) + 3))


class MatchKind(StrEnum):
    """How a field tells two records of one customer apart (see sheetcrm/linkage.py)."""

    exact = "exact"  # an equal value is the same customer (e-mail, credit code, ID number)
    phone = "phone"  # the same, for phone numbers (typed any way: the check made them E.164)
    name = "name"  # the customer's name: legal forms, regions and brackets do not count
    person = "person"  # a person's name (contact, surname): no evidence where it is the name
    address = "address"  # province, city and district prefixes and floor/room suffixes do not count


DEFAULT_THRESHOLD = 0.9


class DedupeConfig(Strict):
    """How to find duplicate records in a sheet.

    | key             | meaning                                                     | example                  |
    |-----------------|-------------------------------------------------------------|--------------------------|
    | fields          | which fields identify a record, and how (exact, phone, name, person, address) | {name = "name", mobile = "phone"} |
    | threshold       | how sure two records must be to be marked (0.9 = 90% sure)  | 0.9                      |
    | region_prefixes | place names dropped from the start of names                 | ["北京", "上海"]           |
    | legal_suffixes  | legal forms dropped from the end of names                   | ["有限公司"]              |
    """

    fields: dict[Identifier, MatchKind] = PydField(min_length=1)
    threshold: float = PydField(default=DEFAULT_THRESHOLD, ge=0.5, lt=1)
    region_prefixes: list[str] | None = None
    legal_suffixes: list[str] | None = None
    decisions_sheet: Identifier | None = None  # where people record 不是重复 / 是重复

    @model_validator(mode="before")
    @classmethod
    def _old_form(cls, data: Any) -> Any:
        """The weighted form before #25 (exact + fuzzy with weights) is refused with the line
        that replaces it, so a team's config says what to write."""
        if isinstance(data, dict) and ("fuzzy" in data or "exact" in data or "window" in data):
            phone_like = ("phone", "mobile", "tel")
            guess = {str(k): "phone" if any(p in str(k) for p in phone_like) else "exact"
                     for k in data.get("exact") or []}  # fmt: skip
            for i, m in enumerate(data.get("fuzzy") or []):
                field = str(m.get("field", "")) if isinstance(m, dict) else str(m)
                guess[field] = "name" if i == 0 else "address" if "addr" in field else "person"
            line = ", ".join(f'{k} = "{v}"' for k, v in guess.items())
            raise ValueError(
                "'exact', 'fuzzy' and 'window' were replaced by 'fields' (how each field "
                f"identifies a record: exact, phone, name, person, address), e.g. fields = {{ {line} }}"
                "; 'threshold' is now how sure a match must be (0.9 = 90% sure)"
            )
        return data


class SheetConfig(Strict):
    """One sheet of the workbook: its tab name, its ID column and its fields."""

    _compiled: dict[str, Condition] = PrivateAttr(default_factory=dict)
    _expressions: dict[str, Compiled] = PrivateAttr(default_factory=dict)
    _locale: str = PrivateAttr(default="zh_CN")  # set by Config: the team's
    _phrased: dict[tuple[str, str], str] = PrivateAttr(default_factory=dict)

    key: Identifier
    name: str = PydField(min_length=1, max_length=31)
    id_field: Identifier
    id_prefix: str = PydField(min_length=1, pattern=r"^[A-Za-z]+$")
    id_digits: int = PydField(default=6, ge=3, le=12)
    header_row: int = PydField(default=1, ge=1, le=100)
    fields: list[Field] = PydField(min_length=1)
    status: list[StatusColumn] = PydField(default_factory=list)
    dedupe: DedupeConfig | None = None
    stage_field: Identifier | None = None  # its moves are "stage" events in a record's history
    # a reminder about a record where this holds comes right after the escalations in the digest
    urgent_when: str | None = None
    # a workbook may leave this sheet out: runs skip it, and what needs it, with one warning each
    optional: bool = False

    @model_validator(mode="after")
    def _status_after_a_field(self) -> SheetConfig:
        keys = {f.key for f in self.fields}
        for st in self.status:
            if st.after is not None and st.after not in keys:
                raise ValueError(f"status {st.key}: after = {st.after!r} is not a field of this "
                                 f"sheet ({', '.join(sorted(keys))})")  # fmt: skip
        return self

    @field_validator("name")
    @classmethod
    def _excel_sheet_name(cls, v: str) -> str:
        bad = set(v) & set(r"[]:*?/\\")
        if bad:
            raise ValueError(f"Excel sheet names cannot contain {''.join(sorted(bad))}")
        return v

    @property
    def locale(self) -> Locale:
        return cast(Locale, self._locale)

    def has_status(self, key: str) -> bool:
        """Whether the sheet has the status column `key` (a rule writes it only then)."""
        return any(st.key == key for st in self.status)

    def columns(self) -> list[Field | StatusColumn]:
        """The template's columns in order: the fields, each status column with `after` right
        after its field, the other status columns at the right."""
        placed: dict[str, list[StatusColumn]] = {}
        for st in self.status:
            placed.setdefault(st.after or "", []).append(st)
        out: list[Field | StatusColumn] = []
        for f in self.fields:
            out += [f, *placed.get(f.key, [])]
        return out + placed.get("", [])

    def positions(self) -> tuple[dict[str, int], dict[str, int]]:
        """Where `columns()` puts each field and each status column (0-based), by key."""
        fields: dict[str, int] = {}
        status: dict[str, int] = {}
        for c, col in enumerate(self.columns()):
            if isinstance(col, Field):
                fields[col.key] = c
            else:
                status[str(col.key)] = c
        return fields, status

    def field(self, key: str) -> Field:
        """Return the field with this key (KeyError if none)."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def id_for(self, number: int) -> str:
        """Return the ID with this sequence number, e.g. C000123."""
        return f"{self.id_prefix}{number:0{self.id_digits}d}"

    def names(self) -> dict[str, str]:
        """What a condition may call each field: its key or its label."""
        return {f.key: f.key for f in self.fields} | {f.label: f.key for f in self.fields}

    def kinds(self) -> dict[str, str]:
        """Each field's kind in the condition language (text, number, date)."""
        return {f.key: kind_of(f.type.value) for f in self.fields}

    def condition(self, text: str) -> Condition:
        """A condition compiled against this sheet's fields (ExprError if it is not valid). Each
        text is compiled once, when the config is loaded (the cross-checks compile every rule's
        condition), and kept with the sheet for every run after."""
        compiled = self._compiled.get(text)
        if compiled is None:
            compiled = self._compiled[text] = compile_condition(text, self.names(), self.kinds())
        return compiled

    def phrase(self, text: str, locale: str) -> str:
        """A condition in the words people read (客户类型为“企业客户”), with this sheet's labels."""
        said = self._phrased.get((text, locale))
        if said is None:  # once per condition and locale: rules show it on every row they touch
            labels = {f.key: f.label for f in self.fields} | {f.label: f.label for f in self.fields}
            dates = frozenset(n for f in self.fields if f.type is FieldType.date
                              for n in (f.key, f.label))  # fmt: skip
            said = self._phrased[(text, locale)] = phrase(text, labels, cast(Locale, locale), dates)
        return said

    def expression(self, text: str) -> Compiled:
        """A value expression (a score's points) compiled against this sheet, once, like
        `condition`."""
        compiled = self._expressions.get(text)
        if compiled is None:
            compiled = self._expressions[text] = compile_expression(
                text, self.names(), self.kinds()
            )
        return compiled

    @property
    def id_regex(self) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(self.id_prefix)}(\d{{{self.id_digits},}})$")


# ---------------------------------------------------------------------------------------------
# Rules ([rules] in config.toml). Conditions are compiled against their sheet in _cross_check.


class NamedRule(Strict):
    """A rule people are told about: `name` identifies it (in the store, in logs); `label` is what
    people read in 审批状态, 规则提示 and the digest, by default its condition in words."""

    name: str
    label: str | None = None

    def shown(self, sheet: SheetConfig, locale: str) -> str:
        """The rule as people read it: its label, else its condition phrased, else its name."""
        if self.label:
            return self.label
        when = str(getattr(self, "when", "True")).strip()
        return sheet.phrase(when, locale) if when != "True" else self.name


class AssignRule(NamedRule):
    """Rows whose `field` is empty get a person: `to` one person, one of `team` (round robin or
    the least loaded of its active members with `roles`), or with `owner_of` the owner of the
    record a reference field points to (a purchase request → the customer's sales rep). The first
    rule whose `when` holds wins."""

    sheet: Identifier = "customers"
    field: Identifier = "owner"
    when: str = "True"
    to: str | None = None
    team: str | None = None
    owner_of: Identifier | None = None
    roles: list[RoleName] = PydField(default_factory=lambda: [Role.sales])
    method: Literal["round_robin", "least_loaded"] = "round_robin"

    @model_validator(mode="after")
    def _one_target(self) -> AssignRule:
        if sum(x is not None for x in (self.to, self.team, self.owner_of)) != 1:
            raise ValueError(
                "give one of 'to' (a person), 'team' or 'owner_of' (a reference field)"
            )
        return self


class ScoreRule(NamedRule):
    """Points for the rows where `when` holds; `points` is a number or an expression (visits * 2)."""

    sheet: Identifier = "customers"
    when: str = "True"
    points: float | str


class ScoreLabel(Strict):
    min: float
    label: str


class DeriveRule(NamedRule):
    """When `when` holds, set fields (the only people's cells a rule may write) and tell people."""

    sheet: Identifier = "customers"
    when: str
    set: dict[str, str | float] = PydField(min_length=1)
    notify: list[str] = PydField(
        default_factory=list
    )  # owner, manager, service, or a person's name


class StageOrder(Strict):
    """The order stages go in; a move back or a skip is flagged, entry conditions are checked."""

    sheet: Identifier = "customers"
    field: Identifier = "stage"
    order: list[str] = PydField(min_length=2)
    anytime: list[str] = PydField(default_factory=list)  # reachable from anywhere (暂停跟进, 流失)
    allow_skip: bool = False
    requires: dict[str, str] = PydField(default_factory=dict)  # stage → condition


class ApprovalRule(NamedRule):
    """Rows where `when` holds need the approval of someone with `role`, who writes their name in
    `approver_field`; until then the approval status says 待审批."""

    sheet: Identifier = "customers"
    when: str
    role: RoleName
    approver_field: Identifier = "approved_by"


class Trigger(NamedRule):
    """When `when` holds (usually changed_to(...) or is_new()), tell people, once."""

    sheet: Identifier = "customers"
    when: str
    notify: list[str] = PydField(min_length=1)
    cc: list[str] = PydField(default_factory=list)
    message: str
    template: str | None = None  # a customer-facing mail template (templates/email/<name>)
    once: bool = False  # once per record ever (a welcome mail), not once per day it holds


class FollowupLink(Strict):
    """Auto fields: the last follow-up date and the contact count per record, from another sheet."""

    sheet: Identifier = "followups"
    key: Identifier = "customer_id"
    date: Identifier = "date"
    content: Identifier = "content"
    target: Identifier = "customers"


class LinkRule(Strict):
    """A field that shows a value of the record its ID points to (跟进记录's 客户名称 from 客户信息),
    filled and kept in sync by sheetcrm."""

    sheet: Identifier
    field: Identifier
    key: Identifier = "customer_id"
    source: Identifier = "customers"
    value: Identifier = "name"


class SuggestRule(Strict):
    """Words in a customer's latest follow-up that suggest a stage; shown, never applied."""

    keywords: list[str] = PydField(min_length=1)
    stage: str


class Permission(Strict):
    """What a role may edit: fields it may not change, and whose records (own, team, all). Edits are
    told apart by `editor_field` (修改人), which people fill when they change a row."""

    role: RoleName
    may_not_edit: list[Identifier] = PydField(default_factory=list)
    records: Literal["own", "team", "all"] = "all"
    sheet: Identifier = "customers"
    editor_field: Identifier = "modified_by"


class DuplicateNotice(Strict):
    """Tell people when a record is newly marked as a duplicate (both records' owners by default)."""

    sheet: Identifier = "customers"
    notify: list[str] = PydField(default_factory=lambda: ["owner"])


class Rules(Strict):
    assign: list[AssignRule] = PydField(default_factory=list)
    score: list[ScoreRule] = PydField(default_factory=list)
    score_labels: list[ScoreLabel] = PydField(default_factory=list)
    derive: list[DeriveRule] = PydField(default_factory=list)
    stage_order: StageOrder | None = None
    approvals: list[ApprovalRule] = PydField(default_factory=list)
    triggers: list[Trigger] = PydField(default_factory=list)
    followups: FollowupLink | None = None
    links: list[LinkRule] = PydField(default_factory=list)
    suggest: list[SuggestRule] = PydField(default_factory=list)
    permissions: list[Permission] = PydField(default_factory=list)
    duplicates: DuplicateNotice | None = None


class ReportSettings(Strict):
    """What the report counts as what, by field key of the report's sheet. The owner is the sheet's
    owner field and the stage its `stage_field`; follow-ups come from [rules.followups]."""

    sheet: Identifier = "customers"
    created: Identifier  # the date a record counts as new (首次接触日期)
    deal_date: Identifier  # the date a deal counts as won (合同开始日期)
    deal_amount: Identifier  # its amount (年合同金额)
    won_stages: list[str] = PydField(min_length=1)
    lost_stages: list[str] = PydField(default_factory=list)
    lost_reason: Identifier | None = None
    breakdowns: list[Identifier] = PydField(default_factory=list)  # choice fields to count by
    followup_by: Identifier | None = None  # who followed up, in the follow-ups sheet
    mail_to: list[str] = PydField(default_factory=list)  # roles or names: the weekly job mails them


class ImportSettings(Strict):
    """`sheetcrm import`: which sheet imported rows go to, other names people use for its fields
    (matched before any fuzzy guess), and the field that keeps the columns no field matches."""

    sheet: Identifier = "customers"
    synonyms: dict[Identifier, list[str]] = PydField(default_factory=dict)
    notes_field: Identifier | None = None
    min_score: int = PydField(default=80, ge=50, le=100)  # fuzzy header match, 0-100
    # choice values as legacy files write them: field → {what they wrote: the choice}
    values: dict[Identifier, dict[str, str]] = PydField(default_factory=dict)
    # what an imported row gets where its file has nothing (客户类型 = 企业客户)
    defaults: dict[Identifier, str] = PydField(default_factory=dict)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _weekend() -> list[Weekday]:
    return ["saturday", "sunday"]  # a function: a lambda's list[str] is no list[Weekday] to mypy


class ReminderRule(Strict):
    """What every reminder has: its name, the records it is about (`sheet`, `when`) and whom it
    tells. The timing is one of the classes below: one class per timing, told apart by the key that
    names it (`every_days`, `weekday`, `month_end`, `stale_days`, `date_field`), so the config
    keys of earlier versions keep working."""

    name: str
    sheet: Identifier = "customers"
    when: str = "True"
    to: list[str] = PydField(default_factory=lambda: ["owner"])
    cc: list[str] = PydField(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _escalation_goes_with_stale(cls, data: Any) -> Any:
        if isinstance(data, dict) and "escalate_after_hours" in data and cls is not WhenStale:
            raise ValueError("escalate_after_hours goes with stale_days")
        return data


class EveryDays(ReminderRule):
    """Every N days since the last contact."""

    every_days: int = PydField(ge=1)


class OnWeekday(ReminderRule):
    """Every week on one day (moved to the next working day when that day is not one)."""

    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class AtMonthEnd(ReminderRule):
    """On the last working day of each month."""

    month_end: Literal[True]


class WhenStale(ReminderRule):
    """N days in a stage without contact; escalated `escalate_after_hours` after the reminder,
    copying the manager."""

    stale_days: int = PydField(ge=1)
    escalate_after_hours: int | None = PydField(default=None, ge=1)


class OnDate(ReminderRule):
    """On a date of the record (`date_field`) moved by `offset_days` (`yearly` for birthdays)."""

    date_field: Identifier
    offset_days: int = 0
    yearly: bool = False


class WhenOverdue(ReminderRule):
    """A request past its target and not done (`when`, e.g. not 已解决/已关闭): reminded every
    working day until it is; from `escalate_after_days` late on, copying `escalate_cc`. The target
    is `overdue_from` (提交时间) + `sla_days` (one number, or one per value of `sla_by`, e.g. per
    需求类型), or the date in `target_field` (期望完成日期) where one is typed."""

    overdue_from: Identifier
    sla_days: int | dict[str, int] = 3
    sla_by: Identifier | None = None
    target_field: Identifier | None = None
    escalate_after_days: int | None = PydField(default=None, ge=1)
    escalate_cc: list[str] = PydField(default_factory=lambda: ["manager"])

    @model_validator(mode="after")
    def _sla_by_with_a_table(self) -> WhenOverdue:
        if isinstance(self.sla_days, dict) and self.sla_by is None:
            raise ValueError("sla_days per value needs sla_by (the field whose value picks it)")
        return self


TIMINGS: dict[str, type[ReminderRule]] = {
    "every_days": EveryDays, "weekday": OnWeekday, "month_end": AtMonthEnd,
    "stale_days": WhenStale, "date_field": OnDate, "overdue_from": WhenOverdue,
}  # fmt: skip
TIMING_TAG = "timing:"  # pydantic's tag in error locations (left out of key paths)


def _timing_of(value: Any) -> str | None:
    """Which timing a [[reminders]] entry is: the one timing key it has (None: zero or several)."""
    if isinstance(value, ReminderRule):
        return TIMING_TAG + next(k for k, c in TIMINGS.items() if isinstance(value, c))
    if not isinstance(value, dict):
        return None
    given = [k for k in TIMINGS if value.get(k) is not None and value.get(k) is not False]
    return TIMING_TAG + given[0] if len(given) == 1 else None


Reminder = Annotated[
    Annotated[EveryDays, Tag(TIMING_TAG + "every_days")]
    | Annotated[OnWeekday, Tag(TIMING_TAG + "weekday")]
    | Annotated[AtMonthEnd, Tag(TIMING_TAG + "month_end")]
    | Annotated[WhenStale, Tag(TIMING_TAG + "stale_days")]
    | Annotated[OnDate, Tag(TIMING_TAG + "date_field")]
    | Annotated[WhenOverdue, Tag(TIMING_TAG + "overdue_from")],
    Discriminator(
        _timing_of,
        custom_error_type="one_timing",
        custom_error_message="give exactly one of every_days, weekday, month_end, stale_days, "
        "date_field, overdue_from",
    ),
]


class Calendar(Strict):
    """Working days: reminders are sent on these only. `snooze_field` (暂缓至) silences a record."""

    weekend: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] = \
        PydField(default_factory=_weekend)  # fmt: skip
    holidays: list[date] = PydField(default_factory=list)
    snooze_field: Identifier | None = "snooze_until"
    contact_field: Identifier = "first_contact"  # the last contact when there is no follow-up yet
    # overdue reminders from before today (a first night on a legacy workbook, an import) come as
    # a catch-up list of at most this many a person a working day, most overdue first
    catch_up_per_day: int = PydField(default=20, ge=1)

    @field_validator("weekend")
    @classmethod
    def _a_working_day_left(cls, v: list[str]) -> list[str]:
        if len(set(v)) >= 7:
            raise ValueError("the weekend cannot be every day of the week")
        return v


class Person(Strict):
    """Someone who gets digests, owns customers or approves."""

    name: str = PydField(min_length=1)
    email: str
    role: RoleName
    team: str | None = None
    manager: str | None = None
    active: bool = True
    phone: str | None = None  # shown to customers in the mails their rep's customers get

    @field_validator("email")
    @classmethod
    def _valid_email(cls, v: str) -> str:
        try:
            return validate_email(v, check_deliverability=False).normalized
        except EmailNotValidError as e:
            raise ValueError(f"not a valid e-mail address: {e}") from None


def _refuse_secrets(data: Any, keys: set[str], message: str) -> Any:
    """A section of config.toml holding a secret is refused at load: secrets live elsewhere."""
    if isinstance(data, dict) and keys & set(data):
        raise ValueError(message)
    return data


class Backup(Strict):
    """Copies: `dir` gets a copy of the workbook before every write (kept `keep_days`); the backup
    job puts archives of the workbook and the state store in `archive_dir` (any path, e.g. a mounted
    company server), encrypted with the key in the environment variable `key_env` when set, keeping
    the newest `keep_archives`."""

    dir: str = "backups"
    keep_days: int = PydField(default=14, ge=0)
    archive_dir: str = "backups/archives"
    keep_archives: int = PydField(default=14, ge=1)
    key_env: str | None = PydField(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    _no_key_in_config = model_validator(mode="before")(
        lambda data: _refuse_secrets(data, {"key"}, "do not put the backup key in config.toml: "
                                     "set 'key_env' to the name of an environment variable that "
                                     'holds it (e.g. key_env = "SHEETCRM_BACKUP_KEY")'))  # fmt: skip


class Store(Strict):
    url: str = "sqlite:///state/sheetcrm.sqlite"

    @field_validator("url")
    @classmethod
    def _driver_installed(cls, url: str) -> str:
        if (problem := driver_problem(url)) is not None:
            raise ValueError(problem)
        return url


DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres"}


def driver_problem(url: str) -> str | None:
    """Why a SQLAlchemy URL cannot be used here (not a URL, no such database, its driver not
    installed, with what to install), or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect()
        dialect.import_dbapi()
    except ArgumentError:
        return f"{url!r} is not a database URL (e.g. sqlite:///state/sheetcrm.sqlite)"
    except NoSuchModuleError:
        return f"{url.split(':', 1)[0]!r} is not a database SQLAlchemy knows"
    except ImportError as e:  # not installed, or installed without what it needs (libpq)
        module = (e.name or str(e)).split(".")[0]
        extra = DRIVER_EXTRAS.get(module)
        hint = f"pip install 'sheetcrm[{extra}]'" if extra else f"pip install {module}"
        return (
            f"the database driver {module!r} for {url.split(':', 1)[0]!r} is not installed; {hint}"
        )
    return None


class GSheet(Strict):
    """How to reach a Google Sheet source. `credentials` is the path of a service-account JSON key
    or an OAuth authorized-user token (or set SHEETCRM_GSHEET_CREDENTIALS); never the secret itself.
    `endpoint` points at a local Sheets API emulator instead of Google (tests)."""

    credentials: str | None = None
    endpoint: str | None = PydField(default=None, pattern=r"^https?://")
    timeout: float = PydField(default=60.0, gt=0)

    _no_secret_in_config = model_validator(mode="before")(
        lambda data: _refuse_secrets(data, {"private_key", "token", "refresh_token"},
                                     "do not put Google keys or tokens in config.toml: save the "
                                     "JSON file outside the repository and set 'credentials' to "
                                     "its path (or SHEETCRM_GSHEET_CREDENTIALS)"))  # fmt: skip


GSHEET_URL = re.compile(r"^https://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")
GSHEET_KEY = re.compile(r"^gsheet://([A-Za-z0-9_-]+)/?$")


class Mail(Strict):
    """How mail leaves: an outbox folder of .eml files (default) or SMTP. Passwords never live here."""

    transport: Literal["outbox", "smtp", "webhook"] = "outbox"
    sender: str = PydField(default="sheetcrm@example.com", pattern=r"^[^@\s]+@[^@\s]+$")
    sender_name: str = "sheetcrm"  # the name mail clients show for `sender`
    outbox_dir: str = "outbox"
    host: str | None = None
    port: int = PydField(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    password_env: str = "SHEETCRM_SMTP_PASSWORD"
    per_minute: int = PydField(default=60, ge=0)  # SMTP: at most this many mails a minute (0: any)
    digest_cap: int = PydField(
        default=30, ge=1
    )  # customers in one person's digest; the rest counted
    brochure_url: str = ""  # linked from the welcome mail to customers
    company: str = ""  # the company customers' mails are from (their From name and signature)
    # where people open the workbook (a share: \\\\server\\crm\\customers.xlsx, or /mnt/crm/...):
    # digest lines link there, to the record's row; default: the workbook's own path
    workbook_link: str = ""
    webhook_url: str | None = None  # a group robot: digests are posted there as markdown
    webhook_format: Literal["wecom", "dingtalk", "feishu"] = "wecom"
    # the robot's signing secret (DingTalk 加签, Feishu 签名校验) is read from this variable
    webhook_secret_env: str | None = None
    webhook_keyword: str | None = None  # DingTalk's keyword mode: every message must carry it
    team_webhooks: dict[str, str] = PydField(default_factory=dict)  # team → its own group's robot

    _no_webhook_secret_in_config = model_validator(mode="before")(
        lambda data: _refuse_secrets(data, {"webhook_secret", "secret"}, "do not put the robot's "
                                     "signing secret in config.toml: set 'webhook_secret_env' to the "
                                     "name of an environment variable that holds it"))  # fmt: skip
    _no_password_in_config = model_validator(mode="before")(
        lambda data: _refuse_secrets(data, {"password"}, "do not put the SMTP password in "
                                     "config.toml: set it in the environment variable named by "
                                     "'password_env' (default SHEETCRM_SMTP_PASSWORD)"))  # fmt: skip

    @model_validator(mode="after")
    def _smtp_needs_host(self) -> Mail:
        if self.transport == "smtp" and not self.host:
            raise ValueError("transport 'smtp' needs 'host'")
        if self.transport == "webhook" and not self.webhook_url:
            raise ValueError("transport 'webhook' needs 'webhook_url'")
        return self


_SCHEDULE = re.compile(
    r"^every\s+(?:(?P<n>\d+)\s+(?P<unit>minutes|hours)"
    rf"|(?P<day>day|weekday|{'|'.join(WEEKDAYS)})\s+at\s+(?P<hh>\d{{1,2}}):(?P<mm>\d{{2}}))$"
)


class Schedule(Strict):
    """A parsed schedule such as "every weekday at 08:00" or "every 15 minutes"."""

    text: str
    every: str  # "day", "weekday", a weekday name, "minutes" or "hours"
    interval: int | None = None
    at: time | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        m = _SCHEDULE.match(text.strip().lower())
        if not m:
            raise ValueError(
                f"{text!r} is not a schedule; expected e.g. 'every day at 02:00', "
                "'every weekday at 08:00', 'every monday at 07:00' or 'every 30 minutes'"
            )
        if m["unit"]:
            n = int(m["n"])
            if n < 1:
                raise ValueError(f"{text!r}: the interval must be at least 1")
            return cls(text=text, every=m["unit"], interval=n)
        hh, mm = int(m["hh"]), int(m["mm"])
        if hh > 23 or mm > 59:
            raise ValueError(f"{text!r}: {hh:02d}:{mm:02d} is not a time of day")
        return cls(text=text, every=m["day"], at=time(hh, mm))


def _schedule(value: Any) -> Any:
    return Schedule.parse(value) if isinstance(value, str) else value


class Config(Strict):
    """The whole of config.toml. `base_dir` (the config file's folder) anchors relative paths."""

    locale: Literal["zh_CN", "en"] = "zh_CN"
    timezone: str = "Asia/Shanghai"
    source: str
    backup: Backup = PydField(default_factory=Backup)
    store: Store = PydField(default_factory=Store)
    gsheet: GSheet = PydField(default_factory=GSheet)
    mail: Mail = PydField(default_factory=Mail)
    jobs: dict[str, Annotated[Schedule, BeforeValidator(_schedule)]] = PydField(
        default_factory=dict
    )
    people: list[Person] = PydField(default_factory=list)
    sheets: list[SheetConfig] = PydField(min_length=1)
    rules: Rules = PydField(default_factory=Rules)
    report: ReportSettings | None = None
    import_: ImportSettings = PydField(default_factory=ImportSettings, alias="import")
    reminders: list[Reminder] = PydField(default_factory=list)
    calendar: Calendar = PydField(default_factory=Calendar)
    base_dir: Path = PydField(default=Path("."), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; expected e.g. 'Asia/Shanghai'") from None
        return v

    # -- look-ups -----------------------------------------------------------------------------
    def needs(self, sheet_key: str) -> list[str]:
        """What in this config works on sheet `sheet_key` (key paths, with the rule's name): what is
        inactive while the workbook has no such sheet."""
        r = self.rules
        out: list[str] = []
        for kind in ("assign", "score", "derive", "approvals", "triggers", "permissions"):
            for i, rule in enumerate(getattr(r, kind)):
                if rule.sheet == sheet_key:
                    name = getattr(rule, "name", "") or ""
                    out.append(f"rules.{kind}[{i}]" + (f" ({name})" if name else ""))
        for i, link in enumerate(r.links):
            if sheet_key in (link.sheet, link.source):
                out.append(f"rules.links[{i}] ({link.sheet}.{link.field})")
        for part, rule in (("stage_order", r.stage_order), ("duplicates", r.duplicates)):
            if rule is not None and rule.sheet == sheet_key:
                out.append(f"rules.{part}")
        if r.followups is not None and sheet_key in (r.followups.sheet, r.followups.target):
            out.append("rules.followups (最近跟进、跟进次数, stale reminders' last contact)")
            out += [f"rules.suggest[{i}]" for i in range(len(r.suggest))]
        out += [f"reminders[{i}] ({rem.name})" for i, rem in enumerate(self.reminders)
                if rem.sheet == sheet_key]  # fmt: skip
        for s in self.sheets:
            if s.key == sheet_key:
                continue
            out += [f"the check of {s.name}.{f.label} against {sheet_key}" for f in s.fields
                    if f.references == sheet_key]  # fmt: skip
            if s.dedupe is not None and s.dedupe.decisions_sheet == sheet_key:
                out.append(f"people's duplicate decisions for {s.name}")
        return out

    def sheet(self, key: str) -> SheetConfig:
        """Return the sheet with this key (KeyError if none)."""
        for s in self.sheets:
            if s.key == key:
                return s
        raise KeyError(key)

    def person(self, name: str) -> Person:
        for p in self.people:
            if p.name == name:
                return p
        raise KeyError(name)

    def owner_field(self, sheet_key: str) -> str | None:
        """The member field that says whose a record is: the one assignment fills, else the sheet's
        first member field (负责人, 处理人)."""
        for rule in self.rules.assign:
            if rule.sheet == sheet_key:
                return rule.field
        return next(
            (f.key for f in self.sheet(sheet_key).fields if f.type is FieldType.member), None
        )

    def stage_order(self, sheet_key: str) -> tuple[list[str], list[str]]:
        """(the ordered stages, the any-time ones) of a sheet's stage field: [rules.stage_order]'s,
        else the field's choices in order."""
        so = self.rules.stage_order
        if so is not None and so.sheet == sheet_key:
            return list(so.order), list(so.anytime)
        sheet = self.sheet(sheet_key)
        assert (
            sheet.stage_field is not None
        )  # a report's sheet has one (config check), the demo's too
        return list(sheet.field(sheet.stage_field).choices or []), []

    def staff_for(self, words: list[str], owner: Any) -> list[str]:
        """The people meant by recipient words for a record owned by `owner`: owner, manager (the
        owner's), service (every active service rep), or a person's name. "customer" is not staff."""
        people = {p.name: p for p in self.people}
        out: list[str] = []
        for word in words:
            if word == "owner" and owner:
                out.append(str(owner))
            elif (
                word == "manager" and owner and str(owner) in people and people[str(owner)].manager
            ):
                out.append(str(people[str(owner)].manager))
            elif word == "service":
                out += [p.name for p in self.people if p.role is Role.service and p.active]
            elif word in people:
                out.append(word)
        return list(dict.fromkeys(out))

    def path(self, value: str | Path) -> Path:
        """Return `value` as a path, relative ones taken from the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @model_validator(mode="after")
    def _sheets_speak_the_locale(self) -> Config:
        """Each sheet knows the team's locale: what its layout refuses is said in it."""
        for sheet in self.sheets:
            sheet._locale = self.locale
        return self

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        """A path, gsheet://<key>, or a Google Sheets URL (kept as gsheet://<key>)."""
        v = v.strip()
        if m := GSHEET_URL.match(v):
            return f"gsheet://{m[1]}"
        if v.startswith("gsheet://") and not GSHEET_KEY.match(v):
            raise ValueError(f"{v!r}: expected gsheet://<spreadsheet key> (the part of the sheet's "
                             "URL after /d/)")  # fmt: skip
        return v

    @property
    def is_gsheet(self) -> bool:
        return self.source.startswith("gsheet://")

    @property
    def gsheet_key(self) -> str:
        m = GSHEET_KEY.match(self.source)
        if not m:
            raise ConfigError("source: this instance uses a local workbook, not a Google Sheet")
        return m[1]

    @property
    def workbook_path(self) -> Path:
        if self.is_gsheet:
            raise ConfigError("source: this instance uses a Google Sheet, not a local workbook")
        return self.path(self.source)

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL, a relative SQLite path anchored at the config folder."""
        prefix = "sqlite:///"
        url = self.store.url
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(url[len(prefix) :]))
        return url


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path) -> Config:
    """Return the validated config in `path`; ConfigError naming the key path otherwise."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (create one with `sheetcrm init DIR`)"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config.toml must be saved as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}{_quote_hint(path, e)}") from None
    return parse_config(raw, base_dir=path.resolve().parent, origin=str(path))


def _quote_hint(path: Path, e: tomllib.TOMLDecodeError) -> str:
    """A hint when the broken line has Chinese quotes (“王明”): TOML strings need straight ones."""
    found = re.search(r"line (\d+)", str(e))
    lines = path.read_text(encoding="utf-8").splitlines()
    line = lines[int(found.group(1)) - 1] if found and int(found.group(1)) <= len(lines) else ""
    return f"\n  {QUOTE_HINT}" if any(q in line for q in CHINESE_QUOTES) else ""


def parse_config(raw: dict[str, Any], *, base_dir: Path, origin: str = "config.toml") -> Config:
    """Return the validated config for already-parsed TOML `raw`."""
    try:
        config = Config.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as e:
        lines = [f"{origin}: {e.error_count()} problem(s)"]
        for err in e.errors(include_url=False):
            lines.append(f"  {_key_path(err['loc'], raw)}: {_explain(err)}")
        raise ConfigError("\n".join(lines)) from None
    problems = _cross_check(config)
    if problems:
        lines = [f"{origin}: {len(problems)} problem(s)"]
        lines += [f"  {where}: {what}" for where, what in problems]
        raise ConfigError("\n".join(lines))
    return config


def _explain(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key (check its spelling)"
    if err["type"] == "missing":
        return "required key is missing"
    if "input" in err and err["type"] not in ("model_type", "dict_type") and "\n" not in msg:
        shown = repr(err["input"])
        if len(shown) <= 60 and not isinstance(err["input"], dict) and shown not in msg:
            return f"{msg} (got {shown})"
    return msg


def _key_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """Return a pydantic location as a TOML key path, naming the list items it passes through:
    `sheets[0] ("customers").fields[3] ("industry").type`."""
    path = ""
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and (node.get("key") or node.get("name")):
                path += f' ("{node.get("key") or node.get("name")}")'
        elif isinstance(item, str) and not item.startswith(
            ("function-", "tagged-union", TIMING_TAG)
        ):
            if item == "Schedule":
                continue
            path += f".{item}" if path else item
            node = node.get(item) if isinstance(node, dict) else None
    return path or "(top level)"


def _cross_check(config: Config) -> list[tuple[str, str]]:
    """Return the problems that span several parts of the config (names that must refer to
    something defined elsewhere, labels that must be unique)."""
    problems: list[tuple[str, str]] = []
    people = {p.name for p in config.people}
    seen_people: set[str] = set()
    for i, p in enumerate(config.people):
        where = f'people[{i}] ("{p.name}")'
        if p.name in seen_people:
            problems.append((where, f"the name {p.name!r} is given to two people"))
        seen_people.add(p.name)
        if p.manager is not None and p.manager not in people:
            problems.append((f"{where}.manager", f"{p.manager!r} is not in [[people]]"))

    sheet_keys = [s.key for s in config.sheets]
    sheet_names = [s.name for s in config.sheets]
    for i, s in enumerate(config.sheets):
        where = f'sheets[{i}] ("{s.key}")'
        if sheet_keys.count(s.key) > 1:
            problems.append((f"{where}.key", f"two sheets have the key {s.key!r}"))
        if sheet_names.count(s.name) > 1:
            problems.append((f"{where}.name", f"two sheets have the name {s.name!r}"))
        keys = [f.key for f in s.fields]
        if s.id_field not in keys:
            problems.append(
                (f"{where}.id_field", f"{s.id_field!r} is not one of this sheet's fields")
            )
        elif keys[0] != s.id_field:
            problems.append((f"{where}.id_field", "the ID field must be the first field"))
        labels: dict[str, str] = {}
        for j, f in enumerate(s.fields):
            fw = f'{where}.fields[{j}] ("{f.key}")'
            if keys.count(f.key) > 1:
                problems.append((f"{fw}.key", f"two fields of this sheet have the key {f.key!r}"))
            folded = fold_label(f.label)
            if folded in labels:
                problems.append(
                    (f"{fw}.label", f"label {f.label!r} is also used by {labels[folded]}")
                )
            labels[folded] = f"field {f.key!r}"
            if f.type is FieldType.member:
                allowed = {p.name for p in config.people if not f.roles or p.role in f.roles}
                if f.default is not None and f.default not in allowed:
                    problems.append(
                        (
                            f"{fw}.default",
                            f"{f.default!r} is not a person in [[people]]"
                            + (f" with role {', '.join(f.roles)}" if f.roles else ""),
                        )
                    )
                if not allowed:
                    problems.append((fw, "no person in [[people]] can be chosen in this field"))
            if f.references is not None and f.references not in sheet_keys:
                problems.append(
                    (
                        f"{fw}.references",
                        f"{f.references!r} is not a sheet key; expected one of {sheet_keys}",
                    )
                )
            if f.required_if is not None:
                try:
                    s.condition(f.required_if)
                except ExprError as e:
                    problems.append((f"{fw}.required_if", str(e)))
        if s.urgent_when is not None:
            try:
                s.condition(s.urgent_when)
            except ExprError as e:
                problems.append((f"{where}.urgent_when", str(e)))
        if s.stage_field is not None and s.stage_field not in keys:
            problems.append(
                (f"{where}.stage_field", f"{s.stage_field!r} is not a field of this sheet")
            )
        if s.dedupe is not None:
            for name in s.dedupe.fields:
                if name not in keys:
                    problems.append((f"{where}.dedupe", f"{name!r} is not a field of this sheet"))
            ds = s.dedupe.decisions_sheet
            if ds is not None:
                other = next((x for x in config.sheets if x.key == ds), None)
                needed = {"record_id", "other_id", "decision"}
                if other is None:
                    problems.append(
                        (f"{where}.dedupe.decisions_sheet", f"{ds!r} is not a sheet key")
                    )
                elif not needed <= {f.key for f in other.fields}:
                    problems.append((f"{where}.dedupe.decisions_sheet",
                                     f"sheet {ds!r} needs the fields {sorted(needed)}"))  # fmt: skip
        status_keys: set[str] = set()
        for j, c in enumerate(s.status):
            cw = f'{where}.status[{j}] ("{c.key}")'
            if c.key in status_keys:
                problems.append((f"{cw}.key", f"status column {c.key!r} is listed twice"))
            status_keys.add(c.key)
            for what, label in (("label", c.label), *(("aliases", a) for a in c.aliases)):
                folded = fold_label(label)  # an alias that is a field's label would take its column
                if folded in labels:
                    problems.append(
                        (f"{cw}.{what}", f"label {label!r} is also used by {labels[folded]}")
                    )
                labels[folded] = f"status column {c.key!r}"
    problems += _check_rules(config)
    problems += _check_report(config)
    problems += _check_import(config)
    for name in config.jobs:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(
                (f"jobs.{name}", "a job name is a lower-case file name such as 'nightly'")
            )
    return problems


RECIPIENT_WORDS = {"owner", "manager", "service", "customer"}


def _check_import(config: Config) -> list[tuple[str, str]]:
    """[import] names a sheet and its fields."""
    imp = config.import_
    sheets = {s.key: s for s in config.sheets}
    if imp.sheet not in sheets:
        if "import_" not in config.model_fields_set and imp.sheet == "customers":
            return []  # not configured and no customers sheet: import is simply not set up
        return [
            ("import.sheet", f"{imp.sheet!r} is not a sheet key; expected one of {sorted(sheets)}")
        ]
    fields = {f.key: f for f in sheets[imp.sheet].fields}
    problems = [(f"import.synonyms.{k}", f"{k!r} is not a field of sheet {imp.sheet!r}")
                for k in imp.synonyms if k not in fields]  # fmt: skip
    if imp.notes_field is not None:
        f = fields.get(imp.notes_field)
        if f is None or str(f.type) not in ("text", "long_text"):
            problems.append(("import.notes_field", f"{imp.notes_field!r} is not a text field of "
                             f"sheet {imp.sheet!r}"))  # fmt: skip
    for k, mapped in imp.values.items():
        f = fields.get(k)
        if f is None or f.type not in CHOICE_TYPES:
            problems.append((f"import.values.{k}", f"{k!r} is not a choice field of sheet "
                             f"{imp.sheet!r}"))  # fmt: skip
            continue
        for said, choice in mapped.items():
            if choice not in (f.choices or []):
                problems.append((f"import.values.{k}.{said}", f"{choice!r} is not a choice of "
                                 f"{f.label}: {'、'.join(f.choices or [])}"))  # fmt: skip
    for k, value in imp.defaults.items():
        f = fields.get(k)
        if f is None:
            problems.append(
                (f"import.defaults.{k}", f"{k!r} is not a field of sheet {imp.sheet!r}")
            )
        elif f.type is FieldType.choice and value not in (f.choices or []):
            problems.append((f"import.defaults.{k}", f"{value!r} is not a choice of {f.label}: "
                             f"{'、'.join(f.choices or [])}"))  # fmt: skip
    return problems


def _check_report(config: Config) -> list[tuple[str, str]]:
    """[report] names fields and stages of a sheet: they must exist, with the right types."""
    r = config.report
    if r is None:
        return []
    sheets = {s.key: s for s in config.sheets}
    if r.sheet not in sheets:
        return [
            ("report.sheet", f"{r.sheet!r} is not a sheet key; expected one of {sorted(sheets)}")
        ]
    sheet = sheets[r.sheet]
    fields = {f.key: f for f in sheet.fields}
    problems: list[tuple[str, str]] = []
    wanted = {"created": (r.created, ("date",)), "deal_date": (r.deal_date, ("date",)),
              "deal_amount": (r.deal_amount, ("money", "number")),
              "lost_reason": (r.lost_reason, None)}  # fmt: skip
    wanted |= {f"breakdowns[{i}]": (k, ("choice", "multi_choice", "member", "rating"))
               for i, k in enumerate(r.breakdowns)}  # fmt: skip
    for where, (key, types) in wanted.items():
        if key is None:
            continue
        if key not in fields:
            problems.append((f"report.{where}", f"{key!r} is not a field of sheet {r.sheet!r}"))
        elif types and str(fields[key].type) not in types:
            problems.append((f"report.{where}", f"{key!r} is a {fields[key].type} field; "
                             f"expected {' or '.join(types)}"))  # fmt: skip
    stage = sheet.stage_field
    if not stage or stage not in fields:
        problems.append(("report.sheet", f"sheet {r.sheet!r} has no stage_field for the funnel"))
    else:
        choices = fields[stage].choices or []
        for where, names in (("won_stages", r.won_stages), ("lost_stages", r.lost_stages)):
            for name in names:
                if name not in choices:
                    problems.append((f"report.{where}", f"{name!r} is not a choice of "
                                     f"{fields[stage].label}: {'、'.join(choices)}"))  # fmt: skip
    if config.owner_field(r.sheet) is None:
        problems.append(("report.sheet", f"sheet {r.sheet!r} has no member field for the owner"))
    people = {p.name for p in config.people}
    for i, who in enumerate(r.mail_to):
        if who not in people and role_alias(who) not in {str(x) for x in Role}:
            problems.append((f"report.mail_to[{i}]", f"{who!r} is neither a person in [[people]] "
                             f"nor a role ({', '.join(str(x) for x in Role)})"))  # fmt: skip
    link = config.rules.followups
    if r.followup_by is not None:
        if link is None or link.sheet not in sheets:
            problems.append(("report.followup_by", "needs [rules.followups] naming the sheet"))
        elif r.followup_by not in {f.key for f in sheets[link.sheet].fields}:
            problems.append(("report.followup_by",
                             f"{r.followup_by!r} is not a field of sheet {link.sheet!r}"))  # fmt: skip
    return problems


def _check_rules(config: Config) -> list[tuple[str, str]]:
    """Rules name sheets, fields, people and conditions: all must exist and compile now."""
    problems: list[tuple[str, str]] = []
    sheets = {s.key: s for s in config.sheets}
    people = {p.name for p in config.people}
    teams = {p.team for p in config.people if p.team}
    r = config.rules

    def sheet_of(where: str, key: str) -> SheetConfig | None:
        if key not in sheets:
            problems.append(
                (f"{where}.sheet", f"{key!r} is not a sheet key; expected one of {sorted(sheets)}")
            )
        return sheets.get(key)

    def condition(where: str, sheet: SheetConfig, text: str) -> None:
        try:
            sheet.condition(text)
        except ExprError as e:
            problems.append((where, str(e)))

    def field(where: str, sheet: SheetConfig, key: str) -> Field | None:
        try:
            return sheet.field(key)
        except KeyError:
            problems.append((where, f"{key!r} is not a field of sheet {sheet.key!r}"))
            return None

    def recipients(where: str, names: list[str]) -> None:
        for n in names:
            if n not in RECIPIENT_WORDS and n not in people:
                problems.append((where, f"{n!r} is neither a person in [[people]] nor one of "
                                        f"{sorted(RECIPIENT_WORDS)}"))  # fmt: skip

    for team in sorted(set(config.mail.team_webhooks) - teams):
        problems.append(("mail.team_webhooks", f"{team!r} is not a team in [[people]]"))
    for i, rem in enumerate(config.reminders):
        where = f'reminders[{i}] ("{rem.name}")'
        sheet = sheet_of(where, rem.sheet)
        if sheet is None:
            continue
        condition(f"{where}.when", sheet, rem.when)
        recipients(f"{where}.to", rem.to)
        recipients(f"{where}.cc", rem.cc)
        dates: dict[str, str | None] = (
            {"date_field": rem.date_field} if isinstance(rem, OnDate) else {}
        )
        if isinstance(rem, WhenOverdue):
            dates = {"overdue_from": rem.overdue_from, "target_field": rem.target_field}
            recipients(f"{where}.escalate_cc", rem.escalate_cc)
            by = field(f"{where}.sla_by", sheet, rem.sla_by) if rem.sla_by else None
            if by is not None and isinstance(rem.sla_days, dict):
                for value in set(rem.sla_days) - set(by.choices or rem.sla_days):
                    problems.append((f"{where}.sla_days", f"{value!r} is not one of {by.label}'s "
                                     f"choices {by.choices}"))  # fmt: skip
        for name, key in dates.items():
            f = field(f"{where}.{name}", sheet, key) if key else None
            if f is not None and f.type is not FieldType.date:
                problems.append((f"{where}.{name}", f"{key!r} is not a date field"))
    for kind in ("assign", "score", "derive", "approvals", "triggers"):
        for i, rule in enumerate(getattr(r, kind)):
            where = f'rules.{kind}[{i}] ("{rule.name}")'
            sheet = sheet_of(where, rule.sheet)
            if sheet is None:
                continue
            condition(f"{where}.when", sheet, rule.when)
            if kind == "assign":
                f = field(f"{where}.field", sheet, rule.field)
                if f is not None and f.type is not FieldType.member:
                    problems.append((f"{where}.field", f"{rule.field!r} is not a member field"))
                if rule.to is not None and rule.to not in people:
                    problems.append((f"{where}.to", f"{rule.to!r} is not in [[people]]"))
                if rule.team is not None and rule.team not in teams:
                    problems.append((f"{where}.team", f"{rule.team!r} is not a team in [[people]]"))
                ref = field(f"{where}.owner_of", sheet, rule.owner_of) if rule.owner_of else None
                if ref is not None and not (ref.references and config.owner_field(ref.references)):
                    problems.append((f"{where}.owner_of", f"{rule.owner_of!r} does not refer to "
                                     "a sheet whose records have an owner"))  # fmt: skip
            if kind == "score" and isinstance(rule.points, str):
                try:
                    sheet.expression(rule.points)
                except ExprError as e:
                    problems.append((f"{where}.points", str(e)))
            if kind == "derive":
                for key, value in rule.set.items():
                    f = field(f"{where}.set", sheet, key)
                    if f is not None and f.choices and value not in f.choices:
                        problems.append(
                            (f"{where}.set.{key}", f"{value!r} is not one of {f.choices}")
                        )
                recipients(f"{where}.notify", rule.notify)
            if kind == "approvals":
                f = field(f"{where}.approver_field", sheet, rule.approver_field)
                if f is not None and f.type is not FieldType.member:
                    problems.append(
                        (
                            f"{where}.approver_field",
                            f"{rule.approver_field!r} is not a member field",
                        )
                    )
            if kind == "triggers":
                recipients(f"{where}.notify", rule.notify)
                recipients(f"{where}.cc", rule.cc)
    if r.stage_order is not None:
        where = "rules.stage_order"
        sheet = sheet_of(where, r.stage_order.sheet)
        f = field(f"{where}.field", sheet, r.stage_order.field) if sheet else None
        if sheet is not None and f is not None:
            for stage in [*r.stage_order.order, *r.stage_order.anytime, *r.stage_order.requires]:
                if f.choices and stage not in f.choices:
                    problems.append((where, f"{stage!r} is not a choice of {f.key!r}: {f.choices}"))
            for stage, text in r.stage_order.requires.items():
                condition(f"{where}.requires.{stage}", sheet, text)
    for i, link in enumerate(r.links):
        where = f"rules.links[{i}]"
        sheet, src = sheet_of(where, link.sheet), sheet_of(where, link.source)
        if sheet is not None:
            field(f"{where}.field", sheet, link.field)
            field(f"{where}.key", sheet, link.key)
        if src is not None:
            field(f"{where}.value", src, link.value)
    for i, sug in enumerate(r.suggest):
        if r.stage_order is None or sug.stage not in r.stage_order.order + r.stage_order.anytime:
            problems.append(
                (f"rules.suggest[{i}].stage", f"{sug.stage!r} is not a stage of rules.stage_order")
            )
        if r.followups is None:
            problems.append(
                (
                    f"rules.suggest[{i}]",
                    "suggestions read the follow-ups: [rules.followups] is needed",
                )
            )
    for i, perm in enumerate(r.permissions):
        where = f'rules.permissions[{i}] ("{perm.role}")'
        sheet = sheet_of(where, perm.sheet)
        if sheet is not None:
            field(f"{where}.editor_field", sheet, perm.editor_field)
            for key in perm.may_not_edit:
                field(f"{where}.may_not_edit", sheet, key)
    if r.duplicates is not None:
        sheet_of("rules.duplicates", r.duplicates.sheet)
        recipients("rules.duplicates.notify", r.duplicates.notify)
    if r.followups is not None:
        where = "rules.followups"
        src, dst = sheet_of(where, r.followups.sheet), sheet_of(where, r.followups.target)
        if src is not None:
            field(f"{where}.key", src, r.followups.key)
            field(f"{where}.date", src, r.followups.date)
        if dst is not None and not {"last_followup", "contact_count"} & {
            c.key.value for c in dst.status
        }:
            problems.append(
                (where, f"sheet {dst.key!r} has no last_followup or contact_count status column")
            )
    return problems
