"""What a viewer may see of a calendar object: the one rule, used by every read.

A private follow-up (CLASS:PRIVATE or CONFIDENTIAL) is shown in full only to
its owner and participants, and they see it in their own ``meetings`` and
``tasks``. Every other read (a resource's ``bookings``, a colleague's diary
read by a lead, a feed or export read by someone else) gets the busy block of
:func:`mapping.mask`: the same UID, times and recurrence, no words of its own.
Its ETag is that of the masked text, so a client caches exactly what it saw.

Even a participant reading the organizer's calendar (as a lead) sees the busy
block there: the full meeting is in their own calendar, and the rule stays
one comparison that needs no look-up.
"""

from __future__ import annotations

import mapping
from server.services.lru import Lru
from server.services.projection import USER_COLLECTIONS, etag_of
from store.domain import Followup, User

MASKED: Lru[str, tuple[str, str]] = Lru(10_000)
"""Busy blocks and their ETags by the stored object's ETag; bounded by ``mask_cache_entries``."""


def sees_in_full(viewer: str, principal: str, name: str) -> bool:
    """Whether ``viewer`` reads the private objects of ``/principal/name/`` in
    full: only in their own CRM calendars."""
    return bool(viewer) and viewer == principal and name in USER_COLLECTIONS


def followup_in_full(viewer: User, f: Followup) -> bool:
    """The same rule on the CRM's side (the Overview, exports): a private
    follow-up in full for its owner and participants only."""
    return (not f.private or f.owner_id == viewer.id
            or any(p.user_id is not None and p.user_id == viewer.id for p in f.participants))


def masked(text: str, etag: str) -> tuple[str, str]:
    """The busy block of a stored object and its ETag, made once per stored
    version (keyed by its ETag; bounded)."""
    hit = MASKED.get(etag)
    if hit is not None:
        return hit
    block = mapping.mask_text(mapping.parse_calendar(text))
    found = (block, etag_of(block))
    MASKED.put(etag, found)
    return found
