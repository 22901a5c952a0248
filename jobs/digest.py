"""Morning digest: one mail per person with everything the nightly run queued for them (reminders,
approvals, assignments, customer changes), and the customers' own mails (welcome, satisfaction).

Scheduled by `[jobs] digest` in config.toml; run it now with `sheetcrm run digest`.
"""

from sheetcrm.job import Job


def run(job: Job) -> None:
    mails = job.digests()  # from the notifications waiting in the state store
    job.send(mails)  # outbox folder, SMTP or a group robot; each mail recorded, none sent twice
