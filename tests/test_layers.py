"""The layers' dependencies point one way: plugins -> server -> mapping -> store.

Inside server/, one package per job: services/ (application layer, no HTTP),
dav/ (HTTP; with plugins/, the only code that imports Radicale), cli/. The
plugins are adapters over server/ alone, and nothing installed imports the
benchmark. A regression here is an architecture bug: e.g. the store learning
about iCalendar, the mapping doing I/O, or a plugin opening transactions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "store": {"mapping", "server", "plugins", "radicale", "icalendar", "vobject", "benchmarks"},
    "mapping": {"server", "plugins", "radicale", "sqlalchemy", "alembic", "psycopg", "http", "urllib",
                "socket", "logging", "requests", "wsgiref", "benchmarks"},
    "server": {"plugins", "benchmarks"},
    "plugins": {"store", "mapping", "sqlalchemy", "icalendar", "vobject", "benchmarks"},
}
RADICALE_ALLOWED = ("server/dav", "plugins")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FORBIDDEN[layer])
        for path in sorted((ROOT / layer).rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_only_dav_and_plugins_import_radicale() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for layer in ("store", "mapping", "server", "plugins")
        for path in sorted((ROOT / layer).rglob("*.py"))
        if "radicale" in imported_modules(path)
        and not str(path.relative_to(ROOT)).startswith(RADICALE_ALLOWED)
    ]
    assert offenders == []


def _full_imports(path: Path) -> set[str]:
    """Dotted module names imported by ``path`` (``from a.b import c`` gives a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_services_know_no_http_and_the_cli_no_dav() -> None:
    """The application layer is below HTTP and the CLI (``serve`` reaches
    server.dav only through a lazy import in its handler)."""
    offenders = {}
    for path in sorted((ROOT / "server" / "services").rglob("*.py")):
        bad = {m for m in _full_imports(path) if m.startswith(("server.dav", "server.cli", "radicale", "wsgiref"))}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_only_the_application_layer_opens_units_of_work() -> None:
    """Every transaction outside store/ goes through server.services.transaction,
    whose commit brings the calendars up to date; a bare UnitOfWork would skip it."""
    offenders = []
    for layer in ("server", "plugins", "benchmarks"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            if path.is_relative_to(ROOT / "server" / "services"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "UnitOfWork":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_benchmark_is_not_installed() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not any(pattern.startswith("bench") for pattern in included)
    assert (ROOT / "benchmarks" / "bench.py").exists()


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(ROOT)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
