"""Exceptions of the mapping layer: bad calendar data, with no HTTP in them.

The plugin layer turns them into Radicale's answers (400, 403 with the
``CALDAV:supported-calendar-component`` precondition, ...), ``raise ... from``.
All are ``ValueError``\\s, like icalendar's own ``InvalidCalendar``.
"""

from __future__ import annotations


class InvalidCalendarData(ValueError):
    """A body that is not acceptable iCalendar; the message names the problem."""


class NoOrManyUids(InvalidCalendarData):
    """A calendar object resource holds exactly one UID (RFC 4791 §4.1)."""


class UnsupportedComponent(InvalidCalendarData):
    """A component the collection does not take (RFC 4791 §5.3.2.1), or one the CRM never stores."""

    def __init__(self, component: str, message: str | None = None) -> None:
        super().__init__(message or f"component {component} is not supported here")
        self.component = component


class UnknownTimezone(InvalidCalendarData):
    """A TZID that is neither IANA, a Windows zone name, nor defined in the body (RFC 5545 §3.2.19)."""

    def __init__(self, tzid: str) -> None:
        super().__init__(
            f"unknown time zone {tzid!r}: use an IANA name such as Europe/Oslo or include its VTIMEZONE"
        )
        self.tzid = tzid


class LimitExceeded(InvalidCalendarData):
    """A body or a recurrence larger than a configured limit; the message names the limit and its setting."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(f"{message} ({setting})")
        self.setting = setting


class InvalidRecurrence(InvalidCalendarData):
    """An RRULE outside RFC 5545 §3.3.10 (a part out of range, a negative INTERVAL) or one we cannot expand."""
