"""mapping.patch: a CRM change written into a client's own text, nothing else touched.

Hypothesis properties over the follow-ups of test_properties: nothing to
patch changes nothing; patching the rendering itself gives the new rendering;
a client's own lines and forms (line ends, folding, DURATION, lines of its
own) survive; the patched text maps to the CRM's new state; a change of
DTSTAMP/LAST-MODIFIED alone patches nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping import parse_calendar, patch, render_text, rendering_differs, to_followup
from mapping.patch import parse_lines
from store.domain import Followup, Kind
from tests.mapping.test_properties import OWNER, D, followups, titles

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STAMPED = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
CLIENT_LINE = ("X-PHONE-NOTE;Y-SECOND=b;X-FIRST=a:" + "kept as the phone folded it " * 4).strip()


def _render(f: Followup) -> str:
    return render_text(f, D, organizer_copy=True)


def _stamped(f: Followup, minutes: int = 0) -> Followup:
    return replace(f, created_at=STAMPED, modified_at=STAMPED + timedelta(minutes=minutes))


def _folded(line: str) -> list[str]:
    """Folded at odd points, as no renderer of ours does."""
    return [line[:20]] + [" " + line[i:i + 31] for i in range(20, len(line), 31)]


def client_form(text: str) -> str:
    """``text`` as a client writes it: LF line ends, a folded line of its own in each component,
    and an event's length as DURATION where the rendering has DTEND."""
    out: list[str] = []
    for line in parse_lines(text):
        name = line.split(":", 1)[0].split(";", 1)[0]
        if line in ("END:VEVENT", "END:VTODO"):
            out += _folded(CLIENT_LINE)
        if name == "DTEND" and out and any(o.startswith("DTSTART") for o in out[-12:]) and "TZID" not in line \
                and "VALUE=DATE" not in line:
            start = next(o for o in reversed(out) if o.startswith("DTSTART"))
            if start.endswith("Z") and line.endswith("Z"):
                a = datetime.strptime(start.rsplit(":", 1)[1], "%Y%m%dT%H%M%SZ")
                b = datetime.strptime(line.rsplit(":", 1)[1], "%Y%m%dT%H%M%SZ")
                out.append(f"DURATION:PT{int((b - a).total_seconds())}S")
                continue
        out.append(line)
    return "\n".join(out) + "\n"


changes = st.sampled_from(["title", "move", "longer", "type", "alarm", "private", "location", "nothing"])


def changed(f: Followup, what: str, title: str) -> Followup:
    g = f.copy()
    if what == "title":
        g.title = title
    elif what == "move" and g.start is not None and g.kind is Kind.MEETING:
        g.start, g.end = g.start + timedelta(days=1), (g.end + timedelta(days=1) if g.end is not None else None)
    elif what == "longer" and g.end is not None and g.kind is Kind.MEETING:
        g.end = g.end + timedelta(days=1)
    elif what == "type":
        g.type_id = next(t.id for t in D.types() if t.kind is f.kind and t.id != f.type_id) \
            if sum(t.kind is f.kind for t in D.types()) > 1 else f.type_id
    elif what == "alarm":
        g.alarm_minutes = None if f.alarm_minutes else 15
    elif what == "private":
        g.private = not f.private
    elif what == "location":
        g.location = "Aker Brygge"
    return _stamped(g, minutes=5)


@SETTINGS
@given(followups())
def test_nothing_to_patch_changes_nothing(f: Followup) -> None:
    base = _render(_stamped(f))
    client = client_form(base)
    assert patch(client, base, base) == client


@SETTINGS
@given(followups(), changes, titles)
def test_patching_the_rendering_itself_gives_the_new_rendering(f: Followup, what: str, title: str) -> None:
    base, new = _render(_stamped(f)), _render(changed(_stamped(f), what, title))
    want = new if rendering_differs(base, new) else base  # a new DTSTAMP alone is no change
    assert sorted(parse_lines(patch(base, base, new))) == sorted(parse_lines(want))


@SETTINGS
@given(followups())
def test_a_new_dtstamp_alone_patches_nothing(f: Followup) -> None:
    base, new = _render(_stamped(f)), _render(_stamped(f, minutes=30))
    client = client_form(base)
    assert patch(client, base, new) is client


def mapped(f: Followup) -> tuple[Any, ...]:
    return (f.title, f.start, f.end, f.deadline, f.location, f.private, f.type_id, f.alarm_minutes, f.recurrence,
            f.busy, f.cancelled, f.priority)


@SETTINGS
@given(followups(), changes, titles)
def test_the_clients_own_forms_survive_and_the_patched_text_maps_to_the_crm_state(f: Followup, what: str,
                                                                                  title: str) -> None:
    before = _stamped(f)
    base = _render(before)
    client = client_form(base)
    assert mapped(to_followup(parse_calendar(client), OWNER, D)) == mapped(to_followup(parse_calendar(base), OWNER,
                                                                                       D))
    after = changed(before, what, title)
    out = patch(client, base, _render(after))
    assert "\r" not in out, "the client's line ends stay"
    for line in _folded(CLIENT_LINE):
        assert line + "\n" in out or out.endswith(line), "the client's own line, folded as it was, stays"
    if "DURATION:" in client and f.kind is Kind.MEETING:
        assert "\nDTEND" not in out, "a client that gives DURATION keeps DURATION"
    if what in ("title", "location") and f.kind is Kind.MEETING:
        kept = [line for line in client.split("\n") if line.startswith(("DURATION", "DTSTART", "X-PHONE"))]
        assert all(line in out.split("\n") for line in kept)
    got = to_followup(parse_calendar(out), OWNER, D)
    assert mapped(got) == mapped(to_followup(parse_calendar(_render(after)), OWNER, D))
    assert "CREATED" not in {line.split(":", 1)[0] for line in parse_lines(out)} - {
        line.split(":", 1)[0] for line in parse_lines(client)}, "CREATED is never added"


ZONED_BASE = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VTIMEZONE
TZID:{zone}
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:z-1
DTSTAMP:20261120T080000Z
DTSTART;TZID={zone}:20261201T100000
DTEND;TZID={zone}:20261201T104500
SUMMARY:{title}
END:VEVENT
END:VCALENDAR
"""
ZONED_CLIENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:z-1\r\nDTSTAMP:20261120T080000Z\r\n"
                "DTSTART;TZID=Europe/Oslo:20261201T100000\r\nDURATION:PT45M\r\nSUMMARY:Plain\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_zone_the_client_named_without_a_vtimezone_stays_so() -> None:
    base = ZONED_BASE.format(zone="Europe/Oslo", title="Plain")
    new = ZONED_BASE.format(zone="Europe/Oslo", title="Renamed")
    patched = patch(ZONED_CLIENT, base, new)
    assert "SUMMARY:Renamed" in patched and "DURATION:PT45M" in patched
    assert "VTIMEZONE" not in patched and "DTEND" not in patched


def test_a_zone_the_crm_brings_in_comes_with_its_vtimezone() -> None:
    base = ZONED_BASE.format(zone="Europe/Oslo", title="Plain")
    new = ZONED_BASE.format(zone="America/New_York", title="Plain")
    patched = patch(ZONED_CLIENT, base, new)
    assert "DTSTART;TZID=America/New_York:20261201T100000" in patched
    assert "BEGIN:VTIMEZONE\r\nTZID:America/New_York" in patched
