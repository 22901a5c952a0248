"""The message catalogue: every text a person reads, in each supported locale.

Code refers to messages by id; `text(locale, id, **values)` picks the locale's wording. Chinese is the
default because most teams using sheetcrm work in Chinese.
"""

from __future__ import annotations

from typing import Literal

Locale = Literal["zh_CN", "en"]

CATALOGUE: dict[str, dict[str, str]] = {
    # field types, as shown in the instructions sheet and header comments
    "type.text": {"zh_CN": "文本", "en": "text"},
    "type.long_text": {"zh_CN": "长文本", "en": "long text"},
    "type.choice": {"zh_CN": "单选", "en": "single choice"},
    "type.multi_choice": {"zh_CN": "多选", "en": "multiple choice"},
    "type.date": {"zh_CN": "日期", "en": "date"},
    "type.number": {"zh_CN": "数字", "en": "number"},
    "type.money": {"zh_CN": "金额", "en": "amount"},
    "type.phone": {"zh_CN": "电话", "en": "phone"},
    "type.email": {"zh_CN": "电子邮箱", "en": "e-mail"},
    "type.credit_code": {"zh_CN": "统一社会信用代码", "en": "unified social credit code"},
    "type.member": {"zh_CN": "成员", "en": "team member"},
    "type.rating": {"zh_CN": "评分", "en": "rating"},
    "type.link": {"zh_CN": "链接", "en": "link"},
    # what a type expects
    "expect.date": {"zh_CN": "日期，如 2024-03-15", "en": "a date such as 2024-03-15"},
    "expect.phone": {
        "zh_CN": "11位手机号，可带 +86",
        "en": "an 11-digit mobile number, +86 allowed",
    },
    "expect.phone_landline": {
        "zh_CN": "手机号或固定电话，如 010-12345678",
        "en": "a mobile or a fixed line such as 010-12345678",
    },
    "expect.email": {"zh_CN": "电子邮箱，如 name@example.com", "en": "an e-mail address"},
    "expect.credit_code": {"zh_CN": "18位统一社会信用代码", "en": "an 18-character credit code"},
    "expect.money": {"zh_CN": "金额（元），可写“3万”", "en": "an amount, e.g. 30000"},
    "expect.number": {"zh_CN": "数字", "en": "a number"},
    "expect.range": {"zh_CN": "{min} 到 {max} 之间", "en": "between {min} and {max}"},
    "expect.min": {"zh_CN": "不小于 {min}", "en": "at least {min}"},
    "expect.max": {"zh_CN": "不大于 {max}", "en": "at most {max}"},
    "expect.choice": {
        "zh_CN": "从下拉列表选择：{choices}",
        "en": "choose from the list: {choices}",
    },
    "expect.multi_choice": {
        "zh_CN": "可多选，用“、”分隔：{choices}",
        "en": "one or more, separated by commas: {choices}",
    },
    "expect.member": {"zh_CN": "从下拉列表选择成员", "en": "choose a team member from the list"},
    "expect.max_length": {"zh_CN": "不超过 {n} 个字", "en": "at most {n} characters"},
    "expect.not_before_today": {"zh_CN": "不早于今天", "en": "not before today"},
    "expect.unique": {"zh_CN": "不可重复", "en": "must be unique"},
    "expect.required": {"zh_CN": "必填", "en": "required"},
    "expect.required_if": {
        "zh_CN": "满足条件时必填：{condition}",
        "en": "required when {condition}",
    },
    "expect.references": {"zh_CN": "须为“{sheet}”表中已有的编号", "en": "an ID from sheet {sheet}"},
    # template texts
    "template.lists_sheet": {"zh_CN": "选项", "en": "Lists"},
    "template.instructions_sheet": {"zh_CN": "填写说明", "en": "Instructions"},
    "template.status_comment": {
        "zh_CN": "此列由 sheetcrm 自动填写，请勿修改",
        "en": "sheetcrm fills this column; please do not edit it",
    },
    "template.title": {"zh_CN": "填写说明", "en": "How to fill in this workbook"},
    "template.intro": {
        "zh_CN": (
            "带 * 的列为必填项；下拉列表列请从列表中选择；灰色列为系统状态列，由 sheetcrm 每晚自动"
            "填写，请勿修改。编号列留空即可，系统会自动编号。可以排序、筛选、插入行，"
            "不要修改表头文字。"
        ),
        "en": (
            "Columns marked * are required; choose dropdown columns from the list; the grey status "
            "columns are filled by sheetcrm every night, do not edit them. Leave ID cells blank: "
            "sheetcrm numbers new rows. Sorting, filtering and inserting rows are fine; do not "
            "change the header texts."
        ),
    },
    "template.col.sheet": {"zh_CN": "工作表", "en": "Sheet"},
    "template.col.column": {"zh_CN": "列名", "en": "Column"},
    "template.col.required": {"zh_CN": "是否必填", "en": "Required"},
    "template.col.type": {"zh_CN": "类型", "en": "Type"},
    "template.col.rules": {"zh_CN": "填写要求", "en": "What to enter"},
    "template.col.note": {"zh_CN": "说明", "en": "Notes"},
    "template.yes": {"zh_CN": "是", "en": "yes"},
    "template.no": {"zh_CN": "否", "en": "no"},
    "template.conditional": {"zh_CN": "条件必填", "en": "conditional"},
    "template.status": {"zh_CN": "系统列", "en": "status"},
}


def text(locale: Locale, message_id: str, **values: object) -> str:
    """Return the message `message_id` in `locale` (falling back to Chinese), filled with `values`."""
    entry = CATALOGUE[message_id]
    return entry.get(locale, entry["zh_CN"]).format(**values)
