"""The compact VTIMEZONEs give the same UTC offsets as zoneinfo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from mapping.vtimezone import vtimezone_text

ZONES = ["Europe/Oslo", "Europe/London", "America/New_York", "America/Los_Angeles", "Australia/Sydney",
         "Asia/Tokyo", "Asia/Kolkata", "UTC", "America/Sao_Paulo", "Africa/Casablanca", "Pacific/Auckland"]


def first_year(text: str) -> int:
    return min(int(line[8:12]) for line in text.splitlines() if line.startswith("DTSTART:"))


@pytest.mark.parametrize("tzid", ZONES)
def test_offsets_match_zoneinfo(tzid: str) -> None:
    text = vtimezone_text(tzid)
    cal = Calendar.from_ical("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + text + "END:VCALENDAR\r\n")
    tz = cal.walk("VTIMEZONE")[0].to_tz()
    zone = ZoneInfo(tzid)
    instant = datetime(max(first_year(text) + 1, 1971), 1, 1, tzinfo=UTC)
    while instant.year < 2037:
        assert instant.astimezone(tz).utcoffset() == instant.astimezone(zone).utcoffset(), (tzid, instant)
        instant += timedelta(days=5, hours=7)


@pytest.mark.parametrize("tzid", ["Europe/Oslo", "America/New_York", "Asia/Tokyo"])
def test_regular_zones_are_compact_and_vobject_reads_them(tzid: str) -> None:
    text = vtimezone_text(tzid)
    assert "RDATE" not in text and len(text) < 400
    parsed = vobject.readOne("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + text + "END:VCALENDAR\r\n")
    assert parsed.vtimezone.tzid.value == tzid
