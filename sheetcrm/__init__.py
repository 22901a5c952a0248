"""sheetcrm: turn the spreadsheets a small sales or service team already uses into a working CRM."""

from .config import Config, load_config
from .errors import (
    ConfigError,
    SheetCRMError,
    SheetLayoutError,
    WorkbookChanged,
    WorkbookError,
    WorkbookFormatError,
    WorkbookLocked,
)

__version__ = "0.1.0"
__all__ = [
    "Config",
    "ConfigError",
    "SheetCRMError",
    "SheetLayoutError",
    "WorkbookChanged",
    "WorkbookError",
    "WorkbookFormatError",
    "WorkbookLocked",
    "load_config",
]
