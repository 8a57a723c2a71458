"""mapping/ is pure: no database, HTTP, Radicale, logging or server code (house style)."""

from __future__ import annotations

import ast
from pathlib import Path

MAPPING = Path(__file__).resolve().parents[2] / "mapping"
FORBIDDEN = ("sqlalchemy", "radicale", "http", "urllib", "requests", "socket", "logging", "server", "plugins",
             "store.db", "psycopg", "alembic")
PURE_STORE = ("store.domain", "store.errors", "store.localtime", "store.moments")
"""The store modules without persistence in them; store.localtime holds the moment arithmetic the
domain uses (daylight-saving aware), store.moments holds FLOATING_SLACK, defined once."""


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_mapping_imports_nothing_impure() -> None:
    files = sorted(MAPPING.glob("*.py"))
    assert files
    for path in files:
        for name in imported(path):
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN), f"{path.name}: {name}"
            assert not name.startswith("store.") or name in PURE_STORE, f"{path.name}: {name}"


def test_modules_stay_small() -> None:
    for path in MAPPING.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, path.name


def private_imports(path: Path) -> list[str]:
    """``from mapping.x import _y`` (also relative, also inside a function): a mapping module's private name."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 0 and module != "mapping" and not module.startswith("mapping."):
            continue
        found += [f"{path.name}:{node.lineno}: {alias.name}" for alias in node.names if alias.name.startswith("_")]
    return found


def test_mapping_modules_import_no_private_names_of_each_other() -> None:
    """A name with a leading underscore belongs to its module; another module needing it means it is public."""
    offenders = [hit for path in sorted(MAPPING.glob("*.py")) for hit in private_imports(path)]
    assert not offenders
