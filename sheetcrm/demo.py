"""Realistic demo workbooks with a ground truth of every problem and duplicate they contain.

Tests and benchmarks need data that looks like what a team types, at any size up to Excel's limit, with
a known answer: which rows carry which problem (the check must report exactly these), which rows are
only typed oddly (dates as text, full-width digits, spaces: the check must accept them), and which rows
duplicate which (dedupe must find them). The ground truth is written next to the workbook as CSV:

    sheet,row,record_id,kind,field,code,detail
    customers,17,C000016,problem,mobile,invalid_phone,1385678
    customers,40,C000039,noise,first_contact,date_text,2025年3月5日
    customers,88,C000087,duplicate,name,suffix,C000012

Names, companies and addresses come from Faker (zh_CN) pools, sampled with a seeded NumPy generator so
a million rows take seconds and the same seed gives the same workbook, byte for byte.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from faker import Faker
from stdnum.cn import uscc

from .config import CHOICE_TYPES, Config, FieldType, Role, SheetConfig
from .templates import LayoutWriter, member_choices

CHUNK = 20_000


class Kind(StrEnum):
    problem = "problem"  # the check must report it, with this code
    noise = "noise"  # typed oddly but valid: the check must accept it
    duplicate = "duplicate"  # the same customer as the record in `detail`
    namesake = "namesake"  # the same name and city as the record in `detail`, another customer


@dataclass(frozen=True)
class Shares:
    """What fraction of customer rows get each treatment (they never overlap)."""

    problem: float = 0.08
    noise: float = 0.08
    duplicate: float = 0.03
    blank_id: float = 0.005
    # of the duplicates: a new phone, no e-mail or credit code, and one more change
    hard: float = 0.5
    namesake: float = 0.01  # of the clean 个人客户: an earlier one's name and city, another person


@dataclass
class DemoSummary:
    path: Path
    truth_path: Path
    rows: dict[str, int] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)


_INDUSTRY_WORDS = ["科技", "网络", "信息", "电子", "机械", "贸易", "制造", "教育", "医疗", "物流",
                   "软件", "材料", "能源", "食品", "服饰", "建筑", "咨询", "传媒", "环保", "化工"]  # fmt: skip
_BRAND_CHARS = list("华信达通宇鑫瑞泰恒盛安邦嘉和丰源利昌隆兴旺腾飞凯博睿智远航金银星辰光明天成"
                    "德新创维康宁海润东方佳美正阳永富福祥云峰立业百顺升")  # fmt: skip
_LEGAL_FORMS = ["有限公司"] * 6 + ["有限责任公司"] * 2 + ["股份有限公司", "集团有限公司"]
_MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                    "152", "155", "156", "157", "158", "159", "176", "177", "180", "181", "182",
                    "183", "185", "186", "187", "188", "189", "199"]  # fmt: skip
_ADMIN_CODES = ["110105", "310115", "440300", "330106", "320506", "510107", "420106", "370202",
                "210203", "350203", "500103", "610113"]  # fmt: skip
_DEMANDS = ["希望采购一批设备，要求三个月内交付", "咨询年度维保服务的价格和范围", "需要系统对接的技术支持",
            "计划更换现有供应商，正在比价", "对定制开发有兴趣，需要方案", "已确认预算，等待内部审批",
            "想了解批量采购折扣", "关注售后响应时间"]  # fmt: skip
_FOLLOWUPS = ["电话沟通需求，客户对方案感兴趣", "上门拜访，演示了产品", "发送了报价单和产品手册",
              "线上会议讨论技术细节", "客户已确认预算，同意签约前再谈一次价格", "微信回复了客户的问题",
              "客户暂时没有预算，下季度再联系", "客户反馈试用效果不错"]  # fmt: skip
_NEXT_STEPS = ["一周后回访", "准备正式方案", "安排技术交流", "发送合同草稿", "等待客户答复", ""]
_LOST = ["价格过高", "选择了竞争对手", "项目取消", "联系不上"]
_STAGE_WEIGHTS = {"线索": 20, "初步接触": 15, "需求确认": 15, "方案提交": 10, "商务谈判": 10,
                  "成交": 12, "售后维护": 6, "暂停跟进": 5, "流失": 7}  # fmt: skip
_STAGES = list(_STAGE_WEIGHTS)
_STAGE_CDF = np.cumsum(list(_STAGE_WEIGHTS.values()))[:-1] / sum(_STAGE_WEIGHTS.values())
_BODIES = {"customers", "followups", "requests"}
_TO_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _as_date(today: date | datetime) -> date:
    return today.date() if isinstance(today, datetime) else today


class _Pools:
    """Faker-made pools, sampled cheaply."""

    def __init__(self, seed: int) -> None:
        fake = Faker("zh_CN")
        fake.seed_instance(seed)
        person = fake.provider("faker.providers.person")
        self.surnames = list(person.last_names)[:120]
        given = list(person.first_names_male) + list(person.first_names_female)
        self.given = sorted(set(given))
        company = fake.provider("faker.providers.company")
        self.brands = sorted(set(company.company_prefixes))
        address = fake.provider("faker.providers.address")
        self.cities = list(address.cities)
        self.streets = sorted({fake.street_name() for _ in range(400)})
        self.users = sorted({fake.user_name() for _ in range(600)})
        self.domains = ["qq.com", "163.com", "126.com", "sina.com", "example.com.cn", "foxmail.com"]


def generate_demo(
    config: Config,
    out: str | Path,
    *,
    rows: int,
    seed: int = 1,
    today: date | datetime,
    followups: int | None = None,
    requests: int | None = None,
    shares: Shares = Shares(),  # noqa: B008 - frozen dataclass, safe as a default
    progress: Callable[[str, int], None] | None = None,
) -> DemoSummary:
    """Write a demo workbook of `rows` customers to `out` plus its ground truth CSV; return counts.

    `today` anchors every date, so the same arguments always give the same workbook.
    """
    if not 1 <= rows <= 1_048_575:
        raise ValueError("rows must be between 1 and 1,048,575 (Excel's limit less the header)")
    today = _as_date(today)
    out = Path(out)
    truth_path = out.with_name(out.stem + ".truth.csv")
    gen = _Generator(config, seed, today, shares)
    writer = LayoutWriter(out, config, created=datetime.combine(today, time(0)))
    summary = DemoSummary(path=out, truth_path=truth_path)
    n_follow = min(rows if followups is None else followups, 1_048_575)
    n_requests = min(max(rows // 10, 1) if requests is None else requests, 1_048_575)
    with truth_path.open("w", newline="", encoding="utf-8") as fh:
        truth = csv.writer(fh)
        truth.writerow(["sheet", "row", "record_id", "kind", "field", "code", "detail"])
        gen.truth = truth
        for sheet in config.sheets:
            # bodies are generators run in sheet order at close(): customers come first
            if sheet.key == "customers":
                body: Iterator[list[Any]] = gen.customers(sheet, rows, progress)
            elif sheet.key == "followups":
                body = gen.followups(sheet, n_follow, progress)
            elif sheet.key == "requests":
                body = gen.requests(sheet, n_requests, progress)
            else:
                body = iter(())
            count = {"customers": rows, "followups": n_follow, "requests": n_requests}.get(
                sheet.key, 0
            )
            writer.write_sheet(sheet, body, count=count if sheet.key in _BODIES else 0)
        counts = writer.close()
        summary.rows = {s.key: n for s, n in zip(config.sheets, counts, strict=True)}
    summary.truth = dict(gen.truth_counts)
    return summary


class _Generator:
    def __init__(self, config: Config, seed: int, today: date, shares: Shares) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)
        # hard duplicates and namesakes draw from their own stream: the rest of the workbook stays
        # what it was before they existed (tests and README figures rely on it)
        self.hard_rng = np.random.default_rng([seed, 25])
        self.pools = _Pools(seed)
        self.today = today
        self.shares = shares
        self.truth: Any = None
        self.truth_counts: dict[str, int] = {}
        self._buf: list[float] = []
        self._k = 0
        self.customer_ids: np.ndarray | None = None
        self.customer_first: np.ndarray | None = None  # first contact, days before today
        self.customer_owner: np.ndarray | None = None
        self._cores: set[str] = set()
        sales_field_roles = {Role.sales, Role.sales_manager}
        self.sales = [p.name for p in config.people if p.active and p.role in sales_field_roles]
        self.everyone = [p.name for p in config.people if p.active] or ["?"]
        self.sales = self.sales or self.everyone

    # -- helpers --------------------------------------------------------------------------------
    def _record(self, sheet: str, row: int, rid: str, kind: Kind, fld: str, code: str,
                detail: Any = "") -> None:  # fmt: skip
        self.truth.writerow([sheet, row, rid, kind.value, fld, code, detail])
        key = f"{sheet}.{kind.value}"
        self.truth_counts[key] = self.truth_counts.get(key, 0) + 1

    def _u(self) -> float:
        """Return the next uniform [0, 1) number; drawn in blocks, a NumPy call per value is slow."""
        if self._k >= len(self._buf):
            self._buf = self.rng.random(1 << 16).tolist()
            self._k = 0
        self._k += 1
        return self._buf[self._k - 1]

    def _int(self, lo: int, hi: int) -> int:
        """Return an integer in [lo, hi)."""
        return lo + int(self._u() * (hi - lo))

    def _pick(self, items: list[Any], n: int | None = None) -> Any:
        if n is None:
            return items[int(self._u() * len(items))]
        return [items[int(self._u() * len(items))] for _ in range(n)]

    def _day(self, offset: int) -> date:
        return self.today + timedelta(days=int(offset))

    def _person_name(self) -> str:
        return self._pick(self.pools.surnames) + self._pick(self.pools.given)

    def _company(self) -> tuple[str, str, str]:
        """Return (city, core, legal form); the core is unique across the workbook."""
        while True:
            core = (self._pick(self.pools.brands) + "".join(self._pick(_BRAND_CHARS, 2))
                    + self._pick(_INDUSTRY_WORDS))  # fmt: skip
            if core not in self._cores:
                self._cores.add(core)
                return self._pick(self.pools.cities), core, self._pick(_LEGAL_FORMS)

    @staticmethod
    def _mobile(prefix: str, n: int) -> str:
        # an affine bijection on 0..10^8-1 gives every customer a distinct, random-looking number
        return f"{prefix}{(n * 48271 + 12345) % 100_000_000:08d}"

    @staticmethod
    def _credit_code(admin: str, n: int) -> str:
        body = f"91{admin}{(n * 7919 + 100_003) % 1_000_000_000:09d}"
        return body + uscc.calc_check_digit(body)

    # -- customers -----------------------------------------------------------------------------
    def customers(self, sheet: SheetConfig, n: int,
                  progress: Callable[[str, int], None] | None) -> Iterator[list[Any]]:  # fmt: skip
        keys = [f.key for f in sheet.fields]
        col = {k: i for i, k in enumerate(keys)}
        self.customer_ids = np.empty(n, dtype=object)
        self.customer_first = np.empty(n, dtype=np.int32)
        self.customer_owner = np.empty(n, dtype=object)
        sh = self.shares
        bounds = np.cumsum([sh.problem, sh.noise, sh.duplicate, sh.blank_id])
        clean_rows: list[tuple[int, list[Any]]] = []  # originals duplicates may copy (this chunk)
        if progress:
            progress("customers", 0)
        for i in range(n):
            if i % CHUNK == 0:
                clean_rows = []
                if progress and i:
                    progress("customers", i)
            rid = sheet.id_for(i + 1)
            row = self._customer(sheet, col, i, rid)
            u = self._u()
            sheet_row = sheet.header_row + 1 + i
            if u < bounds[0]:
                self._inject_problem(sheet, col, row, sheet_row, rid)
            elif u < bounds[1]:
                self._inject_noise(sheet, col, row, sheet_row, rid)
            elif u < bounds[2] and clean_rows:
                j, original = clean_rows[self._int(0, len(clean_rows))]
                hard = self.hard_rng.random() < sh.hard
                row = self._duplicate(sheet, col, original, rid, i, j, sheet_row, record=not hard)
                if hard:
                    row = self._hard(sheet, col, row, original, i, sheet_row)
            elif u < bounds[3]:
                row[col[sheet.id_field]] = None
                rid = ""
                self._record(sheet.key, sheet_row, rid, Kind.noise, sheet.id_field, "blank_id")
            else:
                if self.hard_rng.random() < sh.namesake and clean_rows:
                    self._namesake(sheet, col, row, clean_rows, sheet_row, rid)
                clean_rows.append((i, row))
            self.customer_ids[i] = rid
            yield row
        if progress:
            progress("customers", n)

    def _customer(self, sheet: SheetConfig, col: dict[str, int], i: int, rid: str) -> list[Any]:
        """Return a clean customer row that satisfies every rule of the bundled config."""
        assert self.customer_first is not None and self.customer_owner is not None
        row: list[Any] = [None] * len(col)

        def put(key: str, value: Any) -> None:
            if key in col:
                row[col[key]] = value

        for f in sheet.fields:  # anything a team added that we do not know: a plausible value
            if f.required and f.key not in _KNOWN_CUSTOMER_KEYS:
                row[col[f.key]] = _generic_value(f, self, i)
        put(sheet.id_field, rid)
        enterprise = self._u() < 0.7
        put("customer_type", "企业客户" if enterprise else "个人客户")
        contact = self._person_name()
        if enterprise:
            city, core, legal = self._company()
            put("name", city + core + legal)
            put(
                "industry",
                self._pick(sheet.field("industry").choices or []) if "industry" in col else None,
            )
            put("company_size", self._pick(["50人以下", "50-200人", "200人以上"]))
            if self._u() < 0.8:
                put("credit_code", self._credit_code(self._pick(_ADMIN_CODES), i))
        else:
            put("name", contact)
        put("region", self._pick(["华北", "华东", "华南", "华中", "西南", "西北", "东北", "上海"]))
        put("contact_name", contact)
        put("position", self._pick(["决策者", "采购", "技术", "其他"]))
        put("mobile", self._mobile(self._pick(_MOBILE_PREFIXES), i))
        if self._u() < 0.7:
            put("email", f"{self._pick(self.pools.users)}{i}@{self._pick(self.pools.domains)}")
        put("address", f"{self._pick(self.pools.cities)}市{self._pick(self.pools.streets)}"
                       f"{self._int(1, 999)}号")  # fmt: skip
        source = self._pick(
            ["展会推荐", "线上推广", "老客户转介绍", "主动咨询", "合作伙伴", "其他"]
        )
        put("source", source)
        if source == "其他":
            put("source_remark", self._pick(["朋友介绍", "行业协会", "招标网站"]))
        # most customers came in the last two months, a tail over two years (a working sheet)
        first = self._int(1, 60) if self._u() < 0.7 else self._int(60, 720)
        self.customer_first[i] = first
        put("first_contact", self._day(-first))
        put("demand_type", "、".join(sorted(set(self._pick(["产品采购", "服务咨询", "技术支持",
                                                            "定制开发"], 1 + int(self._u() < 0.3))))))  # fmt: skip
        put("demand", self._pick(_DEMANDS))
        put("intent", self._pick(["高意向", "中意向", "低意向"]))
        put("expected_close", self._day(self._int(-30, 180)))
        put("expected_amount", float(self._int(1, 400) * 5000))
        stage = self._stage()
        put("stage", stage)
        owner = self._pick(self.sales)
        self.customer_owner[i] = owner
        put("owner", owner)
        put("next_followup", self._day(self._int(-10, 30)))
        put("level", self._pick(["重点客户", "潜力客户", "普通客户", "普通客户"]))
        if stage in ("成交", "售后维护"):
            start = self._day(-self._int(0, 365))
            put("contract_no", f"HT{start.year}{i + 1:07d}")
            put("contract_start", start)
            put("contract_end", start + timedelta(days=365))
            put("annual_amount", float(self._int(2, 200) * 10000))
            put("service_end", start + timedelta(days=365))
        if stage == "流失":
            put("lost_reason", self._pick(_LOST))
        if self._u() < 0.4:
            put("birthday", date(self._int(1960, 2001), self._int(1, 13),
                                 self._int(1, 29)))  # fmt: skip
        if self._u() < 0.2:
            put("preferences", self._pick(["偏好微信沟通", "上午联系", "注重售后", "价格敏感"]))
        if self._u() < 0.05:
            put("risk_notes", self._pick(["付款周期长", "决策链复杂", "有竞争对手在跟进"]))
        return row

    def _stage(self) -> str:
        u = self._u()
        return _STAGES[int(np.searchsorted(_STAGE_CDF, u, side="right"))]

    def _inject_problem(self, sheet: SheetConfig, col: dict[str, int], row: list[Any],
                        sheet_row: int, rid: str) -> None:  # fmt: skip
        """Give the row exactly one problem the check must report."""
        g = lambda k: row[col[k]] if k in col else None  # noqa: E731
        options: list[tuple[str, str]] = []
        for k in ("name", "contact_name", "mobile", "intent", "source", "first_contact"):
            if k in col and sheet.field(k).required:
                options.append(("required", k))
        if g("customer_type") == "企业客户":
            options += [("required_if", "industry"), ("required_if", "company_size")]
        if g("stage") == "成交":
            options += [("required_if", "contract_no"), ("required_if", "annual_amount")]
        if g("credit_code"):
            options.append(("invalid_credit_code", "credit_code"))
        if g("email"):
            options.append(("invalid_email", "email"))
        options += [("invalid_phone", "mobile"), ("invalid_choice", "intent"),
                    ("invalid_date", "first_contact"), ("invalid_number", "expected_amount")]  # fmt: skip
        options = [o for o in options if o[1] in col]
        code, key = options[self._int(0, len(options))]
        c = col[key]
        v = row[c]
        if code in ("required", "required_if"):
            row[c] = None
            bad = ""
        elif code == "invalid_credit_code":
            good = v[-1]
            alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
            bad = v[:-1] + alphabet[(alphabet.index(good) + 1) % len(alphabet)]
        elif code == "invalid_email":
            bad = v.replace("@", "") if self._u() < 0.5 else v.split("@")[0] + "@"
        elif code == "invalid_phone":
            bad = v[:7] if self._u() < 0.5 else v + "9"
        elif code == "invalid_choice":
            bad = {"intent": "很高意向"}.get(key, "未知选项")
        elif code == "invalid_date":
            bad = self._pick(["2024年2月30日", "2024-13-05", "下周三"])
        else:  # invalid_number
            bad = self._pick(["面议", "待定", "约十万"])
        if bad:
            row[c] = bad
        self._record(sheet.key, sheet_row, rid, Kind.problem, key, code, bad)

    def _inject_noise(self, sheet: SheetConfig, col: dict[str, int], row: list[Any],
                      sheet_row: int, rid: str) -> None:  # fmt: skip
        """Type one value the way people do; the check must accept it as the same value."""
        options = ["date_text", "fullwidth_phone", "phone_format", "spaces", "money_text"]
        if "email" in col and row[col["email"]]:
            options.append("email_case")
        code = self._pick(options)
        key = {"date_text": "first_contact", "fullwidth_phone": "mobile", "phone_format": "mobile",
               "spaces": "name", "money_text": "expected_amount", "email_case": "email"}[code]  # fmt: skip
        if key not in col or row[col[key]] is None:
            return
        c = col[key]
        v = row[c]
        if code == "date_text":
            d: date = v
            new = self._pick([f"{d.year}年{d.month}月{d.day}日", f"{d.year}/{d.month}/{d.day}",
                              f"{d:%Y%m%d}", f"{d:%Y-%m-%d}"])  # fmt: skip
        elif code == "fullwidth_phone":
            new = v.translate(_TO_FULLWIDTH)
        elif code == "phone_format":
            new = self._pick(
                [f"+86 {v[:3]}-{v[3:7]}-{v[7:]}", f"0086{v}", f"{v[:3]} {v[3:7]} {v[7:]}"]
            )
        elif code == "spaces":
            new = self._pick([v + "  ", "\u3000" + v, v + "\u200b", " " + v + " "])
        elif code == "money_text":
            amount = float(v)
            new = (f"{amount / 10000:g}万" if amount % 10000 == 0 and self._u() < 0.5
                   else f"¥{amount:,.2f}")  # fmt: skip
        else:
            new = v.upper()
        row[c] = new
        self._record(sheet.key, sheet_row, rid, Kind.noise, key, code, new)

    def _duplicate(self, sheet: SheetConfig, col: dict[str, int], original: list[Any], rid: str,
                   i: int, j: int, sheet_row: int, *, record: bool = True) -> list[Any]:  # fmt: skip
        """Return a copy of an earlier clean row, typed again by another rep, with variations."""
        assert self.customer_first is not None and self.customer_owner is not None
        row = list(original)
        row[col[sheet.id_field]] = rid
        orig_id = original[col[sheet.id_field]]
        first = int(self.customer_first[j]) - self._int(1, 60)
        first = max(first, 0)
        self.customer_first[i] = first
        if "first_contact" in col:
            row[col["first_contact"]] = self._day(-first)
        self.customer_owner[i] = self._pick(self.sales)
        if "owner" in col:
            row[col["owner"]] = self.customer_owner[i]
        if "contract_no" in col and row[col["contract_no"]]:
            row[col["contract_no"]] = f"HT{self.today.year}{i + 1:07d}"
        name = row[col["name"]] if "name" in col else ""
        options = ["phone_format", "spaces"]
        if "email" in col and row[col["email"]]:
            options.append("email_case")
        enterprise = "customer_type" in col and row[col["customer_type"]] == "企业客户"
        if enterprise and name:
            options += ["suffix", "suffix", "brackets", "name_typo", "no_legal_form"]
        code = self._pick(options)
        if code == "phone_format" and "mobile" in col:
            v = row[col["mobile"]]
            row[col["mobile"]] = self._pick([f"+86{v}", f"{v[:3]}-{v[3:7]}-{v[7:]}", f"+86 {v}"])
        elif code == "spaces" and name:
            row[col["name"]] = " " + name + " "
        elif code == "email_case":
            row[col["email"]] = row[col["email"]].upper()
        elif code == "suffix":
            for a, b in (("有限责任公司", "有限公司"), ("股份有限公司", "有限公司"),
                         ("集团有限公司", "集团"), ("有限公司", "有限责任公司")):  # fmt: skip
                if name.endswith(a):
                    row[col["name"]] = name[: -len(a)] + b
                    break
        elif code == "no_legal_form":
            for legal in sorted(set(_LEGAL_FORMS), key=len, reverse=True):
                if name.endswith(legal):
                    row[col["name"]] = name[: -len(legal)]
                    break
        elif code == "brackets":
            for city in self.pools.cities:
                if name.startswith(city):
                    row[col["name"]] = self._pick(["（", "("]) + city + self._pick(["）", ")"]) \
                        + name[len(city):]  # fmt: skip
                    break
        elif code == "name_typo":
            # one character of the brand replaced; the same phone makes it the same customer
            chars = list(name)
            k = next((m for m, ch in enumerate(chars) if ch in _BRAND_CHARS), len(chars) // 2)
            chars[k] = self._pick([ch for ch in _BRAND_CHARS if ch != chars[k]])
            row[col["name"]] = "".join(chars)
        if record:
            self._record(sheet.key, sheet_row, rid, Kind.duplicate, "name", code, orig_id)
        return row

    def _hard(self, sheet: SheetConfig, col: dict[str, int], row: list[Any], original: list[Any],
              i: int, sheet_row: int) -> list[Any]:  # fmt: skip
        """Make a duplicate hard, as a rep who never saw the first record types it: a new phone, no
        e-mail or credit code, and one more change (the truth row's code says which). What stays
        is what a person would tell them by: at least the name and one of address and contact."""
        rng = self.hard_rng
        typed_again = row
        row = list(original)  # the typing variations of an easy duplicate are not needed here
        for key in ("first_contact", "owner", "contract_no", sheet.id_field):
            if key in col:
                row[col[key]] = typed_again[col[key]]
        if "mobile" in col:
            row[col["mobile"]] = self._mobile(str(rng.choice(_MOBILE_PREFIXES)), 50_000_000 + i)
        for key in ("email", "credit_code"):
            if key in col:
                row[col[key]] = None
        enterprise = "customer_type" in col and row[col["customer_type"]] == "企业客户"
        changes = ["short_address", "room_address"]
        if enterprise:
            changes += ["blank_address", "other_contact", "name_typo", "region_in_brackets"]
        change = str(rng.choice(changes))
        address = str(row[col["address"]] or "") if "address" in col else ""
        name = str(row[col["name"]] or "") if "name" in col else ""
        new: dict[str, Any] = {}
        if change == "short_address" and "市" in address:
            new["address"] = address.split("市", 1)[1]
        elif change == "room_address" and address:
            floor, room = rng.integers(1, 30), rng.integers(1, 9)
            new["address"] = f"{address}{floor}楼{floor}0{room}室"
        elif change == "blank_address" and address:
            new["address"] = None
        elif change == "other_contact" and "contact_name" in col:
            pools = self.pools
            while (other := str(rng.choice(pools.surnames)) + str(rng.choice(pools.given))) == \
                    row[col["contact_name"]]:  # fmt: skip
                pass
            new["contact_name"] = other
        elif change == "name_typo" and name:
            chars = list(name)
            k = next((m for m, ch in enumerate(chars) if ch in _BRAND_CHARS), len(chars) // 2)
            chars[k] = str(rng.choice([ch for ch in _BRAND_CHARS if ch != chars[k]]))
            new["name"] = "".join(chars)
        elif change == "region_in_brackets" and name:
            city = next((c for c in self.pools.cities if name.startswith(c)), None)
            if city:
                core = name[len(city) :]
                legal = next((x for x in sorted(set(_LEGAL_FORMS), key=len, reverse=True)
                              if core.endswith(x)), "")  # fmt: skip
                new["name"] = f"{core[: len(core) - len(legal)]}（{city}）{legal}"
        for key, value in new.items():
            row[col[key]] = value
        change = change if new else "new_phone"  # what was really changed besides the phone
        self._record(sheet.key, sheet_row, str(row[col[sheet.id_field]]), Kind.duplicate, "name",
                     f"hard:{change}", original[col[sheet.id_field]])  # fmt: skip
        return row

    def _namesake(self, sheet: SheetConfig, col: dict[str, int], row: list[Any],
                  earlier: list[tuple[int, list[Any]]], sheet_row: int, rid: str) -> None:  # fmt: skip
        """Give a clean 个人客户 the name and city of an earlier one: two people, one name, one
        city, different streets and phones. Dedupe must not join them."""
        if "customer_type" not in col or row[col["customer_type"]] != "个人客户":
            return
        people = [r for _, r in earlier if r[col["customer_type"]] == "个人客户"]
        if not people or "name" not in col:
            return
        other = people[int(self.hard_rng.integers(0, len(people)))]
        row[col["name"]] = other[col["name"]]
        if "contact_name" in col:
            row[col["contact_name"]] = other[col["contact_name"]]
        if "address" in col and other[col["address"]] and row[col["address"]]:
            city = str(other[col["address"]]).split("市", 1)[0]
            row[col["address"]] = city + "市" + str(row[col["address"]]).split("市", 1)[-1]
        self._record(sheet.key, sheet_row, rid, Kind.namesake, "name", "namesake",
                     other[col[sheet.id_field]])  # fmt: skip

    # -- follow-ups and requests ---------------------------------------------------------------
    def _known_customer(self) -> tuple[int, str]:
        assert self.customer_ids is not None
        for _ in range(20):
            k = self._int(0, len(self.customer_ids))
            if self.customer_ids[k]:
                return k, self.customer_ids[k]
        return 0, self.customer_ids[0] or "C000001"

    def followups(self, sheet: SheetConfig, n: int,
                  progress: Callable[[str, int], None] | None) -> Iterator[list[Any]]:  # fmt: skip
        keys = [f.key for f in sheet.fields]
        col = {k: i for i, k in enumerate(keys)}
        assert self.customer_first is not None and self.customer_owner is not None
        if progress:
            progress("followups", 0)
        for i in range(n):
            if progress and i and i % CHUNK == 0:
                progress("followups", i)
            row: list[Any] = [None] * len(keys)
            for f in sheet.fields:
                if f.required and f.key not in _KNOWN_FOLLOWUP_KEYS:
                    row[col[f.key]] = _generic_value(f, self, i)
            rid = sheet.id_for(i + 1)
            k, cid = self._known_customer()
            values = {
                sheet.id_field: rid, "customer_id": cid,
                # most follow-ups within the last three weeks; a tail of old ones
                "date": self._day(-self._int(0, (min(int(self.customer_first[k]), 21)
                                                 if self._u() < 0.85 else int(self.customer_first[k])) + 1)),
                "method": self._pick(["电话", "拜访", "邮件", "线上会议", "微信"]),
                "content": self._pick(_FOLLOWUPS), "next_step": self._pick(_NEXT_STEPS) or None,
                "by": self.customer_owner[k],
            }  # fmt: skip
            for key, v in values.items():
                if key in col:
                    row[col[key]] = v
            sheet_row = sheet.header_row + 1 + i
            u = self._u()
            if u < 0.02 and "customer_id" in col:
                bad = f"{self.config.sheet('customers').id_prefix}9{self._int(0, 10**6):06d}"
                row[col["customer_id"]] = bad
                self._record(sheet.key, sheet_row, rid, Kind.problem, "customer_id",
                             "unknown_reference", bad)  # fmt: skip
            elif u < 0.03 and "content" in col:
                row[col["content"]] = None
                self._record(sheet.key, sheet_row, rid, Kind.problem, "content", "required")
            yield row
        if progress:
            progress("followups", n)

    def requests(self, sheet: SheetConfig, n: int,
                 progress: Callable[[str, int], None] | None) -> Iterator[list[Any]]:  # fmt: skip
        keys = [f.key for f in sheet.fields]
        col = {k: i for i, k in enumerate(keys)}
        handlers = [p.name for p in self.config.people if p.role in (Role.service, Role.sales)]
        if progress:
            progress("requests", 0)
        for i in range(n):
            row: list[Any] = [None] * len(keys)
            for f in sheet.fields:
                if f.required and f.key not in _KNOWN_REQUEST_KEYS:
                    row[col[f.key]] = _generic_value(f, self, i)
            rid = sheet.id_for(i + 1)
            _, cid = self._known_customer()
            state = self._pick(["待处理", "处理中", "已解决", "已关闭"])
            submitted = -self._int(0, 90)
            values = {
                sheet.id_field: rid, "customer_id": cid, "submitted_at": self._day(submitted),
                "demand_type": self._pick(["产品采购", "服务咨询", "技术支持", "投诉建议"]),
                "description": self._pick(_DEMANDS),
                "expected_done": self._day(submitted + self._int(7, 60)),
                "handler": self._pick(handlers or self.everyone), "state": state,
                "satisfaction": float(self._int(1, 6)) if state in ("已解决", "已关闭")
                else None,
            }  # fmt: skip
            for key, v in values.items():
                if key in col:
                    row[col[key]] = v
            sheet_row = sheet.header_row + 1 + i
            if self._u() < 0.02 and "satisfaction" in col:
                row[col["satisfaction"]] = 6.0
                self._record(sheet.key, sheet_row, rid, Kind.problem, "satisfaction",
                             "out_of_range", 6)  # fmt: skip
            yield row
        if progress:
            progress("requests", n)


_KNOWN_CUSTOMER_KEYS = {
    "customer_id", "name", "customer_type", "industry", "company_size", "region", "credit_code",
    "contact_name", "position", "mobile", "email", "address", "source", "source_remark",
    "first_contact", "demand_type", "demand", "intent", "expected_close", "expected_amount",
    "stage", "owner", "next_followup", "level", "contract_no", "contract_start", "contract_end",
    "annual_amount", "service_end", "lost_reason", "birthday", "preferences", "risk_notes",
}  # fmt: skip
_KNOWN_FOLLOWUP_KEYS = {
    "followup_id",
    "customer_id",
    "date",
    "method",
    "content",
    "next_step",
    "by",
}
_KNOWN_REQUEST_KEYS = {"request_id", "customer_id", "submitted_at", "demand_type", "description",
                       "expected_done", "handler", "state", "satisfaction"}  # fmt: skip


def _generic_value(f: Any, gen: _Generator, i: int) -> Any:
    """Return a valid value for a required field the demo does not know by name."""
    t = f.type
    if t in CHOICE_TYPES:
        return f.default if f.default is not None else gen._pick(f.choices)
    if t is FieldType.member:
        return gen._pick(member_choices(f, gen.config) or gen.everyone)
    if t is FieldType.date:
        return gen._day(-gen._int(0, 365))
    if t in (FieldType.number, FieldType.money, FieldType.rating):
        lo, hi = f.bounds
        return float(lo if lo is not None else (hi if hi is not None else 1))
    if t is FieldType.phone:
        return gen._mobile("139", i + 50_000_000)
    if t is FieldType.email:
        return f"user{i}@example.com"
    if t is FieldType.credit_code:
        return gen._credit_code("110105", i + 500_000_000)
    if f.default is not None:
        return str(f.default)
    return f"{f.label}{i + 1}"


def advance_demo(path: Path, config: Config, *, moves: int, today: date, seed: int = 1) -> int:
    """Play a week of a team's work on a demo workbook: `moves` customers move one stage on (a won
    stage gets a contract number, amount and start date, as the rules require) and get a follow-up
    row dated `today`. Gives the report's funnel and trends something to show; returns the moves."""
    import openpyxl

    rng = np.random.default_rng(seed)
    sheet = config.sheet("customers")
    order, _ = config.stage_order(sheet.key)
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet.name]
    col = {str(c.value or "").lstrip("*").strip(): c.column for c in ws[1]}
    label = {f.key: f.label for f in sheet.fields}
    assert sheet.stage_field is not None  # the demo's customers sheet has one
    stage_col = col[label[sheet.stage_field]]
    candidates = [r for r in range(2, ws.max_row + 1)
                  if ws.cell(r, stage_col).value in order[:-1]]  # fmt: skip
    chosen = rng.choice(candidates, size=min(moves, len(candidates)), replace=False)
    followups = (
        wb[config.sheet("followups").name]
        if "followups" in {s.key for s in config.sheets}
        else None
    )
    for r in sorted(int(x) for x in chosen):
        nxt = order[order.index(ws.cell(r, stage_col).value) + 1]
        ws.cell(r, stage_col).value = nxt
        if config.report is not None and nxt in config.report.won_stages:
            for key, value in (("contract_no", f"HT{today:%Y%m%d}{r:05d}"),
                               (config.report.deal_amount, int(rng.integers(2, 60)) * 10_000),
                               (config.report.deal_date, today)):  # fmt: skip
                if label.get(key) in col and ws.cell(r, col[label[key]]).value in (None, ""):
                    ws.cell(r, col[label[key]]).value = value
        if followups is not None:
            fsheet = config.sheet("followups")
            fcol = {str(c.value or "").lstrip("*").strip(): c.column for c in followups[1]}
            flabel = {f.key: f.label for f in fsheet.fields}
            owner = config.owner_field(sheet.key)
            row = followups.max_row + 1
            values = {"customer_id": ws.cell(r, col[label[sheet.id_field]]).value, "date": today,
                      "method": "电话", "content": f"推进到{nxt}",
                      "by": ws.cell(r, col[label[owner]]).value if owner else None}  # fmt: skip
            for key, value in values.items():
                if flabel.get(key) in fcol:
                    followups.cell(row, fcol[flabel[key]]).value = value
    wb.save(path)
    return len(chosen)
