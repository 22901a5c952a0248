"""Every error a user can see is one of these.

SheetCRMError
├── ConfigError            config.toml is wrong (names the key path and what was expected)
└── WorkbookError          a workbook cannot be read or written safely
    ├── WorkbookFormatError    not an .xlsx we can use (encrypted, .xls/.csv renamed, corrupt, Strict)
    ├── SheetLayoutError       a sheet is missing, or its headers are missing or duplicated
    ├── WorkbookLocked         an Office lock file says someone has it open: retried next run
    ├── WorkbookChanged        the file changed between our read and our write: retried next run
    └── SheetServiceError      Google Sheets refused or could not be reached (names what to do)
"""

from __future__ import annotations


class SheetCRMError(Exception):
    """Base of every error sheetcrm raises on purpose."""


class ConfigError(SheetCRMError):
    """config.toml cannot be used; the message names the key path."""


class WorkbookError(SheetCRMError):
    """A workbook cannot be read or written safely."""


class WorkbookFormatError(WorkbookError):
    """The file is not an .xlsx workbook sheetcrm can read (or write) safely."""


class SheetLayoutError(WorkbookError):
    """A sheet is missing, or a header is missing or duplicated."""


class WorkbookLocked(WorkbookError):
    """Someone has the workbook open (an Office lock file exists); nothing was written."""


class WorkbookChanged(WorkbookError):
    """The workbook changed since it was read; nothing was written."""


class SheetServiceError(WorkbookError):
    """Google Sheets refused (no permission, no such spreadsheet) or stayed unreachable or over
    quota after retries; nothing was written."""
