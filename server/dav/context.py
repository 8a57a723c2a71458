"""What the storage plugin learned about the current request, for the WSGI
layer to put into the answer. Radicale's plugin API gives the plugin no way
to shape the response, and a WSGI request runs in one thread from start to
end, so a thread-local carries it: the application error that refused a
write (answered through ``server.dav.errors``), and whether a stored object
differs from what the client sent (then the PUT answer has no ETag, RFC 4791
5.3.4). Nothing else passes this way."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class RequestOutcome:
    error: BaseException | None = None
    rewritten: bool = False


_local = threading.local()


def outcome() -> RequestOutcome:
    current = getattr(_local, "outcome", None)
    if current is None:
        current = _local.outcome = RequestOutcome()
    return current  # type: ignore[no-any-return]


def reset() -> None:
    _local.outcome = RequestOutcome()
