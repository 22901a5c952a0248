"""Where the bundled example instance (config.toml, templates/, jobs/) lives.

In a source checkout it is the repository root; an installed wheel carries a copy in
`sheetcrm/_instance/` (see pyproject.toml), so `sheetcrm init` works either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InstanceFiles:
    config: Path
    templates: Path
    jobs: Path


def instance_files() -> InstanceFiles:
    """Return the paths of the bundled example instance."""
    here = Path(__file__).resolve().parent
    for root in (here / "_instance", here.parent):
        if (root / "config.toml").is_file():
            return InstanceFiles(root / "config.toml", root / "templates", root / "jobs")
    raise FileNotFoundError("the bundled example config.toml is missing from this installation")
