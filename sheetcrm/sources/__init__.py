"""Where the team's rows live: a local workbook (`excel`) or a Google Sheet (`gsheet`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from .base import Source


def open_source(config: Config) -> Source:
    """The source config.toml names: gsheet://<key> → GSheetSource, else the workbook file."""
    if config.is_gsheet:
        from .gsheet import GSheetSource

        return GSheetSource.from_config(config)
    from .excel import ExcelSource

    return ExcelSource.from_config(config)
