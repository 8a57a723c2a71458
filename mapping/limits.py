"""How much work one calendar object may cost: the limits, and a budget that expansions spend.

The values are settings (``server.config``: max_components, max_properties,
max_nesting, max_attendees, max_instances, max_expansion_ms); the server
calls :func:`configure` once at startup, and every parse and expansion reads
:func:`current`. The mapping stays pure: the budget's clock is the process's
monotonic clock, read to stop work, never to decide what a result is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from mapping.errors import InvalidCalendarData, LimitExceeded

INT32_MAX = 2**31 - 1
"""The largest value of the store's Integer columns (ids, minutes, SEQUENCE) on PostgreSQL."""

MAX_LENGTHS = {"UID": 255, "TZID": 255, "CN": 255, "ATTENDEE": 320}
"""Longest values the store keeps (``store.orm``: followups.uid String(255), participants.name
String(255), participants.email String(320)); a TZID longer than any zone name is refused too."""


def in_range(number: int, what: str) -> int:
    """``number`` when the store's Integer columns can hold it (ids, minutes, SEQUENCE), else a 400."""
    if abs(number) > INT32_MAX:
        raise InvalidCalendarData(f"{what} {number} is out of range: this server holds numbers up to {INT32_MAX}")
    return number


def check_length(what: str, text: str) -> None:
    """A 400 when ``text`` is longer than the store's column for ``what`` (:data:`MAX_LENGTHS`)."""
    longest = MAX_LENGTHS[what]
    if len(text) > longest:
        raise InvalidCalendarData(f"the {what} is {len(text)} characters long; this server keeps at most {longest}")


@dataclass(frozen=True)
class Limits:
    """The limits of one calendar object; field names are the settings' names."""

    max_components: int = 1000
    max_properties: int = 10000
    max_nesting: int = 8
    max_attendees: int = 1000
    max_instances: int = 10000
    max_expansion_ms: int = 250

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits from any object with attributes of the same names (``server.config.Settings``)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


_current = Limits()


def configure(limits: Limits) -> None:
    """Set the process's limits (once, at startup)."""
    global _current
    _current = limits


def current() -> Limits:
    return _current


class Budget:
    """What one expansion may spend: instances and elapsed milliseconds (max_instances, max_expansion_ms).

    ``spend()`` is called once per instance generated; it returns False, and ``exhausted`` tells
    which limit was hit, once either is used up.
    """

    __slots__ = ("deadline", "exhausted", "left")

    def __init__(self, instances: int | None = None, ms: int | None = None) -> None:
        limits = current()
        self.left = limits.max_instances if instances is None else instances
        self.deadline = time.monotonic() + (limits.max_expansion_ms if ms is None else ms) / 1000
        self.exhausted: str | None = None

    def spend(self) -> bool:
        if self.exhausted is not None:
            return False
        self.left -= 1
        if self.left < 0:
            self.exhausted = "max_instances"
        elif time.monotonic() > self.deadline:
            self.exhausted = "max_expansion_ms"
        return self.exhausted is None

    def refuse(self, what: str) -> LimitExceeded:
        """The error to raise where running out means the answer would be wrong (not merely shorter)."""
        limits = current()
        setting = self.exhausted or "max_instances"
        bound = f"{limits.max_instances} instances" if setting == "max_instances" \
            else f"{limits.max_expansion_ms} ms"
        return LimitExceeded(f"{what} takes more than {bound} to expand; this server stops there", setting)
