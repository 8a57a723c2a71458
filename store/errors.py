"""Exceptions of the store. No HTTP in them: the plugin layer translates."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class InvalidFollowup(StoreError, ValueError):
    """Input that breaks a domain rule; the message says which and how to fix it."""


class NotFound(StoreError, LookupError):
    """A record that does not exist (unknown id, login or name)."""


class Conflict(StoreError):
    """A write that clashes with existing data (a duplicate login, a UID in use)."""


class UidConflict(Conflict):
    def __init__(self, uid: str, href: str | None = None) -> None:
        super().__init__(f"UID {uid!r} is already used" + (f" by {href}" if href else ""))
        self.uid = uid
        self.href = href
