"""The bounds of every process-wide cache, from the settings.

A server process lives for weeks; what it keeps between requests must not
grow with the data it has served. Each cache holds at most its setting's
number of entries (see docs/memory.md for what each costs and saves, and
for the small fixed-size caches that are not settings). The server and the
CLI call :func:`configure` once at start-up, as they configure the limits.
"""

from __future__ import annotations

import mapping
from server.config import Settings
from server.services import auth, calendars, export, feeds, freebusy, privacy


def configure(settings: Settings) -> None:
    """Bound each cache by its setting, dropping what is over the bound now."""
    auth.VERIFIED.resize(settings.login_cache_entries)
    auth.REFUSED.resize(settings.login_cache_entries)
    privacy.MASKED.resize(settings.mask_cache_entries)
    export.NEUTRAL.resize(settings.export_cache_entries)
    calendars.OVERLAPS.resize(settings.overlap_cache_entries)
    freebusy.SERIES.resize(settings.recurrence_cache_entries)
    feeds.BODIES.resize(settings.feed_cache_mb * 1024 * 1024)
    mapping.bound_library_zones(settings.timezone_cache_entries)
    mapping.bound_lines(settings.line_cache_entries)
