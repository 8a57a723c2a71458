"""What the storage plugin learned about the current request, for the WSGI
layer to put into the answer: a WSGI request runs in one thread from start to
end, so a thread-local carries it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class RequestState:
    error: tuple[str, str] | None = None
    """(kind, message): why a write was refused; kind names a precondition
    (``supported-calendar-component``, ``no-uid-conflict``) or is "text"."""
    rewritten: bool = False
    """The stored object differs from the PUT body."""
    body: bytes | None = None
    calendar: Any = None
    """``body`` as ``mapping.parse_calendar`` parsed it."""


_local = threading.local()


def state() -> RequestState:
    current = getattr(_local, "state", None)
    if current is None:
        current = _local.state = RequestState()
    return current  # type: ignore[no-any-return]


def reset() -> None:
    _local.state = RequestState()
