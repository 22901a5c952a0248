"""The floors of docs/architecture.md hold: every import of a sheetcrm module comes from its own
floor or one below, so there are no cycles and the core never imports the CLI, a job or a source
it does not need. The table in the document is the source of truth (parsed here)."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT

PACKAGE = ROOT / "sheetcrm"


def floors() -> dict[str, int]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    out: dict[str, int] = {}
    for floor, modules in re.findall(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.M):
        for name in re.findall(r"`([a-z_/]+)`", modules):
            out[name.replace("/", ".")] = int(floor)
    return out


def module_name(path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or "__init__"


def imports(path, name: str) -> set[str]:
    """The sheetcrm modules `path` imports (relative imports resolved; `from . import x` too)."""
    package = name.rsplit(".", 1)[0] if "." in name or path.name == "__init__.py" else ""
    if path.name == "__init__.py":
        package = name if name != "__init__" else ""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, node.module] if node.module else base)
            if node.module is None:  # from . import x: x may be a module or a name
                for alias in node.names:
                    out.add(".".join([*base, alias.name]) if base else alias.name)
            else:
                out.add(target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sheetcrm."):
            out.add(node.module.removeprefix("sheetcrm."))
    return out


def test_every_module_has_a_floor_and_no_import_runs_up():
    floor = floors()
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    missing = sorted(set(modules) - set(floor) - {"__init__"})
    assert not missing, f"modules without a floor in docs/architecture.md: {missing}"
    upward = []
    for name, path in modules.items():
        if name not in floor:
            continue
        for target in imports(path, name):
            if target not in floor:
                continue  # a name imported from a package (__version__), not a module
            if floor[target] > floor[name]:
                upward.append(
                    f"{name} (floor {floor[name]}) imports {target} (floor {floor[target]})"
                )
    assert not upward, "\n".join(upward)


def test_the_floors_table_is_read():
    floor = floors()
    assert floor["cli"] > floor["job"] > floor["pipeline"] > floor["check"] > floor["config"]
    assert floor["sources.excel"] > floor["sources.xlsxpatch"] > floor["sources.cells"]
