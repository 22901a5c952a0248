"""The message catalogue: every text a person reads, in each supported locale.

Code refers to messages by id; `text(locale, id, **values)` picks the locale's wording. Chinese is the
default because most teams using sheetcrm work in Chinese.
"""

from __future__ import annotations

from typing import Any, Literal

Locale = Literal["zh_CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh_CN", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    # digests
    "digest.subject": {
        "zh_CN": "sheetcrm 每日摘要 {day}：{count} 项",
        "en": "sheetcrm daily digest {day}: {count} items",
    },
    "digest.greeting": {
        "zh_CN": "{name}，你好！以下是需要你处理或知晓的事项：",
        "en": "Hello {name}, here is what needs you or concerns you:",
    },
    "digest.footer": {
        "zh_CN": "本邮件由 sheetcrm 根据团队的客户表自动生成，请在表格中处理。",
        "en": "sheetcrm wrote this from the team's workbook; please act in the workbook.",
    },
    "report.subject": {
        "zh_CN": "sheetcrm 报告 {start} 至 {end}",
        "en": "sheetcrm report {start} to {end}",
    },
    "report.body": {
        "zh_CN": "{name}，你好！附件是 {start} 至 {end} 的报告（{scope}）。",
        "en": "Hello {name}, attached is the report for {start} to {end} ({scope}).",
    },
    "report.scope_all": {"zh_CN": "全部客户", "en": "all customers"},
    "report.scope_team": {"zh_CN": "你能查看的客户", "en": "the customers you may see"},
    "digest.more": {"zh_CN": "另有 {count} 位客户待处理", "en": "{count} more customers to act on"},
    "digest.more_hint": {
        "zh_CN": "见工作簿：按「下次提醒」筛选 ≤ 今天",
        "en": "filter the workbook by its next-reminder column",
    },
    "digest.todo": {
        "zh_CN": "今天要处理的客户（最要紧的在前）",
        "en": "Customers to act on today (most urgent first)",
    },
    "digest.todo_headers": {"zh_CN": "编号|客户|要做的事", "en": "ID|Customer|What to do"},
    "digest.rest": {
        "zh_CN": "另有 {count} 位客户（按类别）",
        "en": "{count} more customers (by kind)",
    },
    "digest.rest_headers": {"zh_CN": "类别|客户数", "en": "Kind|Customers"},
    "digest.cc_headers": {
        "zh_CN": "负责人|抄送事项|其中逾期升级",
        "en": "Rep|Items copied|Escalations",
    },
    "digest.row": {"zh_CN": "（第 {row} 行）", "en": " (row {row})"},
    "digest.since": {"zh_CN": "{days} 天未联系", "en": "{days} days since contact"},
    # a reason in a digest line (short: several may stand in one line)
    "reason.escalation": {"zh_CN": "逾期升级", "en": "Overdue"},
    "reason.reminder": {"zh_CN": "跟进", "en": "Follow up"},
    "reason.approval": {"zh_CN": "待审批", "en": "Approve"},
    "reason.catch_up": {"zh_CN": "补跟进", "en": "Catch up"},
    "reason.assignment": {"zh_CN": "新分配", "en": "Assigned"},
    "reason.trigger": {"zh_CN": "客户动态", "en": "Update"},
    "reason.permission": {"zh_CN": "越权修改", "en": "Rights"},
    "reason.duplicate": {"zh_CN": "疑似重复", "en": "Duplicate"},
    "reason.derive": {"zh_CN": "自动更新", "en": "Updated"},
    "section.escalation": {
        "zh_CN": "已逾期（已抄送主管）",
        "en": "Overdue (your manager is copied)",
    },
    "section.reminder": {"zh_CN": "今天要跟进", "en": "Follow up today"},
    "section.catch_up": {
        "zh_CN": "积压待补跟进（每天一批，最近逾期的在前）",
        "en": "Catching up on overdue customers (a batch a day, most recently due first)",
    },
    "section.approval": {"zh_CN": "待你审批", "en": "Waiting for your approval"},
    "section.assignment": {"zh_CN": "新分配给你的客户", "en": "Newly assigned to you"},
    "section.trigger": {"zh_CN": "客户动态", "en": "Customer updates"},
    "section.permission": {"zh_CN": "越权修改提醒", "en": "Edits outside a role's rights"},
    "section.duplicate": {"zh_CN": "疑似重复客户", "en": "Possible duplicates"},
    "section.derive": {"zh_CN": "系统自动更新", "en": "Updated by rules"},
    "section.cc": {"zh_CN": "抄送给你（按负责人汇总）", "en": "Copied to you (per rep)"},
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
        "zh_CN": "{condition}时必填",
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
    # problems found by the check: {label} is the column, {value} what was typed
    "problem.required": {
        "zh_CN": "{label}: 必填，请补充",
        "en": "{label}: required, please fill in",
    },
    "problem.required_if": {
        "zh_CN": "{label}: {condition}时必填，请补充",
        "en": "{label}: required when {condition}",
    },
    "problem.invalid_phone": {
        "zh_CN": '{label}: "{value}" 不是有效的手机号(应为11位数字)',
        "en": '{label}: "{value}" is not a valid mobile number (11 digits expected)',
    },
    "problem.invalid_phone_landline": {
        "zh_CN": '{label}: "{value}" 不是有效的电话号码(手机11位，或如 010-12345678)',
        "en": '{label}: "{value}" is not a valid phone number',
    },
    "problem.invalid_email": {
        "zh_CN": '{label}: "{value}" 不是有效的电子邮箱(如 name@example.com)',
        "en": '{label}: "{value}" is not a valid e-mail address (e.g. name@example.com)',
    },
    "problem.invalid_credit_code": {
        "zh_CN": '{label}: "{value}" 不是有效的统一社会信用代码(18位，校验位不符)',
        "en": '{label}: "{value}" is not a valid unified social credit code (18 characters, check digit)',
    },
    "problem.precision_lost": {
        "zh_CN": "{label}: {value} 是以数字保存的，Excel 只保留15位，请设为文本格式后重新输入",
        "en": "{label}: {value} was stored as a number and Excel kept only 15 digits; re-enter it as text",
    },
    "problem.invalid_choice": {
        "zh_CN": '{label}: "{value}" 不在可选项中({choices})',
        "en": '{label}: "{value}" is not one of the choices ({choices})',
    },
    "problem.wrong_role": {
        "zh_CN": '{label}: "{value}" 是{person_role}，{label}只能填{roles}',
        "en": '{label}: "{value}" is {person_role}; {label} takes {roles}',
    },
    "role.sales": {"zh_CN": "销售", "en": "sales"},
    "role.sales_manager": {"zh_CN": "销售经理", "en": "a sales manager"},
    "role.sales_director": {"zh_CN": "销售总监", "en": "a sales director"},
    "role.marketing": {"zh_CN": "市场", "en": "marketing"},
    "role.service": {"zh_CN": "客服", "en": "service"},
    "role.admin": {"zh_CN": "管理员", "en": "an admin"},
    "problem.unknown_member": {
        "zh_CN": '{label}: "{value}" 不是团队成员',
        "en": '{label}: "{value}" is not a team member',
    },
    "problem.invalid_date": {
        "zh_CN": '{label}: "{value}" 不是有效日期(如 2024-03-15)',
        "en": '{label}: "{value}" is not a valid date (e.g. 2024-03-15)',
    },
    "problem.ambiguous_date": {
        "zh_CN": '{label}: "{value}" 日和月无法区分，请写成 2024-03-05 的形式',
        "en": '{label}: "{value}" could be day/month or month/day; write it as 2024-03-05',
    },
    "problem.invalid_number": {
        "zh_CN": '{label}: "{value}" 不是有效数字',
        "en": '{label}: "{value}" is not a number',
    },
    "problem.out_of_range": {
        "zh_CN": "{label}: {value} 超出范围({range})",
        "en": "{label}: {value} is out of range ({range})",
    },
    "problem.too_long": {
        "zh_CN": "{label}: 超过 {max_length} 个字",
        "en": "{label}: longer than {max_length} characters",
    },
    "problem.pattern_mismatch": {
        "zh_CN": '{label}: "{value}" 格式不正确',
        "en": '{label}: "{value}" does not have the expected format',
    },
    "problem.date_in_past": {
        "zh_CN": "{label}: {value} 早于今天",
        "en": "{label}: {value} is before today",
    },
    "problem.duplicate_id": {
        "zh_CN": '{label} 重复："{value}" 出现在第 {rows} 行（复制的行请清空{label}，会自动编号）',
        "en": '{label} "{value}" is used by rows {rows} (clear it in a copied row to get a new ID)',
    },
    "problem.not_unique": {
        "zh_CN": '{label}: "{value}" 与上面某行重复',
        "en": '{label}: "{value}" is used by an earlier row',
    },
    "problem.unknown_reference": {
        "zh_CN": '{label}: "{value}" 在“{sheet}”表中不存在',
        "en": '{label}: "{value}" does not exist in sheet {sheet}',
    },
    "problem.formula_error": {
        "zh_CN": "{label}: 公式错误 {value}",
        "en": "{label}: formula error {value}",
    },
    "problem.formula_uncalculated": {
        "zh_CN": "{label}: 公式没有计算结果，请在 Excel 中打开并保存一次",
        "en": "{label}: the formula has no calculated value; open and save the file in Excel",
    },
    # problem kinds, as the error list, the report and CSVs name them (the code is kept beside)
    "kind.required": {"zh_CN": "必填", "en": "required"},
    "kind.required_if": {"zh_CN": "条件必填", "en": "required here"},
    "kind.invalid_phone": {"zh_CN": "电话格式不对", "en": "not a phone number"},
    "kind.invalid_email": {"zh_CN": "邮箱格式不对", "en": "not an e-mail address"},
    "kind.invalid_credit_code": {"zh_CN": "信用代码不对", "en": "not a credit code"},
    "kind.precision_lost": {"zh_CN": "数字位数丢失", "en": "digits lost"},
    "kind.invalid_choice": {"zh_CN": "不在选项中", "en": "not a choice"},
    "kind.wrong_role": {"zh_CN": "角色不符", "en": "wrong role"},
    "kind.unknown_member": {"zh_CN": "不是团队成员", "en": "not a team member"},
    "kind.invalid_date": {"zh_CN": "日期格式不对", "en": "not a date"},
    "kind.ambiguous_date": {"zh_CN": "日期有歧义", "en": "ambiguous date"},
    "kind.invalid_number": {"zh_CN": "不是数字", "en": "not a number"},
    "kind.out_of_range": {"zh_CN": "超出范围", "en": "out of range"},
    "kind.too_long": {"zh_CN": "内容太长", "en": "too long"},
    "kind.pattern_mismatch": {"zh_CN": "格式不对", "en": "wrong format"},
    "kind.date_in_past": {"zh_CN": "日期已过", "en": "date in the past"},
    "kind.duplicate_id": {"zh_CN": "编号重复", "en": "ID used twice"},
    "kind.not_unique": {"zh_CN": "与其他行重复", "en": "not unique"},
    "kind.unknown_reference": {"zh_CN": "编号不存在", "en": "unknown ID"},
    "kind.formula_error": {"zh_CN": "公式错误", "en": "formula error"},
    "kind.formula_uncalculated": {"zh_CN": "公式未计算", "en": "formula not calculated"},
    "import.no_fields": {
        "zh_CN": "这一行没有能对应到字段的列",
        "en": "no column of this row matches a field",
    },
    # what the rules write and tell (rules/)
    "rule.assigned": {"zh_CN": "新分配给你：{name}", "en": "Newly assigned to you: {name}"},
    "rule.assigned_text": {
        "zh_CN": "{label}：{who}（规则：{rule}）",
        "en": "{label}: {who} (rule: {rule})",
    },
    "rule.derived": {"zh_CN": "{name} 已自动更新", "en": "{name} was updated by a rule"},
    "rule.derived_text": {
        "zh_CN": "{label}：{old} → {new}（规则：{rule}）",
        "en": "{label}: {old} → {new} (rule: {rule})",
    },
    "rule.empty": {"zh_CN": "（空）", "en": "(blank)"},
    "rule.stage_requires": {
        "zh_CN": "{label}为「{stage}」时需满足：{condition}",
        "en": '{label} "{stage}" needs: {condition}',
    },
    "rule.stage_flag_prefix": {"zh_CN": "阶段", "en": "Stage"},
    "rule.stage_back": {
        "zh_CN": "阶段倒退：{old} → {new}",
        "en": "Stage moved back: {old} → {new}",
    },
    "rule.stage_skipped": {
        "zh_CN": "阶段跳过：{old} → {new}（跳过 {skipped}）",
        "en": "Stage skipped: {old} → {new} (skipping {skipped})",
    },
    "rule.approved": {"zh_CN": "已批准（{name}）", "en": "Approved ({name})"},
    "rule.approval_invalid": {
        "zh_CN": "审批无效：{name} 不是{role}",
        "en": "Approval not valid: {name} is not {role}",
    },
    "rule.approval_pending": {
        "zh_CN": "待审批（需{role}：{rule}）",
        "en": "Waiting for approval ({role}: {rule})",
    },
    "rule.approval_text": {
        "zh_CN": "{rule}（需{role}审批，请在「{field}」填写你的名字）",
        "en": '{rule} (needs {role}: write your name in "{field}")',
    },
    "rule.approval_subject": {
        "zh_CN": "待你审批：{name}",
        "en": "Waiting for your approval: {name}",
    },
    "rule.suggested": {
        "zh_CN": "建议：{label} → {stage}（最近跟进提到「{word}」，请确认）",
        "en": 'Suggestion: {label} → {stage} (the latest follow-up mentions "{word}"; please confirm)',
    },
    "rule.permission_flag_prefix": {"zh_CN": "权限", "en": "Rights"},
    "rule.may_not_edit": {
        "zh_CN": "权限：{editor}（{role}）无权修改「{field}」",
        "en": 'Rights: {editor} ({role}) may not change "{field}"',
    },
    "rule.edited_others": {
        "zh_CN": "权限：{editor} 修改了 {owner} 的客户",
        "en": "Rights: {editor} changed a customer of {owner}",
    },
    "rule.edited_other_team": {
        "zh_CN": "权限：{editor} 修改了其他团队的客户",
        "en": "Rights: {editor} changed another team's customer",
    },
    "rule.edited_unattributed": {
        "zh_CN": "权限：{fields}被修改，但「{editor_field}」未填写，无法确认是否有权修改",
        "en": 'Rights: {fields} changed with "{editor_field}" blank; whether it was allowed is unknown',
    },
    "rule.permission_subject": {
        "zh_CN": "越权修改：{name}",
        "en": "Edit outside a role's rights: {name}",
    },
    "rule.duplicate_subject": {"zh_CN": "疑似重复客户：{name}", "en": "Possible duplicate: {name}"},
    "rule.duplicate_text": {"zh_CN": "{id} 与 {other}", "en": "{id} and {other}"},
    "rule.trigger_subject": {"zh_CN": "{name}：{message}", "en": "{name}: {message}"},
    # the report workbook (report.py): sheet names, headings, column headers
    "report.label.overview": {"zh_CN": "概览", "en": "Overview"},
    "report.label.customers": {"zh_CN": "客户分布", "en": "Customers"},
    "report.label.sales": {"zh_CN": "销售业绩", "en": "Sales"},
    "report.label.funnel": {"zh_CN": "销售漏斗", "en": "Funnel"},
    "report.label.followup": {"zh_CN": "跟进效率", "en": "Follow-up"},
    "report.label.quality": {"zh_CN": "数据质量", "en": "Data quality"},
    "report.label.errors": {"zh_CN": "错误清单", "en": "Problems"},
    "report.label.duplicates": {"zh_CN": "重复客户", "en": "Duplicates"},
    "report.label.kpis": {"zh_CN": "关键指标", "en": "Key figures"},
    "report.label.kpi": {"zh_CN": "指标", "en": "Figure"},
    "report.label.this": {"zh_CN": "本期", "en": "This period"},
    "report.label.previous": {"zh_CN": "上期", "en": "Previous"},
    "report.label.change": {"zh_CN": "变化", "en": "Change"},
    "report.label.new_customers": {"zh_CN": "新增客户", "en": "New customers"},
    "report.label.followups": {"zh_CN": "跟进次数", "en": "Follow-ups"},
    "report.label.deals": {"zh_CN": "成交数", "en": "Deals"},
    "report.label.deal_amount": {"zh_CN": "成交金额", "en": "Deal amount"},
    "report.label.conversion": {"zh_CN": "转化率（成交/新增）", "en": "Conversion (deals/new)"},
    "report.label.first_response": {
        "zh_CN": "平均首次响应（天）",
        "en": "Avg first response (days)",
    },
    "report.label.problem_share": {"zh_CN": "问题行占比", "en": "Rows with problems"},
    "report.label.value": {"zh_CN": "取值", "en": "Value"},
    "report.label.count": {"zh_CN": "客户数", "en": "Customers"},
    "report.label.share": {"zh_CN": "占比", "en": "Share"},
    "report.label.empty": {"zh_CN": "（未填）", "en": "(empty)"},
    "report.label.by_owner": {"zh_CN": "按负责人", "en": "By owner"},
    "report.label.owner": {"zh_CN": "负责人", "en": "Owner"},
    "report.label.team": {"zh_CN": "团队", "en": "Team"},
    "report.label.customers_owned": {"zh_CN": "客户数", "en": "Customers"},
    "report.label.new": {"zh_CN": "本期新增", "en": "New"},
    "report.label.won_rate": {"zh_CN": "成交率（累计）", "en": "Won (all time)"},
    "report.label.by_month": {"zh_CN": "按月", "en": "By month"},
    "report.label.month": {"zh_CN": "月份", "en": "Month"},
    "report.label.stages": {"zh_CN": "各阶段客户", "en": "Customers per stage"},
    "report.label.stage": {"zh_CN": "阶段", "en": "Stage"},
    "report.label.now": {"zh_CN": "当前客户数", "en": "Now"},
    "report.label.reached": {"zh_CN": "到达该阶段", "en": "Reached"},
    "report.label.to_next": {"zh_CN": "进入下一阶段", "en": "To next stage"},
    "report.label.median_days": {"zh_CN": "停留天数（中位数）", "en": "Median days in stage"},
    "report.label.lost": {"zh_CN": "流失原因", "en": "Lost reasons"},
    "report.label.reason": {"zh_CN": "原因", "en": "Reason"},
    "report.label.response": {"zh_CN": "响应时间", "en": "Response time"},
    "report.label.measure": {"zh_CN": "指标", "en": "Measure"},
    "report.label.samples": {"zh_CN": "样本数", "en": "Samples"},
    "report.label.avg_days": {"zh_CN": "平均（天）", "en": "Average (days)"},
    "report.label.median": {"zh_CN": "中位数（天）", "en": "Median (days)"},
    "report.label.contact_to_followup": {
        "zh_CN": "首次接触 → 首次跟进（本期新增客户）",
        "en": "First contact → first follow-up (new this period)",
    },
    "report.label.assigned_to_followup": {
        "zh_CN": "分配 → 首次跟进（本期分配）",
        "en": "Assigned → first follow-up (assigned this period)",
    },
    "report.label.overdue": {"zh_CN": "逾期与提醒", "en": "Overdue and reminders"},
    "report.label.escalations": {"zh_CN": "本期逾期升级", "en": "Escalations"},
    "report.label.reminders": {"zh_CN": "本期提醒", "en": "Reminders"},
    "report.label.past_due": {"zh_CN": "下次跟进日期已过", "en": "Next follow-up date passed"},
    "report.label.trend": {"zh_CN": "问题趋势", "en": "Problems over time"},
    "report.label.date": {"zh_CN": "日期", "en": "Date"},
    "report.label.total": {"zh_CN": "问题合计", "en": "All problems"},
    "report.label.by_field": {"zh_CN": "按字段与问题", "en": "By field and problem"},
    "report.label.field": {"zh_CN": "字段", "en": "Field"},
    "report.label.problem": {"zh_CN": "问题", "en": "Problem"},
    "report.label.sheet": {"zh_CN": "工作表", "en": "Sheet"},
    "report.label.code": {"zh_CN": "问题代码", "en": "Code"},
    "report.label.row": {"zh_CN": "行号", "en": "Row"},
    "report.label.record": {"zh_CN": "记录编号", "en": "Record"},
    "report.label.entered": {"zh_CN": "填写内容", "en": "Entered"},
    "report.label.message": {"zh_CN": "说明", "en": "Message"},
    "report.label.groups": {"zh_CN": "重复客户组", "en": "Duplicate groups"},
    "report.label.original": {"zh_CN": "原客户", "en": "Original"},
    "report.label.original_name": {"zh_CN": "原客户名称", "en": "Original name"},
    "report.label.duplicate": {"zh_CN": "重复客户", "en": "Duplicate"},
    "report.label.duplicate_name": {"zh_CN": "重复客户名称", "en": "Duplicate name"},
    "report.label.dup_reason": {"zh_CN": "重复原因", "en": "Why a duplicate"},
    "report.label.period": {
        "zh_CN": "报告期 {start} 至 {end}（上期 {pstart} 至 {pend}）",
        "en": "Period {start} to {end} (previous {pstart} to {pend})",
    },
    "report.label.for": {"zh_CN": "查看人：{name}", "en": "For {name}"},
    # 重复原因 of a probable match: how sure, and the fields that agreed
    "dedupe.probable": {
        "zh_CN": "{percent}%把握：{fields}相符",
        "en": "{percent}% sure: {fields} agree",
    },
    "dedupe.confirmed": {"zh_CN": "人工确认", "en": "confirmed by a person"},
    "dedupe.not_a_duplicate": {"zh_CN": "不是重复", "en": "not a duplicate"},
    "dedupe.a_duplicate": {"zh_CN": "是重复", "en": "a duplicate"},
    # reminders (reminders/): the subject's reason, after the record's name and the rule's
    "reminder.due": {"zh_CN": "该跟进了", "en": "time to follow up"},
    "reminder.since_contact": {
        "zh_CN": "距上次联系 {days} 天",
        "en": "{days} days since the last contact",
    },
    "reminder.weekly": {"zh_CN": "本周例行跟进", "en": "this week's follow-up"},
    "reminder.month_end": {"zh_CN": "月末例行跟进", "en": "the month-end follow-up"},
    "reminder.stale": {"zh_CN": "已多日没有跟进", "en": "no follow-up for days"},
    "reminder.escalated": {
        "zh_CN": "仍未跟进（已抄送主管）",
        "en": "still no follow-up (your manager is copied)",
    },
    "reminder.days": {"zh_CN": "{days} 天", "en": "{days} days"},
    "reminder.overdue": {"zh_CN": "已超期未解决", "en": "overdue, not resolved"},
    "reminder.overdue_escalated": {
        "zh_CN": "超期仍未解决（已抄送主管）",
        "en": "overdue and still not resolved (your manager is copied)",
    },
    "reminder.days_late": {"zh_CN": "超期 {days} 个工作日", "en": "{days} working days late"},
    # what a run says at its end (job.py), what `plan` prints, what a sheet's layout refuses
    "run.checked": {"zh_CN": "已检查 {parts}", "en": "checked {parts}"},
    "run.checked_sheet": {
        "zh_CN": "{sheet} {rows:,} 行（{bad:,} 行有问题{dup}）",
        "en": "{sheet} {rows:,} ({bad:,} with problems{dup})",
    },
    "run.checked_dup": {"zh_CN": "，{n:,} 行重复", "en": ", {n:,} duplicates"},
    "run.no_rows": {"zh_CN": "没有数据行", "en": "no rows"},
    "run.dry_write": {
        "zh_CN": "试运行：将写入 {rows:,} 行、排队 {notes:,} 条通知；实际未写入任何内容",
        "en": "dry run: {rows:,} rows and {notes:,} notifications would be written; nothing was written",
    },
    "run.already_applied": {
        "zh_CN": "这个工作簿在这个时间已经处理过，无需再做",
        "en": "this workbook was already processed for this time; nothing to do",
    },
    "run.wrote": {
        "zh_CN": "已把 {rows:,} 行的状态写入 {where}{backup}",
        "en": "wrote the status of {rows:,} rows into {where}{backup}",
    },
    "run.backup": {"zh_CN": "（备份 {path}）", "en": " (backup {path})"},
    "run.untouched": {
        "zh_CN": "状态列已是最新，工作簿没有改动",
        "en": "the status columns were already right; the workbook was not touched",
    },
    "run.error_list": {"zh_CN": "校验错误清单：{path}", "en": "error list: {path}"},
    "run.events": {"zh_CN": "记录的变化：{parts}", "en": "changes recorded: {parts}"},
    "run.queued": {
        "zh_CN": "已为摘要排队 {n:,} 条通知",
        "en": "queued {n:,} notifications for the digest",
    },
    "run.would_send": {"zh_CN": "将发给 {to}：{subject}", "en": "would send to {to}: {subject}"},
    "run.dry_mails": {
        "zh_CN": "{n} 封邮件；试运行，未发送",
        "en": "{n} mail(s); nothing was sent (dry run)",
    },
    "run.no_mails": {"zh_CN": "{n} 封邮件；没有要发送的", "en": "{n} mail(s); nothing to send"},
    "run.sent": {
        "zh_CN": "已通过{transport}（{where}）发送 {n} 封邮件{refused}{doubt}",
        "en": "sent {n} mail(s) via {transport} ({where}){refused}{doubt}",
    },
    "run.refused": {"zh_CN": "，{n} 封被拒收", "en": ", {n} refused"},
    "run.in_doubt": {
        "zh_CN": "；{n} 封不确定是否送达（见提醒）",
        "en": "; {n} in doubt (see the warnings)",
    },
    "run.dry_report": {
        "zh_CN": "试运行：{period}报告将写入 {path}",
        "en": "dry run: the {period} report would be written to {path}",
    },
    "run.wrote_report": {
        "zh_CN": "已写入 {path}（{period}报告 {start} – {end}）",
        "en": "wrote {path} (the {period} report {start} – {end})",
    },
    "run.wrote_csv": {
        "zh_CN": "已把 {n} 个 CSV 文件写入 {path}",
        "en": "wrote {n} CSV files into {path}",
    },
    "run.mailed_report": {"zh_CN": "已把报告发给 {to}", "en": "mailed the report to {to}"},
    "run.nobody": {"zh_CN": "（无人）", "en": "nobody"},
    "run.duplicates": {
        "zh_CN": "{sheet}：{groups:,} 组重复，{marked:,} 条重复记录：{path}",
        "en": "{sheet}: {groups:,} duplicate groups, {marked:,} duplicates: {path}",
    },
    "period.week": {"zh_CN": "周", "en": "weekly"},
    "period.month": {"zh_CN": "月", "en": "monthly"},
    "period.quarter": {"zh_CN": "季度", "en": "quarterly"},
    "event.created": {"zh_CN": "新增", "en": "created"},
    "event.changed": {"zh_CN": "修改", "en": "changed"},
    "event.stage": {"zh_CN": "阶段变化", "en": "stage"},
    "event.missing": {"zh_CN": "不在表中", "en": "missing"},
    "event.returned": {"zh_CN": "回到表中", "en": "returned"},
    "event.rule": {"zh_CN": "规则写入", "en": "set by rules"},
    "plan.created": {"zh_CN": "{sheet} {id}：新记录", "en": "{sheet} {id}: new record"},
    "plan.missing": {
        "zh_CN": "{sheet} {id}：已不在表中",
        "en": "{sheet} {id}: no longer in the sheet",
    },
    "plan.returned": {"zh_CN": "{sheet} {id}：回到表中", "en": "{sheet} {id}: back in the sheet"},
    "plan.stage": {
        "zh_CN": "{sheet} {id}：{label} 从 {old} 变为 {new}",
        "en": "{sheet} {id}: {label} moved {old} → {new}",
    },
    "plan.changed": {
        "zh_CN": "{sheet} {id}：{label} “{old}” → “{new}”",
        "en": "{sheet} {id}: {label} {old!r} → {new!r}",
    },
    "plan.nothing_written": {
        "zh_CN": "未写入任何内容（仅预览）",
        "en": "nothing was written (plan only)",
    },
    "plan.cells": {"zh_CN": "要写入的单元格：{n:,}", "en": "cells to write: {n:,}"},
    "plan.cell": {
        "zh_CN": "{sheet} {id}（第 {row} 行）{column}：{old!r} → {new!r}",
        "en": "{sheet} {id} (row {row}) {column}: {old!r} → {new!r}",
    },
    "plan.more": {
        "zh_CN": "…… 另有 {n:,} 个（--limit 0 显示全部）",
        "en": "... {n:,} more (--limit 0 shows all)",
    },
    "plan.events": {
        "zh_CN": "上次运行以来的变化：{n:,}",
        "en": "changes since the last run: {n:,}",
    },
    "plan.notes": {"zh_CN": "通知：{n:,}", "en": "notifications: {n:,}"},
    "import.summary": {
        "zh_CN": "读到 {rows:,} 行：新客户 {new:,}{span}，已是客户 {existing:,}，文件内重复 {repeated:,}，"
        "以前导入过 {before:,}，暂不导入 {held:,}",
        "en": "{rows:,} rows read: {new:,} new{span}, {existing:,} already customers, {repeated:,} "
        "repeated in the files, {before:,} imported before, {held:,} held back",
    },
    "config.ok": {
        "zh_CN": "配置无误：{sheets} 张工作表，{people} 人，{jobs} 个定时任务；数据源 {source}",
        "en": "ok: {sheets} sheets, {people} people, {jobs} jobs; source {source}",
    },
    "config.no_workbook": {
        "zh_CN": "说明：工作簿 {path} 还不存在（`sheetcrm demo` 会在那里生成示例，`sheetcrm templates` 生成空模板）",
        "en": "note: the workbook {path} does not exist yet (`sheetcrm demo` writes an example there, "
        "`sheetcrm templates` an empty template)",
    },
    "config.unreadable": {
        "zh_CN": "说明：无法打开工作簿查看其中的工作表：{error}",
        "en": "note: the workbook cannot be opened to see its sheets: {error}",
    },
    "config.no_sheet": {
        "zh_CN": "问题：工作簿里没有工作表“{sheet}”；在补上之前每次运行都会失败（或把该表设为 optional = true）",
        "en": "problem: the workbook has no sheet {sheet!r}; runs fail until it does (or mark the "
        "sheet optional = true)",
    },
    "config.inactive": {
        "zh_CN": "未启用：工作簿里没有工作表“{sheet}”（可选）",
        "en": "inactive: the workbook has no sheet {sheet!r} (optional)",
    },
    "dedupe.title": {"zh_CN": "重复客户", "en": "duplicates"},
    "dedupe.columns": {
        "zh_CN": "工作表|行数|重复组|重复记录|审阅工作簿",
        "en": "sheet|rows|groups|duplicates|review workbook",
    },
    "import.header_row": {"zh_CN": "：表头在第 {row} 行", "en": ": header in row {row}"},
    "import.columns": {"zh_CN": "源列名|字段|匹配方式|可信度", "en": "column|field|how|confidence"},
    "import.values_title": {"zh_CN": "选项值对应", "en": "choice values"},
    "import.values_columns": {
        "zh_CN": "字段|文件里写的|对应选项|匹配方式|可信度",
        "en": "field|in the file|choice|how|confidence",
    },
    "import.mapping": {
        "zh_CN": "列对应关系已保存到 {path}（可修改后用 --map 传回）",
        "en": "mapping saved to {path} (correct it and pass it with --map)",
    },
    "import.dry_run": {
        "zh_CN": "试运行：没有写入表格，也没有写导入报告",
        "en": "dry run: nothing was written to the sheet, and no report",
    },
    "import.dry_map": {
        "zh_CN": "和列对应文件（--save-map 会写出它）",
        "en": " or mapping file (--save-map writes it)",
    },
    "import.report": {"zh_CN": "导入报告：{path}", "en": "report: {path}"},
    "import.appended": {
        "zh_CN": "已向 {where} 的{sheet}追加 {n:,} 行",
        "en": "appended {n:,} rows to {sheet} in {where}",
    },
    "export.done": {
        "zh_CN": "已从{sheet}的 {total:,} 行中导出 {n:,} 行到 {path}",
        "en": "exported {n:,} of {total:,} rows of {sheet} to {path}",
    },
    "check.title": {"zh_CN": "检查结果", "en": "check"},
    "check.columns": {
        "zh_CN": "工作表|行数|有问题的行|问题数|重复|要写入的行",
        "en": "sheet|rows|rows with problems|problems|duplicates|rows to write",
    },
    "check.by_field": {"zh_CN": "按字段的问题", "en": "problems by field"},
    "check.by_field_columns": {"zh_CN": "字段|问题|数量", "en": "field|problem|count"},
    "transport.outbox": {"zh_CN": "发件箱文件夹", "en": "outbox"},
    "transport.smtp": {"zh_CN": "邮件服务器", "en": "smtp"},
    "transport.webhook": {"zh_CN": "群机器人", "en": "webhook"},
    "demo.wrote": {"zh_CN": "已写入 {path}（{sheets} 行）", "en": "wrote {path} ({sheets} rows)"},
    "demo.truth": {
        "zh_CN": "已写入 {path}（{n:,} 个已知的问题和重复）",
        "en": "wrote {path} ({n:,} known cases)",
    },
    "run.header": {"zh_CN": "{job}（{now}）：{outcome}", "en": "{job} ({now}): {outcome}"},
    "run.seconds": {"zh_CN": "，用时 {s:.1f} 秒", "en": " in {s:.1f} s"},
    "outcome.ok": {"zh_CN": "完成", "en": "ok"},
    "outcome.failed": {"zh_CN": "失败", "en": "failed"},
    "outcome.stopped": {"zh_CN": "已停止", "en": "stopped"},
    "outcome.skipped": {"zh_CN": "跳过", "en": "skipped"},
    "outcome.dry-run": {"zh_CN": "试运行", "en": "dry-run"},
    "outcome.partly failed": {"zh_CN": "部分失败", "en": "partly failed"},
    "plan.note": {
        "zh_CN": "{kind} → {to}{cc}：{id} {subject}",
        "en": "{kind} → {to}{cc}: {id} {subject}",
    },
    "plan.cc": {"zh_CN": "（抄送 {who}）", "en": " (cc {who})"},
    "config.columns": {
        "zh_CN": "键|列名|类型|是否必填|说明",
        "en": "key|label|type|required|notes",
    },
    "how.label": {"zh_CN": "列名相同", "en": "label"},
    "how.key": {"zh_CN": "键名相同", "en": "key"},
    "how.synonym": {"zh_CN": "同义词", "en": "synonym"},
    "how.fuzzy": {"zh_CN": "猜测（待确认，未采用）", "en": "a guess (not applied until confirmed)"},
    "how.fuzzy_column": {"zh_CN": "猜测", "en": "fuzzy"},
    "how.map": {"zh_CN": "对应文件", "en": "mapping file"},
    "how.none": {"zh_CN": "无匹配", "en": "none"},
    "cli.warning": {"zh_CN": "提醒：{text}", "en": "warning: {text}"},
    "layout.twice": {
        "zh_CN": "工作表“{sheet}”：表头“{header}”出现了两次（{first} 列和 {second} 列），请改名或删除其中一列",
        "en": "sheet {sheet!r}: the header {header!r} appears twice, in columns {first} and {second}; rename or remove one of them",
    },
    "layout.missing": {
        "zh_CN": "工作表“{sheet}”：第 {row} 行没有表头为 {headers} 的列；请加上（见 templates/customers.xlsx）",
        "en": "sheet {sheet!r}: no column with the header {headers} in row {row}; add it (see templates/customers.xlsx)",
    },
    "status.ok": {"zh_CN": "✓", "en": "✓"},
    "status.pending": {
        "zh_CN": "待审批",
        "en": "Waiting for approval",
    },  # how approval_pending starts
    "status.problem": {"zh_CN": "✗", "en": "✗"},
}


def labels(locale: Locale, prefix: str) -> dict[str, str]:
    """Every message under `prefix` ("report.label.") in `locale`, by the rest of its id, unfilled
    (a caller fills the ones with {placeholders})."""
    return {k.removeprefix(prefix): e.get(locale, e["zh_CN"]) for k, e in CATALOGUE.items()
            if k.startswith(prefix)}  # fmt: skip


def word(locale: Locale, kind: str, key: str) -> str:
    """A code's name in the team's words (`kind` "role", key "sales_manager": 销售经理), or the
    code itself when the catalogue has none."""
    message_id = f"{kind}.{key}"
    return text(locale, message_id) if message_id in CATALOGUE else key


def list_separator(locale: Locale) -> str:
    """Between the items of a list in a sentence: "，" in Chinese, ", " in English."""
    return "，" if locale == "zh_CN" else ", "


def enumeration_separator(locale: Locale) -> str:
    """Between the words of a short enumeration (客户名称、地址): "、" in Chinese, ", " in English."""
    return "、" if locale == "zh_CN" else ", "


def role_name(locale: Locale, role: str) -> str:
    """A role in the team's words (销售经理), or as configured when the catalogue has none."""
    return word(locale, "role", role)


def problem_message(locale: Locale, code: str, field: Any, value: str, *,
                    sheet_names: dict[str, str], rows: str = "", person_role: str = "",
                    condition: str = "") -> str:  # fmt: skip
    """Return the message for one problem: it names the field and says what is expected
    (`condition`: the field's required_if in words, see SheetConfig.phrase)."""
    lo, hi = field.bounds
    if lo is not None and hi is not None:
        rng = f"{_num(lo)}-{_num(hi)}"
    elif lo is not None:
        rng = f">= {_num(lo)}"
    else:
        rng = f"<= {_num(hi)}" if hi is not None else ""
    message_id = f"problem.{code}"
    if code == "invalid_phone" and field.allow_landline:
        message_id = "problem.invalid_phone_landline"
    if message_id not in CATALOGUE:
        return f"{field.label}: {code} {value}".strip()
    return text(
        locale, message_id, label=field.label, value=value, condition=condition,
        choices="、".join(field.choices or []), range=rng, max_length=field.max_length or "",
        sheet=sheet_names.get(field.references or "", field.references or ""), rows=rows,
        person_role=role_name(locale, person_role) if person_role else "",
        roles=("或" if locale == "zh_CN" else " or ").join(
            role_name(locale, str(r)) for r in (field.roles or [])),
    )  # fmt: skip


def problem_kind(locale: Locale, code: str) -> str:
    """A problem's kind in the team's words (必填, 格式不对); the code itself when it has none."""
    return word(locale, "kind", code)


def how_matched(locale: Locale, how: str, *, column: bool = False) -> str:
    """How import matched a column or a value, in words (a fuzzy column is applied, a fuzzy value
    only once confirmed)."""
    return word(locale, "how", "fuzzy_column" if column and how == "fuzzy" else how)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def text(locale: Locale, message_id: str, **values: object) -> str:
    """Return the message `message_id` in `locale` (falling back to Chinese), filled with `values`."""
    entry = CATALOGUE[message_id]
    return entry.get(locale, entry["zh_CN"]).format(**values)
