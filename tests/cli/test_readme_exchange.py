"""The README's section "Your page, subscriptions, export and import", run as a
new admin would: every ``followups`` line of its shell blocks, in order, on a
demo store, each exiting 0 and doing what its comment says."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import icalendar

from tests.cli.clirun import ROOT, ok

SECTION = "## Your page, subscriptions, export and import"
FIXTURE = ROOT / "tests" / "data" / "import" / "outlook_export.ics"


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("followups "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_readme_section_runs_as_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    ok(url, "demo")
    shutil.copy(FIXTURE, tmp_path / "calendar.ics")
    commands = readme_commands()
    assert len(commands) >= 10, commands
    ran = set()
    for args in commands:
        args = [str(tmp_path / a) if a.endswith(".ics") else a for a in args]
        result = ok(url, *args)
        verb = args[args.index("feed") + 1] if "feed" in args else next(a for a in args if not a.startswith("-")
                                                                          and "://" not in a)
        ran.add(verb)
        if verb == "create":
            assert "/feeds/" in result.out
        if verb == "list":
            assert "/feeds/" not in result.out  # never a URL
        if verb == "revoke":
            assert "404" in result.err + result.out
    assert {"create", "list", "revoke", "export", "import"} <= ran
    nordlys = icalendar.Calendar.from_ical((tmp_path / "nordlys.ics").read_text(encoding="utf-8"))
    assert nordlys.walk("VEVENT") or nordlys.walk("VTODO")
    assert (tmp_path / "anna.ics").read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
