"""mapping/ is pure: no database, HTTP, Radicale, logging or server code (house style)."""

from __future__ import annotations

import ast
from pathlib import Path

MAPPING = Path(__file__).resolve().parents[2] / "mapping"
FORBIDDEN = ("sqlalchemy", "radicale", "http", "urllib", "requests", "socket", "logging", "server", "plugins",
             "store.db", "psycopg", "alembic")


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
            assert not name.startswith("store.") or name in ("store.domain", "store.errors"), f"{path.name}: {name}"


def test_modules_stay_small() -> None:
    for path in MAPPING.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, path.name
