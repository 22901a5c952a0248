"""Weekly report: the report workbook of last week (Monday to Sunday) in reports/, with KPIs against
the week before, customer breakdowns, sales by owner and month, the funnel, follow-up times and data
quality, each table with its Excel chart.

Scheduled by `[jobs] weekly_report` in config.toml; `sheetcrm report` makes one by hand.
"""

from sheetcrm.job import Job


def run(job: Job) -> None:
    tables = job.read()
    job.report(tables, period="week")
