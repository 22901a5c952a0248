"""Who sees whose records: what a report, an export or a digest shows a person."""

from __future__ import annotations

from .config import Config, Role
from .errors import ConfigError


def visible_owners(config: Config, name: str | None) -> set[str] | None:
    """Whose records `name` may see: a sales rep their own, a sales manager their team (everyone
    whose chain of managers leads to them, and themselves), others (director, admin, marketing,
    service) everyone (None)."""
    if name is None:
        return None
    people = {p.name: p for p in config.people}
    if name not in people:
        raise ConfigError(f"{name!r} is not a person in [[people]]")
    role = people[name].role
    if role is Role.sales:
        return {name}
    if role is Role.sales_manager:
        team = {name}
        grew = True
        while grew:
            more = {p.name for p in config.people if p.manager in team} - team
            team |= more
            grew = bool(more)
        return team
    return None
