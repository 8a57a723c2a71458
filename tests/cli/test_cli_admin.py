"""What an administrator meets first: the version, and a store file that
only its owner can read (it holds password hashes and every follow-up)."""

from __future__ import annotations

import stat
from importlib.metadata import version
from pathlib import Path

from tests.cli.clirun import ok, run_python


def test_version() -> None:
    result = run_python("import sys\nfrom server.cli.main import main\nsys.exit(main(['--version']))\n")
    assert result.code == 0, result.err
    assert result.out.strip() == f"followups {version('followup-caldav')}"


def test_a_new_sqlite_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "followups.db"
    ok(f"sqlite:///{path}", "init")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_store_file_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    path = tmp_path / "followups.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    ok(f"sqlite:///{path}", "init")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
