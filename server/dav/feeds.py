"""Subscription feeds over HTTP: ``GET /feeds/<token>.ics`` without a login.

Stub: filled in by the feeds work (issue 12)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

from server.config import Settings

StartResponse = Callable[..., Any]
PREFIX = "/feeds/"


def handles(path: str) -> bool:
    """Whether a request for ``path`` is a feed's (answered before any login)."""
    return path.startswith(PREFIX)


def handle(engine: Engine, settings: Settings, environ: dict[str, Any],
           start_response: StartResponse) -> Iterable[bytes]:
    body = b"Not Found\n"
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                     ("Content-Length", str(len(body)))])
    return [body]
