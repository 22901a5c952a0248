"""config.toml: the bundled one loads, and every kind of mistake fails at load naming the key."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sheetcrm.config import FieldType, Schedule, StatusKey, load_config, parse_config
from sheetcrm.errors import ConfigError

from .conftest import ROOT

RAW = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def field_index(raw: dict[str, Any], sheet: int, key: str) -> int:
    return next(i for i, f in enumerate(raw["sheets"][sheet]["fields"]) if f["key"] == key)


def test_bundled_config_describes_the_teams_form(config):
    customers = config.sheet("customers")
    assert customers.name == "客户信息"
    assert customers.fields[0].key == customers.id_field == "customer_id"
    assert customers.field("stage").choices[0] == "线索"
    assert customers.field("level").default == "普通客户"
    assert customers.field("credit_code").type is FieldType.credit_code
    assert customers.field("industry").required_if == 'customer_type == "企业客户"'
    assert {s.key for s in customers.status} == set(StatusKey)
    assert config.sheet("followups").field("customer_id").references == "customers"
    assert config.sheet("requests").field("satisfaction").bounds == (1, 5)
    assert config.person("王明").manager == "刘洋"
    assert config.jobs["digest"].every == "weekday"


def test_relative_paths_are_anchored_at_the_config_folder(config):
    assert config.workbook_path == ROOT / "data" / "customers.xlsx"
    assert config.store_url == f"sqlite:///{ROOT / 'state' / 'sheetcrm.sqlite'}"


def _set(path: tuple[Any, ...], value: Any):
    def change(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _field(key: str, option: str, value: Any, sheet: int = 0):
    def change(raw: dict[str, Any]) -> None:
        raw["sheets"][sheet]["fields"][field_index(raw, sheet, key)][option] = value

    return change


def _delete(path: tuple[Any, ...]):
    def change(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


def _ix(key: str) -> int:
    return field_index(RAW, 0, key)


BAD = [
    ("unknown top key", _set(("colour",), "blue"), "colour: unknown key"),
    ("misspelt option", _field("name", "requird", True), f'sheets[0] ("customers").fields[{_ix("name")}] ("name").requird'),
    ("unknown type", _field("customer_type", "type", "colour"),
     f'fields[{_ix("customer_type")}] ("customer_type").type: Input should be'),
    ("wrong value type", _field("name", "required", "yes please"), "required"),
    ("choice default not a choice", _field("level", "default", "超级客户"),
     "is not among the choices"),
    ("member default unknown", _field("owner", "default", "马云"),
     f'fields[{_ix("owner")}] ("owner").default: \'马云\' is not a person'),
    ("duplicate label", _field("region", "label", "客户名称"),
     "label '客户名称' is also used by field 'name'"),
    ("status label clashes", _set(("sheets", 0, "status", 0, "label"), "客户名称"),
     'status[0] ("validation").label'),
    ("unknown manager", _set(("people", 2, "manager"), "刘阳"),
     'people[2] ("王明").manager: \'刘阳\' is not in [[people]]'),
    ("condition syntax", _field("industry", "required_if", "customer_type == "),
     "required_if"),
    ("condition unknown field", _field("industry", "required_if", 'customer_typ == "企业客户"'),
     "unknown name 'customer_typ': not a field of this sheet; did you mean 'customer_type'?"),
    ("bad schedule", _set(("jobs", "nightly"), "every day at 25:00"), "jobs.nightly"),
    ("password in config", _set(("mail", "password"), "secret"), "environment variable"),
    ("smtp without host", _set(("mail", "transport"), "smtp"), "transport 'smtp' needs 'host'"),
    ("bad time zone", _set(("timezone",), "Asia/Shangai"), "unknown time zone"),
    ("unknown reference", _field("customer_id", "references", "clients", sheet=1),
     "'clients' is not a sheet key"),
    ("choices on text", _field("name", "choices", ["a"]), "'choices' is only for choice"),
    ("min above max", _field("satisfaction", "min", 9, sheet=2), "'min' (9.0) is greater than"),
    ("bad pattern", _field("customer_id", "pattern", "C(\\d"), "not a valid regular expression"),
    ("id field not first", _set(("sheets", 0, "id_field"), "name"), "must be the first field"),
    ("missing source", _delete(("source",)), "source: required key is missing"),
    # #25: the weighted form is refused with the line that replaces it
    ("dedupe's old form", _set(("sheets", 0, "dedupe"), {"exact": ["mobile"], "threshold": 0.9,
        "fuzzy": [{"field": "name", "weight": 0.5}, {"field": "address", "weight": 0.5}]}),
     '("customers").dedupe: \'exact\', \'fuzzy\' and \'window\' were replaced by \'fields\''),
    ("dedupe's old form, the fix", _set(("sheets", 0, "dedupe"), {"exact": ["mobile"],
        "fuzzy": [{"field": "name", "weight": 0.5}, {"field": "address", "weight": 0.5}]}),
     'fields = { mobile = "phone", name = "name", address = "address" }'),
    ("dedupe kind unknown", _set(("sheets", 0, "dedupe"), {"fields": {"name": "fuzzy"}}),
     '("customers").dedupe.fields.name: Input should be \'exact\', \'phone\', \'name\', \'person\' or \'address\''),
    ("dedupe field unknown", _set(("sheets", 0, "dedupe"), {"fields": {"nam": "name"}}),
     "'nam' is not a field of this sheet"),
    ("bad e-mail", _set(("people", 0, "email"), "zhangwei"), 'people[0] ("张伟").email'),
    ("duplicate person", _set(("people", 1, "name"), "张伟"), "given to two people"),
    ("bad sheet name", _set(("sheets", 0, "name"), "客户/信息"), "cannot contain /"),
    ("backup key in config", _set(("backup", "key"), "abc"), "set 'key_env'"),
    ("google token in config", _set(("gsheet",), {"refresh_token": "x"}), "do not put Google keys"),
    ("bad gsheet source", _set(("source",), "gsheet://not a key"), "expected gsheet://"),
    ("report field of the wrong type", _set(("report", "deal_amount"), "name"),
     "report.deal_amount: 'name' is a text field; expected money or number"),
    ("report stage not a choice", _set(("report", "won_stages"), ["签约"]), "report.won_stages"),
    ("report mail to nobody", _set(("report", "mail_to"), ["老板"]), "report.mail_to[0]"),
    ("import synonym of no field", _set(("import", "synonyms", "phone"), ["手机"]),
     "import.synonyms.phone"),
    ("import into a renamed sheet", _set(("sheets", 0, "key"), "clients"), "import.sheet"),
    # conditions that exhausted the compiler or float (OverflowError, RecursionError) before
    ("401-digit literal", _field("industry", "required_if", "expected_amount > " + "9" * 401),
     "required_if: the number is too large"),
    ("5,000 nested nots", _field("industry", "required_if", "not " * 5000 + "is_empty(name)"),
     "required_if: the condition is too long"),
    ("20,000-term sum", _field("industry", "required_if", " + ".join(["expected_amount"] * 20000) + " > 1"),
     "required_if: the condition is too long"),
    ("150 nested nots", _field("industry", "required_if", "not " * 150 + "is_empty(name)"),
     "required_if: the condition is nested too deeply"),
    ("store driver missing", _set(("store", "url"), "mysql+mysqldb://crm@db/crm"),
     "store.url: the database driver 'MySQLdb' for 'mysql+mysqldb' is not installed"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_fails_at_load_naming_the_key(change, expected):
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(ConfigError) as err:
        parse_config(raw, base_dir=ROOT)
    assert expected in str(err.value)


def test_condition_error_points_a_caret_at_the_mistake():
    raw = copy.deepcopy(RAW)
    _field("industry", "required_if", "customer_type === 1")(raw)
    with pytest.raises(ConfigError) as err:
        parse_config(raw, base_dir=ROOT)
    lines = str(err.value).splitlines()
    text_line = next(i for i, line in enumerate(lines) if "customer_type === 1" in line)
    caret = lines[text_line + 1]
    column = caret.index("^") - lines[text_line].index("customer_type")
    assert "customer_type === 1"[column] == "="


def test_invalid_toml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "config.toml"
    bad.write_text('source = "x.xlsx"\n[[sheets]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nothing.toml")


@pytest.mark.parametrize(
    ("text", "every", "interval", "at"),
    [
        ("every day at 02:00", "day", None, "02:00:00"),
        ("every weekday at 08:00", "weekday", None, "08:00:00"),
        ("Every Monday at 7:30", "monday", None, "07:30:00"),
        ("every 15 minutes", "minutes", 15, None),
    ],
)
def test_schedules_parse(text, every, interval, at):
    s = Schedule.parse(text)
    assert (s.every, s.interval, s.at.isoformat() if s.at else None) == (every, interval, at)


@pytest.mark.parametrize(
    "text", ["daily", "every day at 2", "every 0 minutes", "every funday at 01:00"]
)
def test_bad_schedules_are_refused(text):
    with pytest.raises(ValueError):
        Schedule.parse(text)


def test_each_reminder_timing_is_its_own_type_and_old_keys_keep_working():
    """[[reminders]] entries written as in earlier versions load as one class per timing; an entry
    with no timing, two timings, or an escalation on a timing without stale_days names the key."""
    from sheetcrm.config import AtMonthEnd, EveryDays, OnDate, OnWeekday, WhenOverdue, WhenStale

    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    kinds = [type(r) for r in parse_config(raw, base_dir=ROOT).reminders]
    assert kinds[:4] == [EveryDays, OnWeekday, AtMonthEnd, WhenStale]
    assert OnDate in kinds and kinds[-1] is WhenOverdue
    n = len(kinds)
    for extra, says in [
        ({"every_days": 2, "weekday": "monday"}, "give exactly one of every_days, weekday"),
        ({}, "give exactly one of every_days, weekday"),
        (
            {"weekday": "monday", "escalate_after_hours": 24},
            "escalate_after_hours goes with stale_days",
        ),
        ({"every_days": 0}, ".every_days"),
    ]:
        bad = copy.deepcopy(raw)
        bad["reminders"].append({"name": "x", **extra})
        with pytest.raises(ConfigError, match=re.escape(says)) as e:
            parse_config(bad, base_dir=ROOT)
        assert f'reminders[{n}] ("x")' in str(e.value) and "timing:" not in str(e.value)


def test_conditions_are_compiled_once_at_load():
    config = parse_config(tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8")),
                          base_dir=ROOT)  # fmt: skip
    sheet = config.sheet("customers")
    rule = config.reminders[0]
    assert sheet.condition(rule.when) is sheet.condition(rule.when)
    assert rule.when in sheet._compiled  # compiled by the load's cross-checks, kept for the runs
