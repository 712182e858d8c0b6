"""The import rules of ``Docs/ARCHITECTURE.md``: a lower layer never imports a higher one.

Every ``import tftmon...`` / ``from tftmon... import`` in ``src/tftmon`` (at any depth,
lazy imports inside functions too) is checked against the table below, and no module may
be over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tftmon"

# modules every part may import: data types, errors, settings, time format, key files
FOUNDATION = {
    "tftmon",
    "tftmon.errors",
    "tftmon.filelock",
    "tftmon.schemas",
    "tftmon.settings",
    "tftmon.timefmt",
    "tftmon.windows",
    "tftmon.keys",
    "tftmon.fileio",
    "tftmon.retry",
}

# part -> the parts it may import besides the foundation and itself
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "store": set(),
    "forecast": set(),
    "client": set(),
    "client_config": set(),
    "risk": {"forecast"},
    "monitoring": {"forecast"},
    "alerting": {"store", "risk"},
    "generator": {"forecast", "client"},
    "forwarder": {"client"},
    "adapters": {"client"},
    "dashboard": {"client", "client_config"},
    "serving": {"store", "forecast", "risk", "monitoring", "alerting"},
    "training": {"store", "forecast", "risk", "monitoring", "generator"},
    "api": {"serving", "store", "forecast", "risk"},
    "cli": {
        "api",
        "serving",
        "store",
        "forecast",
        "risk",
        "monitoring",
        "training",
        "generator",
        "client",
        "client_config",
        "forwarder",
        "adapters",
        "dashboard",
    },
}


def part_of(module: str) -> str:
    """The part a module belongs to: ``tftmon.serving.cycle`` -> ``serving``."""
    if module in FOUNDATION or module.startswith("tftmon.schemas."):
        return "foundation"
    return module.split(".")[1]


def module_name(path: Path, root: Path = SRC) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def tftmon_imports(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """(line, module) of every tftmon module ``path`` imports, relative imports resolved."""
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("tftmon")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "tftmon":  # from tftmon import x: x may be a module
                found += [(node.lineno, f"tftmon.{a.name}") for a in node.names]
            elif base.startswith("tftmon."):
                found.append((node.lineno, base))
    return found


def known_module(name: str, root: Path = SRC) -> str:
    """``name`` as a module: ``from tftmon import __version__`` imports the package."""
    candidate = root.parent / Path(*name.split("."))
    if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
        return name
    return name.rsplit(".", 1)[0]


def violations(root: Path = SRC) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path, root)
        mine = part_of(importer)
        if mine not in ALLOWED:
            found.append(f"{importer}: part '{mine}' has no row in ALLOWED")
            continue
        for line, imported in tftmon_imports(path, root):
            theirs = part_of(known_module(imported, root))
            if theirs in ("foundation", mine) or theirs in ALLOWED[mine]:
                continue
            found.append(f"{path.relative_to(root.parent)}:{line}: {mine} imports {imported}")
    return found


def test_no_lower_layer_imports_a_higher_one() -> None:
    assert violations() == []


def test_foundation_modules_import_only_the_foundation() -> None:
    paths = [SRC / f"{m.split('.')[1]}.py" for m in FOUNDATION - {"tftmon", "tftmon.schemas"}]
    for path in paths + sorted((SRC / "schemas").glob("*.py")):
        for line, imported in tftmon_imports(path):
            where = f"{path.relative_to(SRC)}:{line} imports {imported}"
            assert part_of(known_module(imported)) == "foundation", where


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself can fail: a store module importing serving is reported."""
    fake = tmp_path / "tftmon"
    (fake / "store").mkdir(parents=True)
    (fake / "serving").mkdir()
    for init in (fake / "__init__.py", fake / "store" / "__init__.py"):
        init.write_text("")
    (fake / "serving" / "__init__.py").write_text("")
    (fake / "store" / "bad.py").write_text("from tftmon.serving import cycle\n")
    assert violations(fake) == ["tftmon/store/bad.py:1: store imports tftmon.serving"]


@pytest.mark.parametrize(
    "path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC.parent))
)
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(SRC.parent)} has {lines} lines"
