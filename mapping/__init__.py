"""Follow-up <-> iCalendar: pure functions, no database, no HTTP, no I/O.

The contract is shared/spec/calendar-mapping.md; decisions where it is
silent are in docs/calendar-mapping-decisions.md.
"""

from __future__ import annotations

from mapping.addresses import attendee_addresses
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
from mapping.patch import correct as patch_correct
from mapping.patch import differs as rendering_differs
from mapping.patch import patch
from mapping.privacy import mask, mask_text
from mapping.recurrence import Instance, Prepared, SeriesCache, expand
from mapping.render import render, render_text
from mapping.serialize import bound_lines
from mapping.timerange import MAX_TS, MIN_TS, exact_of, time_range
from mapping.timezones import bound_library_zones
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
    "Prepared",
    "SeriesCache",
    "UnknownTimezone",
    "UnsupportedComponent",
    "attendee_addresses",
    "bound_library_zones",
    "bound_lines",
    "check_component",
    "component_name",
    "configure_limits",
    "exact_of",
    "expand",
    "mask",
    "mask_text",
    "overlaps",
    "parse_calendar",
    "patch",
    "patch_correct",
    "render",
    "render_text",
    "rendering_differs",
    "time_range",
    "to_followup",
    "uid_of",
]
