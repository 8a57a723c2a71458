"""mapping.serialize.to_text writes exactly what icalendar's to_ical(sorted=False) writes.

The store's texts and ETags come from it, so a difference of one byte would
change every ETag on upgrade: each case compares whole texts.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event, Todo
from icalendar.parser import Contentline
from icalendar.prop import vCalAddress, vText

from mapping.render import render_without_zones
from mapping.serialize import fold, to_text, used_tzids
from tests.mapping.mapping_support import DATA, make_directory
from tests.mapping.test_properties import followups

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
D = make_directory()

any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\n")
                   | st.sampled_from("\\^,;:\"'"), max_size=300)
ascii_lines = st.text(st.sampled_from("ab \\^,;:n"), max_size=400)


def icalendar_text(component: Any) -> str:
    return component.to_ical(sorted=False).decode("utf-8")  # type: ignore[no-any-return]


@given(ascii_lines)
@SETTINGS
def test_folding_matches_icalendar_on_escape_heavy_lines(line: str) -> None:
    assert fold(line) == Contentline(line).to_ical().decode("utf-8")


@given(any_text)
@SETTINGS
def test_folding_matches_icalendar_on_any_text(line: str) -> None:
    assert fold(line) == Contentline(line).to_ical().decode("utf-8")


@pytest.mark.parametrize("length", range(70, 80))
@pytest.mark.parametrize("tail", ["", "\\", "^", "\\n", "é"])
def test_folding_around_the_limit(length: int, tail: str) -> None:
    line = "X" * (length - len(tail)) + tail + "Y" * 80
    for cut in (length, length + 1, len(line)):
        assert fold(line[:cut]) == Contentline(line[:cut]).to_ical().decode("utf-8")


@given(any_text, any_text, any_text)
@SETTINGS
def test_components_with_parameters_and_escapes(summary: str, name: str, description: str) -> None:
    cal = Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//test//EN")
    event = Event()
    event.add("UID", "u-1")
    event.add("SUMMARY", summary)
    event.add("DESCRIPTION", vText(description), parameters={"LANGUAGE": "nb"})
    attendee = vCalAddress("mailto:someone@example.com")
    attendee.params["CN"] = name
    attendee.params["PARTSTAT"] = "ACCEPTED"
    event.add("ATTENDEE", attendee, encode=False)
    event.add("CATEGORIES", [summary or "x", "Meeting"])
    cal.add_component(event)
    cal.add_component(Todo(UID="t-1", SUMMARY=vText(summary)))
    assert to_text(cal) == icalendar_text(cal)


@given(followups())
@SETTINGS
def test_every_rendered_follow_up(f: Any) -> None:
    cal = render_without_zones(f, D)
    assert to_text(cal) == icalendar_text(cal)
    assert used_tzids(cal) == cal.get_used_tzids()


@pytest.mark.parametrize("path", sorted(DATA.glob("*.ics")), ids=lambda p: p.name)
def test_client_payloads(path: Any) -> None:
    cal = Calendar.from_ical(path.read_bytes())
    assert to_text(cal) == icalendar_text(cal)
    assert used_tzids(cal) == cal.get_used_tzids()


@pytest.mark.parametrize("summary", ["\ufeffStarts with a byte-order mark", "Ends with one\ufeff", "\ufeff"])
def test_a_value_with_a_byte_order_mark(summary: str) -> None:
    """icalendar decodes each value as utf-8-sig, so a leading U+FEFF is dropped; so must we be."""
    event = Event(UID="bom", SUMMARY=vText(summary))
    assert to_text(event) == icalendar_text(event)
