"""Follow-up <-> iCalendar: pure functions, no database, no HTTP, no I/O.

The contract is shared/spec/calendar-mapping.md; decisions where it is
silent are in docs/calendar-mapping-decisions.md.
"""

from __future__ import annotations

from mapping.directory import Directory, MemoryDirectory
from mapping.errors import (
    InvalidCalendarData,
    InvalidRecurrence,
    LimitExceeded,
    NoOrManyUids,
    UnknownTimezone,
    UnsupportedComponent,
)
from mapping.limits import Limits
from mapping.limits import configure as configure_limits
from mapping.overlap import OverlapIndex, overlaps
from mapping.parse import to_followup
from mapping.privacy import mask, mask_text
from mapping.recurrence import Instance, expand
from mapping.render import render, render_text
from mapping.timerange import MAX_TS, MIN_TS, time_range
from mapping.validate import check_component, component_name, parse_calendar, uid_of

__all__ = [
    "MAX_TS",
    "MIN_TS",
    "Directory",
    "Instance",
    "InvalidCalendarData",
    "InvalidRecurrence",
    "LimitExceeded",
    "Limits",
    "MemoryDirectory",
    "NoOrManyUids",
    "OverlapIndex",
    "UnknownTimezone",
    "UnsupportedComponent",
    "check_component",
    "component_name",
    "configure_limits",
    "expand",
    "mask",
    "mask_text",
    "overlaps",
    "parse_calendar",
    "render",
    "render_text",
    "time_range",
    "to_followup",
    "uid_of",
]
