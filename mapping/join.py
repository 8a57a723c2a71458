"""Many stored calendar objects as one VCALENDAR (an export or a feed).

RFC 5545 §3.4 allows one iCalendar object to hold many components, and
§3.6.5 wants each VTIMEZONE a component uses defined in the same object; a
file with one VTIMEZONE per event is refused or misread by some readers
(two definitions of one TZID). So the objects' top-level components are
lifted out and each VTIMEZONE kept once, by TZID (the first definition
wins: the server renders a zone the same way every time, and a client's
own definition of a TZID is the only one a calendar it exports holds).

The objects are the store's own texts, already valid. Parsing each with
icalendar to copy it would cost far more than the export is worth (see
``tests/server/test_export.py`` for the numbers), so this is a linear scan
over the lines: the physical lines are copied as they are (folds and all),
and only a VTIMEZONE's TZID is unfolded to compare. The components of one
object stay together and in their order, so the overrides of a recurring
meeting (RECURRENCE-ID) follow their master.
"""

from __future__ import annotations

from collections.abc import Iterable

from icalendar.prop import vText

from mapping.names import PRODID
from mapping.serialize import fold

__all__ = ["Joiner", "join"]


class Joiner:
    """Collects objects' components; :meth:`text` writes the one VCALENDAR."""

    def __init__(self) -> None:
        self.zones: dict[str, list[str]] = {}
        self.lines: list[str] = []
        self.components = 0
        """Top-level components other than VTIMEZONE (events, to-dos, overrides)."""

    def add(self, text: str) -> None:
        """Lift the top-level components out of one VCALENDAR object's text."""
        depth = 0
        block: list[str] = []
        kind = ""
        for line in text.replace("\r\n", "\n").split("\n"):
            if not line:
                continue
            head = line[:6].upper()
            if head == "BEGIN:":
                depth += 1
                if depth == 2:
                    kind = line[6:].strip().upper()
                    block = []
            elif head[:4] == "END:":
                depth -= 1
                if depth == 1:
                    block.append(line)
                    self._take(kind, block)
                    continue
            if depth >= 2:
                block.append(line)

    def _take(self, kind: str, block: list[str]) -> None:
        if kind == "VTIMEZONE":
            tzid = _tzid(block)
            if tzid not in self.zones:
                self.zones[tzid] = block
            return
        self.components += 1
        self.lines += block

    def text(self, name: str | None = None) -> str:
        """The VCALENDAR: our PRODID, ``X-WR-CALNAME`` when ``name`` is
        given (the name Apple Calendar, Thunderbird and Google show for a
        subscription), the VTIMEZONEs, then the components; CRLF line ends."""
        head = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
        if name:
            head.append(fold("X-WR-CALNAME:" + vText(name).to_ical().decode("utf-8")))
        body = [line for zone in self.zones.values() for line in zone] + self.lines
        return "\r\n".join(head + body + ["END:VCALENDAR"]) + "\r\n"


def _tzid(block: list[str]) -> str:
    """The TZID of a VTIMEZONE's lines, unfolded (RFC 5545 §3.1: a fold is
    CRLF and one space or tab), from the zone's own properties only."""
    depth = 0
    for i, line in enumerate(block[1:], start=1):
        head = line[:6].upper()
        if head == "BEGIN:":
            depth += 1
        elif head[:4] == "END:":
            depth -= 1
        elif depth == 0 and line[:4].upper() == "TZID" and line[4:5] in (":", ";"):
            value = line
            for more in block[i + 1:]:
                if more[:1] not in (" ", "\t"):
                    break
                value += more[1:]
            return value.split(":", 1)[1] if ":" in value else ""
    return ""


def join(texts: Iterable[str], name: str | None = None) -> str:
    """One VCALENDAR of the objects ``texts`` (see the module)."""
    joiner = Joiner()
    for text in texts:
        joiner.add(text)
    return joiner.text(name)
