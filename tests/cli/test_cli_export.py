"""``followups export`` as a user runs it: a file icalendar and vobject both
read, holding exactly the record's follow-ups (or the user's), private ones
masked unless ``--as`` may see them, ``--to`` counted as people count it, a
file replaced in one step, and one-line errors. What a selection holds in
detail is tested on the service, in tests/server/test_export.py."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
import vobject
from icalendar import Calendar

from server.cli.common import Progress
from server.cli.exporting import LONG, _throttled
from tests.cli.clirun import Result, ok, run_batch

SECRET = "the secret plan"
SETUP: list[list[str]] = [
    ["init"],
    ["user", "add", "anna", "--name", "Anna Berg", "--email", "anna@example.com", "--tz", "Europe/Oslo"],
    ["user", "add", "bjorn", "--name", "Bjørn Dahl", "--email", "bjorn@example.com", "--tz", "America/New_York"],
    ["user", "add", "carla", "--name", "Carla Diaz", "--email", "carla@example.com"],
    ["company", "add", "Acme AS"],                                                           # 1
    ["company", "add", "Other AS"],                                                          # 2
    ["add", "meeting", "--owner", "anna", "--title", "Kickoff", "--company", "1",            # 1
     "--start", "2026-03-03T10:00", "--participant", "bjorn", "--alarm", "15"],
    ["add", "meeting", "--owner", "anna", "--title", "Takeover", "--company", "Acme AS",     # 2
     "--start", "2026-03-04T09:00", "--private", "--agenda", SECRET],
    ["add", "todo", "--owner", "bjorn", "--title", "Send offer", "--company", "1",           # 3
     "--deadline", "2026-03-31T12:00"],
    ["add", "call", "--owner", "anna", "--title", "Call Acme", "--company", "1",             # 4
     "--deadline", "2026-04-01T12:00"],
    ["add", "todo", "--owner", "anna", "--title", "Other's to-do", "--company", "2",         # 5
     "--deadline", "2026-03-04"],
]


@pytest.fixture(scope="module")
def url(module_url: str) -> str:
    results = run_batch(module_url, [(c, "") for c in SETUP])
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results if r.code]
    return module_url


def batch(url: str, *commands: list[str]) -> list[Result]:
    return run_batch(url, [(c, "") for c in commands])


def parse(text: str) -> Calendar:
    """The export as icalendar reads it, after checking vobject reads the same UIDs."""
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    cal = Calendar.from_ical(text)
    [vcal] = list(vobject.readComponents(io.StringIO(text)))
    vuids = sorted(c.uid.value for c in vcal.getChildren() if c.name in ("VEVENT", "VTODO"))
    assert vuids == sorted(uids(cal))
    return cal


def uids(cal: Calendar) -> list[str]:
    return [str(c["UID"]) for c in cal.subcomponents if c.name in ("VEVENT", "VTODO")]


def component(cal: Calendar, uid: str) -> Any:
    [found] = [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO") and str(c["UID"]) == uid]
    return found


def test_export_company_holds_exactly_its_followups_with_private_ones_masked(url: str) -> None:
    results = batch(url, ["activities", "--company", "1", "--json"], *[["show", str(i), "--json"] for i in range(1, 6)],
                    ["export", "--company", "1"], ["export", "--company", "acme as"],
                    ["export", "--company", "1", "--as", "anna"])
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results if r.code]
    listed = {row["id"] for row in results[0].json()}
    uid_of = {data["id"]: data["uid"] for data in (r.json() for r in results[1:6])}
    by_id, by_name, as_anna = (r.out for r in results[6:])

    cal = parse(by_id)
    assert sorted(uids(cal)) == sorted(uid_of[i] for i in listed) == sorted(uid_of[i] for i in (1, 2, 3, 4))
    assert by_name == by_id, "a record by name or by id"
    assert ok(url, "export", "--company", "1").out == by_id, "the same bytes through a real stdout"
    assert [str(z["TZID"]) for z in cal.subcomponents if z.name == "VTIMEZONE"] == ["Europe/Oslo",
                                                                                   "America/New_York"]
    masked = component(cal, uid_of[2])
    assert str(masked["SUMMARY"]) == "Private" and SECRET not in by_id
    assert component(cal, uid_of[1]).subcomponents == [], "nobody's alarm in a neutral copy"

    mine = parse(as_anna)
    assert str(component(mine, uid_of[2])["SUMMARY"]) == "Takeover" and SECRET in str(
        component(mine, uid_of[2])["DESCRIPTION"])
    assert [a.name for a in component(mine, uid_of[1]).subcomponents] == ["VALARM"], "anna's own copy"


def test_export_a_user_to_a_file_with_a_summary_and_an_inclusive_to(url: str, tmp_path: Path) -> None:
    out = tmp_path / "anna.ics"
    out.write_text("an older export\n")
    results = batch(url, ["export", "--user", "anna", "-o", str(out), "--json"],
                    ["export", "--user", "anna", "--meetings"], ["export", "--user", "anna", "--tasks"],
                    ["export", "--user", "anna", "--from", "2026-03-03", "--to", "2026-03-03"],
                    ["export", "--user", "anna", "--as", "carla", "--meetings"],
                    ["show", "2", "--json"])
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results if r.code]
    summary = results[0].json()
    data = out.read_bytes()
    assert summary == {"file": str(out), "followups": 4, "components": 4, "bytes": len(data)}
    assert sorted(os.listdir(tmp_path)) == ["anna.ics"], "no temporary file left behind"
    everything = parse(data.decode("utf-8"))
    assert str(everything["X-WR-CALNAME"]) == "Anna Berg - Meetings and to-dos"
    meetings, tasks = parse(results[1].out), parse(results[2].out)
    assert {c.name for c in meetings.subcomponents if c.name != "VTIMEZONE"} == {"VEVENT"}
    assert {c.name for c in tasks.subcomponents if c.name != "VTIMEZONE"} == {"VTODO"}
    assert sorted(uids(meetings) + uids(tasks)) == sorted(uids(everything))
    one_day = parse(results[3].out)
    assert [str(c["SUMMARY"]) for c in one_day.subcomponents if c.name == "VEVENT"] == ["Kickoff"], \
        "--to names the last day, included; the 4 March meeting is outside"
    as_carla = parse(results[4].out)
    assert str(component(as_carla, results[5].json()["uid"])["SUMMARY"]) == "Private"


def test_export_errors_are_one_line_and_leave_the_old_file(url: str, tmp_path: Path) -> None:
    out = tmp_path / "kept.ics"
    out.write_text("an older export\n")
    cases = {
        ("export",): "name what to export",
        ("export", "--user", "nobody"): "no user 'nobody'",
        ("export", "--company", "99", "-o", str(out)): "no company with id 99",
        ("export", "--company", "Nope"): "no company called 'Nope'",
        ("export", "--company", "1", "--tasks"): "use them with --user",
        ("export", "--user", "anna", "--company", "1"): "not allowed with argument --user",
        ("export", "--user", "anna", "--from", "2026-03-05", "--to", "2026-03-01"): "--to 2026-03-01 is before",
        ("export", "--user", "anna", "--from", "March"): "'March' is not a date",
        ("export", "--user", "anna", "--json"): "give -o FILE too",
        ("export", "--user", "anna", "--as", "nobody"): "no user 'nobody'",
        ("export", "--user", "anna", "-o", str(tmp_path / "missing" / "x.ics")): "does not exist",
    }
    results = batch(url, *[list(args) for args in cases])
    for (args, expected), result in zip(cases.items(), results, strict=True):
        assert result.code == 2, (args, result.err)
        assert expected in result.error_line(), (args, result.err)
        assert result.out == ""
    assert out.read_text() == "an older export\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_export_on_a_terminal_draws_a_bar_about_a_hundred_times() -> None:
    for total, most in ((LONG - 1, 0), (5000, 100), (LONG + 1, 101)):
        screen = Terminal()
        bar = Progress("exporting", stream=screen)
        progress = _throttled(bar)
        for done in range(1, total + 1):
            progress(done, total)
        bar.finish()
        drawn = screen.getvalue().count("\r")
        assert drawn == most, (total, drawn)
        if most:
            assert screen.getvalue().endswith(f"{total}/{total}\n")
