"""Rules a team can trust with any config (#22 items 8-10), through dated runs of a real workbook
and store: the welcome mail exactly once per customer, whoever set 高意向; two permission rules
neither double a flag nor rewrite an unchanged workbook; an unattributed edit of a protected field
is flagged to the manager; a sales rep's name in 审批人 is an invalid approval, not "pending"."""

from __future__ import annotations

from datetime import date, datetime

from sheetcrm.store import Store

from .test_changes import instance, run, store_url  # noqa: F401  (fixtures)
from .test_rules import edit, sheet_values
from .workbooks import small_instance

NIGHTS = [datetime(2026, 11, d, 2, 0) for d in range(20, 30)]


def welcomes(store: Store) -> list[str]:
    return sorted(n["record_id"] for n in store.notifications() if n["kind"] == "customer"
                  and n["key"].startswith("customer:welcome:"))  # fmt: skip


def test_the_welcome_mail_goes_once_per_customer_whoever_set_the_intent(instance):  # noqa: F811
    config, _ = instance
    store = Store(config.store_url)
    edit(config, {f"C00000{i}": {"intent": "低意向", "email": f"c{i}@example.com", "demand": None}
                  for i in range(1, 6)})  # fmt: skip
    run(config, NIGHTS[0], store)  # the first night: nobody is new, nobody is welcomed
    assert welcomes(store) == []
    # a derive rule makes C000001 高意向 (budget confirmed, closing within a week)
    edit(config, {"C000001": {"intent": "中意向", "demand": "客户已确认预算",
                              "expected_close": date(2026, 11, 25)}})  # fmt: skip
    run(config, NIGHTS[1], store)
    assert "高意向" in sheet_values(config)["C000001"].values()
    assert welcomes(store) == ["C000001"]
    # a person sets C000002 高意向, then 中意向, then 高意向 again
    for night, intent in zip(NIGHTS[2:5], ["高意向", "中意向", "高意向"], strict=True):
        edit(config, {"C000002": {"intent": intent}})
        run(config, night, store)
    assert welcomes(store) == ["C000001", "C000002"]


def test_two_permission_rules_neither_double_a_flag_nor_rewrite_the_workbook(tmp_path, store_url):  # noqa: F811
    """With two [[rules.permissions]] the 权限 flag doubled every run (2, 4, 8 copies), so the
    workbook was rewritten on nights nothing changed."""
    config, _ = make_instance(tmp_path, store_url, extra_permissions=2)
    store = Store(config.store_url)
    edit(config, {"C000002": {"owner": "王明", "modified_by": None}})
    run(config, NIGHTS[0], store)
    edit(config, {"C000002": {"level": "重点客户", "modified_by": "王明"}})
    run(config, NIGHTS[1], store)
    note = sheet_values(config)["C000002"]["规则提示"]
    assert note == "权限：王明（销售）无权修改「客户等级」", note
    for night in [NIGHTS[1], *NIGHTS[2:6]]:  # the same night again, then nights nobody edits
        plan = run(config, night, store)
        assert not [c for c in plan.cell_changes(config) if c.column == "规则提示"], night
        assert not [n for n in plan.notifications if n.kind == "permission"], night
        assert sheet_values(config)["C000002"]["规则提示"] == note


def test_an_unattributed_edit_of_a_protected_field_is_flagged_to_the_manager(instance):  # noqa: F811
    config, _ = instance
    store = Store(config.store_url)
    edit(config, {"C000003": {"owner": "王明", "modified_by": None}})
    run(config, NIGHTS[0], store)
    edit(config, {"C000003": {"level": "重点客户"}})  # 修改人 left blank
    plan = run(config, NIGHTS[1], store)
    note = sheet_values(config)["C000003"]["规则提示"]
    assert note == "权限：「客户等级」被修改，但「修改人」未填写，无法确认是否有权修改", note
    assert [(n.kind, n.recipient) for n in plan.notifications if n.record_id == "C000003"
            and n.kind == "permission"] == [("permission", "刘洋")]  # 王明's manager  # fmt: skip


def test_a_sales_reps_name_as_approver_is_an_invalid_approval(instance):  # noqa: F811
    config, _ = instance
    store = Store(config.store_url)
    edit(config, {"C000004": {"annual_amount": 150000, "approved_by": "李明", "owner": "王明"}})
    run(config, NIGHTS[0], store)
    row = sheet_values(config)["C000004"]
    assert row["审批状态"] == "审批无效：李明 不是销售经理", row["审批状态"]
    assert "李明" in row["问题说明"]  # and the check still says the field takes a manager


def make_instance(tmp_path, url: str, *, extra_permissions: int = 0):
    """The bundled instance with `extra_permissions` more sales permission rules."""
    rule = '\n[[rules.permissions]]\nrole = "sales"\nmay_not_edit = ["level"]\nrecords = "all"\n'
    config = small_instance(tmp_path, url, replace={
        "[rules.duplicates]": rule * extra_permissions + "\n[rules.duplicates]"})  # fmt: skip
    return config, tmp_path
