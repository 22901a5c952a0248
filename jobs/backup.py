"""Backup: archive the workbook, the state store and config.toml into [backup] archive_dir,
encrypted when [backup] key_env names a key, keeping the newest [backup] keep_archives.

Scheduled by `[jobs] backup` in config.toml; `sheetcrm restore` brings an archive back.
"""

from sheetcrm.job import Job


def run(job: Job) -> None:
    job.backup()
