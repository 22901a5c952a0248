"""Nightly: check every row, mark duplicates, apply the rules, queue reminders and notifications,
write the status columns back into the workbook, and record the run.

Scheduled by `[jobs] nightly` in config.toml; run it now with `sheetcrm run nightly`.
"""

from sheetcrm.job import Job


def run(job: Job) -> None:
    tables = job.read()  # every sheet, headers matched by label
    plan = job.plan(tables)  # check → duplicates → rules → reminders; nothing written yet
    job.apply(plan)  # status columns (all or nothing), error list, then the store
