"""One occurrence changed from the CRM's command line reaches clients' next sync as a
RECURRENCE-ID override in the same object (mapping spec, recurrence row); the series and
its other occurrences stay as they were."""

from __future__ import annotations

import re

from tests.cli.clirun import run_cli
from tests.server.caldav_support import LiveServer, sync_changes, unfold


def _events(text: str) -> list[list[str]]:
    """The VEVENTs of an object, each as its content lines."""
    events: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line == "BEGIN:VEVENT":
            current = []
        elif line == "END:VEVENT" and current is not None:
            events.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return events


def _value(event: list[str], name: str) -> str | None:
    found = [line for line in event if re.split("[;:]", line, maxsplit=1)[0] == name]
    return found[0] if found else None


def _cli(live: LiveServer, *args: str) -> str:
    result = run_cli(live.database, *args)
    assert result.code == 0, result.err
    return result.out.strip()


def _accept(live: LiveServer, login: str, href: str) -> None:
    mine = live.dav(login).get(href)
    lines = []
    for line in unfold(mine.text).splitlines():
        if line.startswith("ATTENDEE") and line.lower().endswith(f"mailto:{login}@example.com"):
            line = re.sub(r"PARTSTAT=[A-Z-]+", "PARTSTAT=ACCEPTED", line)
        lines.append(line)
    put = live.dav(login).put(href, "\r\n".join(lines) + "\r\n", If_Match=mine.headers["ETag"])
    assert put.status_code in (200, 204), put.text


def test_moving_one_occurrence_of_a_weekly_meeting_syncs_as_a_recurrence_id_override(live: LiveServer) -> None:
    id = _cli(live, "add", "meeting", "--owner", "anna", "--title", "Weekly", "--start", "2026-12-01T10:00",
              "--rrule", "FREQ=WEEKLY;COUNT=5", "--participant", "bjorn")
    anna_token, first = sync_changes(live, "anna", "")
    [(href, before)] = first.items()
    bjorn_token, his = sync_changes(live, "bjorn", "")
    [bjorn_href] = his
    _accept(live, "bjorn", bjorn_href)
    anna_token, accepted = sync_changes(live, "anna", anna_token)
    assert "PARTSTAT=ACCEPTED" in [line for line in accepted[href].splitlines() if "bjorn@example.com" in line][0]
    bjorn_token, _ = sync_changes(live, "bjorn", bjorn_token)
    [master_before] = _events(before)

    _cli(live, "update", id, "--occurrence", "2026-12-08", "--start", "2026-12-09T14:00", "--title", "Moved")

    anna_token, changed = sync_changes(live, "anna", anna_token)
    assert list(changed) == [href]
    master, override = _events(changed[href])
    assert _value(master, "RECURRENCE-ID") is None
    for name in ("UID", "DTSTART", "DTEND", "RRULE", "SUMMARY"):
        assert _value(master, name) == _value(master_before, name), name
    assert _value(master, "EXDATE") is None, "the other occurrences stay"
    assert _value(override, "UID") == _value(master, "UID")
    assert _value(override, "RECURRENCE-ID") == "RECURRENCE-ID;TZID=Europe/Oslo:20261208T100000"
    assert _value(override, "DTSTART") == "DTSTART;TZID=Europe/Oslo:20261209T140000"
    assert _value(override, "DTEND") == "DTEND;TZID=Europe/Oslo:20261209T150000"
    assert _value(override, "SUMMARY") == "SUMMARY:Moved"
    assert _value(master, "SEQUENCE") == _value(override, "SEQUENCE") == "SEQUENCE:1"
    for event in (master, override):
        [bjorn] = [line for line in event if line.startswith("ATTENDEE") and "bjorn@example.com" in line]
        assert "PARTSTAT=NEEDS-ACTION" in bjorn, "a moved occurrence asks the participants again"

    bjorn_token, his = sync_changes(live, "bjorn", bjorn_token)
    assert list(his) == [bjorn_href]
    assert [_value(e, "RECURRENCE-ID") for e in _events(his[bjorn_href])] == [
        None, "RECURRENCE-ID;TZID=Europe/Oslo:20261208T100000"]

    # cancel another, remove a third: the same object, one override more, one EXDATE
    _cli(live, "cancel", id, "--occurrence", "2026-12-15")
    _cli(live, "delete", id, "--occurrence", "2026-12-22")
    anna_token, changed = sync_changes(live, "anna", anna_token)
    master, *overrides = _events(changed[href])
    assert _value(master, "EXDATE") == "EXDATE;TZID=Europe/Oslo:20261222T100000"
    assert [(_value(o, "RECURRENCE-ID"), _value(o, "STATUS")) for o in overrides] == [
        ("RECURRENCE-ID;TZID=Europe/Oslo:20261208T100000", None),
        ("RECURRENCE-ID;TZID=Europe/Oslo:20261215T100000", "STATUS:CANCELLED"),
    ]
    assert _value(master, "STATUS") is None, "the meeting itself is not cancelled"
    assert sync_changes(live, "anna", anna_token)[1] == {}, "nothing more changes until something does"
