"""The application's errors. No HTTP in them: ``server.dav.errors`` holds the
one table that turns each (and the store's and the mapping's) into an answer.

The store's and the mapping's own errors are re-exported here, so the layers
above name every error the application raises from one module.
"""

from __future__ import annotations

from mapping.errors import InvalidCalendarData, NoOrManyUids, UnknownTimezone, UnsupportedComponent
from store.errors import Conflict, InvalidFollowup, NotFound, StoreError, UidConflict

__all__ = [
    "BodyTooLarge",
    "Conflict",
    "Forbidden",
    "InvalidCalendarData",
    "InvalidFollowup",
    "InvalidSyncToken",
    "NoOrManyUids",
    "NotFound",
    "PreconditionFailed",
    "StoreError",
    "UidConflict",
    "UnknownTimezone",
    "UnsupportedComponent",
]


class Forbidden(StoreError):
    """A write the collection does not take (read-only, or not the user's)."""


class PreconditionFailed(StoreError):
    """An If-Match or If-None-Match that does not hold (RFC 9110 13.1)."""


def check_preconditions(etag: str | None, if_match: str, if_none_match: bool) -> None:
    """A write's If-Match / If-None-Match: * (RFC 9110 13.1.1, 13.1.2) against the
    target's current ``etag`` (None: no object there)."""
    if etag is None and if_match:
        raise PreconditionFailed("the object does not exist (If-Match)")
    if etag is not None and if_match and if_match not in ("*", etag):
        raise PreconditionFailed("the object has changed (If-Match)")
    if etag is not None and if_none_match:
        raise PreconditionFailed("the object exists (If-None-Match: *)")


class InvalidSyncToken(StoreError, ValueError):
    """A sync token this collection cannot answer (RFC 6578 3.2): another
    store's or collection's, from the future, or older than the removals the
    collection still remembers. The client syncs afresh."""


class BodyTooLarge(StoreError):
    """A request body over the configured maximum."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the body has {size} bytes; this server takes at most {limit}")
        self.size = size
        self.limit = limit
